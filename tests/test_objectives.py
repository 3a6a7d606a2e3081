"""The training choices of dcgan/objectives.py against their closed forms, and the trainer under
each choice: bit-exact resume (EMA and the power iterations' state in the checkpoint), the EMA
weights used for sampling, one-line refusals of the fast path where a step cannot be captured."""

import math

import pytest
import torch
from torch import nn

from dcgan import checkpoint, nets, objectives, variants
from dcgan.errors import UserError
from dcgan.step import FastPath
from dcgan.training.config import TrainConfig
from dcgan.training.loop import train

from .conftest import tiny

REAL, FAKE = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


@pytest.mark.parametrize(
    "loss,d,g",
    [
        (
            "bce",
            (_softplus(-2) + _softplus(1)) / 2 + (_softplus(0.5) + _softplus(-3)) / 2,
            (_softplus(-0.5) + _softplus(3)) / 2,
        ),
        ("hinge", (0 + 2) / 2 + (1.5 + 0) / 2, 1.25),
        ("ls", 0.5 * (1 + 4) / 2 + 0.5 * (0.25 + 9) / 2, 0.5 * (0.25 + 16) / 2),
        ("wgan-gp", (0.5 - 3) / 2 - (2 - 1) / 2, 1.25),
    ],
)
def test_each_loss_on_fixed_logits_is_its_closed_form(loss, d, g):
    assert objectives.d_loss(loss, REAL, FAKE).item() == pytest.approx(d, rel=1e-6)
    assert objectives.g_loss(loss, FAKE).item() == pytest.approx(g, rel=1e-6)


class Linear(nn.Module):
    """D(x) = <a, x>: its input gradient is a everywhere."""

    def __init__(self, a):
        super().__init__()
        self.a = a

    def forward(self, x):
        return (x * self.a).flatten(1).sum(1)


class HalfSquare(nn.Module):
    """D(x) = ||x||^2 / 2: its input gradient is x."""

    def forward(self, x):
        return 0.5 * x.flatten(1).pow(2).sum(1)


def test_the_penalties_equal_their_closed_forms_on_known_gradients():
    rng = torch.Generator().manual_seed(0)
    real, fake = torch.randn(5, 3, 4, 4, generator=rng), torch.randn(5, 3, 4, 4, generator=rng)
    a = torch.randn(3, 4, 4, generator=rng)
    assert objectives.gradient_penalty(Linear(a), real, fake).item() == pytest.approx(
        (a.norm().item() - 1) ** 2, rel=1e-5
    )
    assert objectives.r1_penalty(Linear(a), real).item() == pytest.approx(
        a.pow(2).sum().item(), rel=1e-5
    )
    assert objectives.r1_penalty(HalfSquare(), real).item() == pytest.approx(
        real.flatten(1).pow(2).sum(1).mean().item(), rel=1e-5
    )
    # the mix uses eps ~ U(0, 1) per image from the generator given: the same draw here
    eps = torch.rand(5, 1, 1, 1, generator=torch.Generator().manual_seed(7))
    mixed = eps * real + (1 - eps) * fake
    expected = ((mixed.flatten(1).norm(dim=1) - 1) ** 2).mean().item()
    got = objectives.gradient_penalty(
        HalfSquare(), real, fake, torch.Generator().manual_seed(7)
    ).item()
    assert got == pytest.approx(expected, rel=1e-5)


def test_a_spectrally_normalised_layer_has_largest_singular_value_one():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1), nn.Linear(5, 7))
    nn.init.normal_(net[0].weight, 0, 3.0)
    objectives.spectral_norm_all(net, seed=0)
    net.train()
    for _ in range(30):  # one power iteration per training forward
        net[0](torch.zeros(1, 3, 8, 8))
        net[1](torch.zeros(1, 5))
    for layer in net:
        w = layer.weight.detach().flatten(1)
        assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, abs=1e-2)


def test_ema_after_n_steps_on_a_constant_sequence_is_the_closed_form():
    ema, net = nn.Linear(3, 2), nn.Linear(3, 2)
    start = [p.detach().clone() for p in ema.parameters()]
    decay, n = 0.9, 7
    for _ in range(n):
        objectives.ema_update(ema, net, decay)
    for e, p0, c in zip(ema.parameters(), start, net.parameters(), strict=True):
        assert torch.allclose(e, c + (p0 - c) * decay**n, atol=1e-6)


def test_rotations_are_the_four_turns_labelled_in_order():
    x = torch.arange(2 * 1 * 3 * 3, dtype=torch.float32).view(2, 1, 3, 3)
    turned, labels = objectives.rotations(x)
    assert labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    for k in range(4):
        for i in range(2):
            assert torch.equal(turned[2 * k + i], torch.rot90(x[i], k, dims=(1, 2)))


def _cfg(out, steps, v, **kw):
    return TrainConfig(
        v, out, steps=steps, progress=False, ckpt_every=10, log_every=5, device="cpu", **kw
    )


def _state(path):
    s = checkpoint.load(path)
    return {k: s[k] for k in ("netG", "netD", "netG_ema") if k in s}


@pytest.mark.parametrize(
    "choice",
    [
        {"loss": "hinge", "d_reg": "sn", "d_aux": "rotation", "g_ema": 0.9},
        {"loss": "wgan-gp", "n_critic": 2, "d_reg": "r1", "g_ema": 0.9},
        {"loss": "ls", "updates": "alternate"},
    ],
)
def test_a_resumed_run_under_each_choice_equals_an_uninterrupted_one(tmp_path, choice):
    v = tiny(**choice)
    one = train(_cfg(tmp_path / "one", 20, v))
    train(_cfg(tmp_path / "two", 10, v))
    resumed = train(_cfg(tmp_path / "two", 20, v, resume=True))
    a, b = _state(one["checkpoint"]), _state(resumed["checkpoint"])
    assert a.keys() == b.keys() and ("netG_ema" in a) == (v.g_ema > 0)
    for net in a:
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), (net, key)
    if v.d_reg == "sn":  # the power iterations' vectors are in the checkpoint
        assert any(k.endswith("_u") for k in a["netD"])


def test_g_ema_changes_no_step_of_training(tmp_path):
    # why variants.SAMPLING_ONLY_FIELDS holds g_ema: the average is kept beside G, never trained
    # against, so the ranking may say an EMA run's D is the plain run's
    plain = _state(train(_cfg(tmp_path / "plain", 10, tiny()))["checkpoint"])
    ema = _state(train(_cfg(tmp_path / "ema", 10, tiny(g_ema=0.5)))["checkpoint"])
    for net in ("netD", "netG"):
        assert plain[net].keys() == ema[net].keys()
        assert all(torch.equal(plain[net][k], ema[net][k]) for k in plain[net]), net


def test_sampling_uses_the_moving_average_of_g(tmp_path):
    result = train(_cfg(tmp_path / "run", 10, tiny(g_ema=0.5)))
    _, netG, _, state = checkpoint.load_models(result["checkpoint"])
    assert all(torch.equal(netG.state_dict()[k], state["netG_ema"][k]) for k in state["netG_ema"])
    assert any(not torch.equal(state["netG_ema"][k], state["netG"][k]) for k in state["netG"])


def test_the_fast_path_refuses_what_it_cannot_capture_or_compile_in_one_line():
    cuda = torch.device("cuda")  # a device object only: nothing runs on it
    with pytest.raises(
        UserError, match=r"captures the paper's objective only, not loss='hinge', d_reg='sn'"
    ):
        FastPath(cuda_graphs=True).check(cuda, variants.get("dcgan32-hinge-sn"))
    with pytest.raises(UserError, match="cannot differentiate a gradient penalty twice"):
        FastPath(compile=True).check(cuda, variants.get("dcgan32-wgan-gp"))
    # EMA is captured with the step; either schedule and any n_critic, one graph per kind
    FastPath(compile=True, cuda_graphs=True).check(cuda, variants.get("dcgan32-ema"))
    for name in ("imagenet32", "svhn32"):  # the authors' alternating loop
        FastPath(cuda_graphs=True).check(cuda, variants.get(name))
    FastPath(cuda_graphs=True).check(cuda, variants.get("dcgan32", n_critic=2))


def test_choices_are_refused_by_name_when_out_of_range():
    for field, value in (
        ("loss", "wasserstein"),
        ("d_reg", "dropout"),
        ("g_ema", 1.0),
        ("n_critic", 0),
        ("r1_gamma", -1.0),
    ):
        with pytest.raises(UserError, match=field):
            tiny(**{field: value})


def test_the_features_read_the_normalised_weights_under_spectral_norm():
    v = tiny(d_reg="sn")
    _, netD = nets.build(v, seed=0)
    conv = netD.blocks["conv1"][0]
    assert hasattr(conv, "parametrizations")  # weight is computed: W / sigma(W)
    netD.eval()
    x = torch.randn(2, 3, 32, 32)
    by_hand = torch.nn.functional.leaky_relu(
        torch.nn.functional.conv2d(x, conv.weight, None, 2, 1), 0.2
    )
    assert torch.allclose(netD.features(x)["conv1"], by_hand, atol=1e-6)


def test_throughput_times_the_step_of_every_choice():
    from dcgan import data, throughput

    images = data.subset(data.load("digits", "train"), 64, seed=0)
    v = tiny(loss="wgan-gp", n_critic=2, d_reg="sn+r1", d_aux="rotation", g_ema=0.9)
    stage = throughput.train_stage(v, images, torch.device("cpu"), log_every=1)
    stats = [stage.run() for _ in range(3)]
    assert all(math.isfinite(s["loss_d"]) and math.isfinite(s["loss_g"]) for s in stats)
    # the flop counter cannot follow double backward
    assert stage.flops is None and "FLOPs not counted" in stage.note
    plain = throughput.train_stage(
        tiny(loss="hinge", d_reg="sn", d_aux="rotation", g_ema=0.9), images, torch.device("cpu")
    )
    assert plain.flops > 0 and plain.run() is None  # losses read back every 10 steps
