import json

import numpy as np
import pytest
import torch

from dcgan import cli, data, features, nets, released
from dcgan.errors import UserError

from .conftest import argv, tiny


@pytest.fixture(scope="module")
def images():
    return data.load("digits", "all")


def _netD(v=None, seed=0):
    _, netD = nets.build(v or tiny(), seed=seed)
    return netD


def test_population_stats_are_the_mean_of_per_batch_biased_statistics(images):
    netD = _netD()
    pool = images.x[:300]  # batches of 128, 128 and a partial 44, weighted equally
    frozen = features.with_population_stats(netD, pool)
    assert not frozen.training
    conv2 = netD.blocks["conv2"][0]
    means, vars_ = [], []
    with torch.no_grad():
        for i in range(0, 300, 128):
            h1 = netD.blocks["conv1"](features.to_input(pool[i : i + 128], "cpu"))
            # BN input of layer 2 (layer 1 has no BN, so no batch effects before it)
            pre = conv2(h1)
            means.append(pre.mean((0, 2, 3)))
            vars_.append(pre.var((0, 2, 3), unbiased=False))
    bn2 = frozen.blocks["conv2"][1]
    assert torch.allclose(bn2.running_mean, torch.stack(means).mean(0).float(), atol=1e-5)
    assert torch.allclose(bn2.running_var, torch.stack(vars_).mean(0).float(), rtol=1e-4)
    assert torch.all(netD.blocks["conv2"][1].running_var == 1)  # the original is unchanged


def test_features_do_not_depend_on_the_batch_size(images):
    net = features.with_population_stats(_netD(), images.x[:256])
    a = features.extract(net, images.x[:70], batch_size=70, progress=False)
    b = features.extract(net, images.x[:70], batch_size=16, progress=False)
    assert a.shape == (70, tiny().feature_dim) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert (a >= 0).mean() > 0.5  # max-pooled LeakyReLU outputs are mostly positive


def test_feature_layout_is_channel_row_column_shallow_to_deep(images):
    net = features.with_population_stats(_netD(), images.x[:128])
    x = images.x[:3]
    flat = features.extract(net, x, progress=False)
    with torch.no_grad():
        feats = net.features(features.to_input(x, "cpu"))
    h3 = feats["conv3"]  # 32 x 4 x 4: pooled with kernel 1
    assert np.allclose(flat[:, -32 * 16 :], h3.flatten(1).numpy())
    c, r, col = 5, 2, 3
    assert np.isclose(flat[1, -32 * 16 + c * 16 + r * 4 + col], h3[1, c, r, col].item())


@pytest.mark.parametrize("name", ["imagenet32", "svhn32"])
def test_paper_feature_sizes_through_extraction(name, images):
    _, netD = nets.build(__import__("dcgan.variants", fromlist=["get"]).get(name), seed=0)
    net = features.with_population_stats(netD, images.x[:64])
    assert features.extract(net, images.x[:5], progress=False).shape == (
        5,
        {"imagenet32": 28672, "svhn32": 7168}[name],
    )


def test_cache_is_keyed_on_weights_data_bn_pool_and_code(images, tmp_path, monkeypatch):
    netD = _netD()
    test = data.load("digits", "test")
    train = data.load("digits", "train")
    f1, r1 = features.cached_features(netD, test, train, cache_dir=tmp_path, progress=False)
    assert not r1["cached"]
    calls = []
    monkeypatch.setattr(features, "extract", lambda *a, **k: calls.append(1))
    f2, r2 = features.cached_features(netD, test, train, cache_dir=tmp_path, progress=False)
    assert r2["cached"] and not calls and np.array_equal(f1, f2)
    for changed in (
        dict(netD=_netD(seed=1)),  # other weights
        dict(images=data.load("digits", "all")),  # other images
        dict(bn_pool=data.load("digits", "all")),  # other BN pool
    ):
        kw = {"netD": netD, "images": test, "bn_pool": train, **changed}
        features.cached_features(
            kw["netD"], kw["images"], kw["bn_pool"], cache_dir=tmp_path, progress=False
        )
    assert len(calls) == 3
    # changed code on the features' path (D's layers, the pooling, the BN statistics) extracts again
    monkeypatch.setattr(features, "CODE_FINGERPRINT", "edited")
    features.cached_features(netD, test, train, cache_dir=tmp_path, progress=False)
    assert len(calls) == 4


def test_float16_option(images):
    net = features.with_population_stats(_netD(), images.x[:64])
    a = features.extract(net, images.x[:8], dtype=np.float16, progress=False)
    assert a.dtype == np.float16


def test_cli_features_of_the_released_svhn_model(shared_data, tmp_path, capsys):
    folder = shared_data / "released" / "svhn_unsup_all_conv_dcgan_100z_gaussian_lr_0.0005_64mb"
    ckpt, _ = released.import_to(folder, tmp_path / "svhn.pt")
    subset = data.load("cifar10", "test", shared_data)
    # 200 real images as a small labelled pool
    np.savez(tmp_path / "train.npz", x=subset.x[::50], y=subset.y[::50])
    np.savez(tmp_path / "test.npz", x=subset.x[1::500], y=subset.y[1::500])
    args = argv(
        "features --ckpt {} --dataset npz --data-root {} --split test --out {} --cache-dir {}"
        " --no-progress --json",
        ckpt,
        tmp_path,
        tmp_path / "f.npy",
        tmp_path / "cache",
    )
    assert cli.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["shape"] == [20, 7168] and out["bn_stats"].startswith("pool:npz/train:")
    f = np.load(tmp_path / "f.npy")
    assert f.shape == (20, 7168) and np.isfinite(f).all()
    assert cli.main(args) == 1 and "pass --force" in capsys.readouterr().err  # never overwrites
    assert cli.main(args[:-4] + ["--out", str(tmp_path / "g.npy"), "--bn-stats", "running"]) == 1
    assert "no BN running statistics" in capsys.readouterr().err


def test_every_registered_variant_extracts_its_feature_dim(images):
    from dcgan import variants

    for name in variants.names():
        v = variants.get(name)
        _, netD = nets.build(v, seed=0)
        x = data.resize_images(images.x[:4], v.image_size)
        net = features.with_population_stats(netD, x)
        assert features.extract(net, x, progress=False).shape == (4, v.feature_dim), name


def test_population_statistics_are_cached_per_pool(images, tmp_path, monkeypatch):
    netD = _netD()
    train, test = data.load("digits", "train"), data.load("digits", "test")
    first, _ = features.cached_features(netD, test, train, cache_dir=tmp_path, progress=False)
    passes = []
    original = features.with_population_stats
    monkeypatch.setattr(
        features,
        "with_population_stats",
        lambda net, pool, *a, **k: passes.append(len(pool)) or original(net, pool, *a, **k),
    )
    second, _ = features.cached_features(
        netD, data.load("digits", "all"), train, cache_dir=tmp_path, progress=False
    )
    assert passes == [0]  # the statistics came from the cache: no pass over the pool
    np.testing.assert_allclose(np.asarray(second)[1500:], np.asarray(first), rtol=1e-5, atol=1e-6)


def test_read_rows_gives_the_rows_asked_for_in_order(tmp_path):
    f = np.arange(7 * 5, dtype=np.float32).reshape(7, 5)
    np.save(tmp_path / "f.npy", f)
    order = np.array([4, 0, 6, 2])
    # blocks of 2 rows: the wanted rows span several blocks
    assert np.array_equal(features.read_rows(tmp_path / "f.npy", order, block_bytes=40), f[order])
    assert np.array_equal(features.read_rows(tmp_path / "f.npy"), f)
    (tmp_path / "cut.npy").write_bytes((tmp_path / "f.npy").read_bytes()[:-8])
    with pytest.raises(UserError, match="truncated; delete it"):
        features.read_rows(tmp_path / "cut.npy")
