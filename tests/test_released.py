"""The authors' released SVHN model imported from ../shared/data/released, checked against an
independent layer-by-layer reference built from the raw arrays."""

import json
import shutil

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F

from dcgan import checkpoint, cli, data, nets, released
from dcgan.errors import UserError

from .conftest import argv

SVHN = "svhn_unsup_all_conv_dcgan_100z_gaussian_lr_0.0005_64mb"
IMAGENET = "imagenet_gan_pretrain_128f_relu_lrelu_7l_3x3_256z"


@pytest.fixture(scope="module")
def svhn_dir(shared_data):
    return shared_data / "released" / SVHN


@pytest.fixture(scope="module")
def arrays(svhn_dir):
    def load(part, n):
        return [
            np.load(svhn_dir / f"200_{part}_params.jl_{i:02d}.npy", allow_pickle=False)
            for i in range(1, n + 1)
        ]

    return {"gen": load("gen", 10), "discrim": load("discrim", 8)}


@pytest.fixture(scope="module")
def imported(svhn_dir, tmp_path_factory):
    path, _ = released.import_to(svhn_dir, tmp_path_factory.mktemp("ckpt") / "svhn.pt")
    return path


def test_every_released_array_is_in_the_checkpoint(imported, arrays):
    state = torch.load(imported, weights_only=True)
    assert (
        state["variant"]["name"] == "svhn32"
        and state["bn_stats"] == "none"
        and state["step"] == 200
    )
    for part, key in (("discrim", "netD"), ("gen", "netG")):
        params = [
            t
            for name, t in state[key].items()
            if not name.endswith(("running_mean", "running_var", "num_batches_tracked"))
        ]
        assert len(params) == len(arrays[part])
        for ours, theirs in zip(params, arrays[part], strict=True):
            theirs = torch.from_numpy(theirs)
            if theirs.dim() == 4:
                theirs = theirs.flip(-2, -1)  # kernels spatially flipped
            elif theirs.dim() == 2:
                theirs = theirs.t()
            assert torch.equal(ours, theirs)
    assert len(state["released"]["sha256"]) == 18


def true_conv(x, w, stride, pad):
    """Theano's dnn_conv(conv_mode='conv'): a true convolution, i.e. cross-correlation with
    the flipped kernel (test_true_conv_is_scipys_convolution checks this against scipy)."""
    return F.conv2d(x, torch.from_numpy(w).flip(-2, -1), stride=stride, padding=pad)


def deconv(x, w, stride, pad):
    """Theano's deconv: the gradient of true_conv with respect to its input, of size stride x
    the input."""
    n, _, h, wd = x.shape
    y = torch.zeros(n, w.shape[1], h * stride, wd * stride, requires_grad=True)
    (g,) = torch.autograd.grad(true_conv(y, w, stride, pad), y, grad_outputs=x)
    return g


def bn(x, g, b, eps=1e-8):
    axes = (0, 2, 3) if x.dim() == 4 else (0,)
    shape = (1, -1, 1, 1) if x.dim() == 4 else (1, -1)
    mean = x.mean(axes, keepdim=True)
    var = ((x - mean) ** 2).mean(axes, keepdim=True)  # biased
    return (x - mean) / torch.sqrt(var + eps) * torch.from_numpy(g).view(shape) + torch.from_numpy(
        b
    ).view(shape)


def test_true_conv_is_scipys_convolution(arrays):
    x = np.random.default_rng(0).standard_normal((3, 32, 32)).astype(np.float32)
    w = arrays["discrim"][0]  # (64, 3, 5, 5)
    ours = true_conv(torch.from_numpy(x)[None], w, 2, 2)[0]
    for o in (0, 17, 63):
        ref = sum(scipy.signal.convolve2d(x[c], w[o, c], mode="same") for c in range(3))[::2, ::2]
        assert np.allclose(ours[o].numpy(), ref, atol=1e-4)


def test_generator_matches_layer_by_layer_reference(imported, arrays):
    w, g, b, w2, g2, b2, w3, g3, b3, wx = arrays["gen"]
    z = torch.randn(64, 100, generator=torch.Generator().manual_seed(0))
    h = F.relu(bn(z @ torch.from_numpy(w), g, b)).reshape(64, 256, 4, 4)
    h = F.relu(bn(deconv(h, w2, 2, 2), g2, b2))
    h = F.relu(bn(deconv(h, w3, 2, 2), g3, b3))
    ref = torch.tanh(deconv(h, wx, 2, 2))
    _, netG, _, _ = checkpoint.load_models(imported)
    ours = nets.generate(netG, z, "batch")
    assert ours.shape == ref.shape == (64, 3, 32, 32)
    assert torch.allclose(ours, ref, atol=1e-4), (ours - ref).abs().max()


def _test_images(root) -> torch.Tensor:
    """The first 64 CIFAR-10 test images as D's input: NCHW in [-1, 1]."""
    x = torch.from_numpy(data.load("cifar10", "test", root).x[:64])
    return x.permute(0, 3, 1, 2).float() / 127.5 - 1


def test_discriminator_matches_layer_by_layer_reference(imported, arrays, shared_data):
    w, w2, g2, b2, w3, g3, b3, wy = arrays["discrim"]
    x = _test_images(shared_data)
    h1 = F.leaky_relu(true_conv(x, w, 2, 2), 0.2)
    h2 = F.leaky_relu(bn(true_conv(h1, w2, 2, 2), g2, b2), 0.2)
    h3 = F.leaky_relu(bn(true_conv(h2, w3, 2, 2), g3, b3), 0.2)
    logit = h3.flatten(1) @ torch.from_numpy(wy)
    _, _, netD, _ = checkpoint.load_models(imported)
    netD.train()  # batch statistics, as the released code ran D
    with torch.no_grad():
        feats = netD.features(x)
        ours = netD(x)
    for name, ref in zip(("conv1", "conv2", "conv3"), (h1, h2, h3), strict=True):
        assert torch.allclose(feats[name], ref, atol=1e-4), name
    assert torch.allclose(ours, logit.view(-1), atol=1e-3)


def test_discriminator_scores_noise_far_below_photographs(imported, shared_data):
    _, _, netD, _ = checkpoint.load_models(imported)
    netD.train()
    photos = (
        torch.from_numpy(data.load("cifar10", "test", shared_data).x[::79][:128])
        .permute(0, 3, 1, 2)
        .float()
        / 127.5
        - 1
    )
    noise = torch.rand(128, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        real_logit, noise_logit = netD(photos).mean().item(), netD(noise).mean().item()
    # seen here: about -4.4 for CIFAR-10 photographs and -18 for uniform noise
    assert noise_logit < real_logit - 8, (real_logit, noise_logit)


def test_cli_import_and_deterministic_samples(svhn_dir, tmp_path, capsys):
    assert (
        cli.main(["import-released", str(svhn_dir), "--out", str(tmp_path / "svhn.pt"), "--json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["variant"] == "svhn32" and out["bn_stats"] == "none"
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        assert (
            cli.main(
                argv(
                    "sample --ckpt {} --n 16 --seed {} --out {} --json",
                    tmp_path / "svhn.pt",
                    seed,
                    tmp_path / f"{name}.png",
                )
            )
            == 0
        )
        assert json.loads(capsys.readouterr().out)["bn_stats"] == "batch"
    from PIL import Image

    a, b, c = (np.asarray(Image.open(tmp_path / f"{n}.png")) for n in "abc")
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # never overwrites
    assert cli.main(["import-released", str(svhn_dir), "--out", str(tmp_path / "svhn.pt")]) == 1
    assert "pass --force" in capsys.readouterr().err


def test_incomplete_imagenet_folder_is_rejected_naming_the_missing_shards(
    shared_data, tmp_path, capsys
):
    code = cli.main(
        [
            "import-released",
            str(shared_data / "released" / IMAGENET),
            "--out",
            str(tmp_path / "in32.pt"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "incomplete for imagenet32" in err
    for name in (
        "30_discrim_params.jl_11.npy",
        "30_discrim_params.jl_14.npy",
        "30_gen_params.jl_01.npy",
        "30_gen_params.jl_04.npy",
        "30_gen_params.jl_07.npy",
    ):
        assert name in err
    assert not (tmp_path / "in32.pt").exists()


def test_misshapen_and_corrupt_shards(svhn_dir, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(svhn_dir, folder)
    np.save(folder / "200_discrim_params.jl_02.npy", np.zeros((128, 64, 3, 3), np.float32))
    with pytest.raises(
        UserError,
        match=r"closest is svhn32: 200_discrim_params.jl_02.npy is \(128, 64, 3, 3\), expected"
        r" \(128, 64, 5, 5\)",
    ):
        released.import_to(folder, tmp_path / "x.pt")
    (folder / "200_discrim_params.jl_02.npy").write_bytes(b"\x93NUMPY broken")
    with pytest.raises(UserError, match="200_discrim_params.jl_02.npy is not a readable .npy"):
        released.import_to(folder, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()
    with pytest.raises(UserError, match="no N_gen_params"):
        released.import_to(tmp_path, tmp_path / "x.pt")


def test_imported_nets_never_use_placeholder_statistics(imported, shared_data):
    from dcgan import features

    v, netG, netD, _ = checkpoint.load_models(imported)
    assert not netD.training
    x = _test_images(shared_data)
    with torch.no_grad():
        eval_out = netD(x)
        netD.train()
        batch_out = netD(x)
    # eval mode still normalises with the batch's statistics
    assert torch.allclose(eval_out, batch_out)
    z = nets.sample_z(v, 16, torch.Generator().manual_seed(0))
    assert torch.allclose(nets.generate(netG, z, "running"), nets.generate(netG, z, "batch"))
    frozen = features.with_population_stats(netD, data.load("cifar10", "test", shared_data).x[:256])
    bn = frozen.blocks["conv2"][1]
    assert bn.running_mean is not None and not torch.all(bn.running_var == 1)
