"""The GAN objectives and D's regularisers, as plain functions of logits and of D, so each can be
checked against its closed form (tests/test_objectives.py), and their registries: a loss, a D
regulariser and an auxiliary task are one entry each (``register_loss``, ``register_regulariser``,
``register_aux_task``), naming the extra terms they add to D's or G's loss (each a ``Term``: its
value, its weight from the variant, whether it differentiates twice). The variant's ``loss``,
``d_reg`` and ``d_aux`` choose the entries; the step (step.py) adds their terms and logs each
apart; the paper's choice is ``loss="bce"``, no regulariser, no task.

Every loss is a mean over the batch. D's logits are raw scores: probabilities only for "bce".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .registry import add_entry


def d_loss(loss: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """D's loss on the logits of real and generated images (without any extra term)."""
    return _entry(LOSSES, "loss", loss).d(real, fake)


def g_loss(loss: str, fake: torch.Tensor) -> torch.Tensor:
    """G's loss on D's logits of its samples."""
    return _entry(LOSSES, "loss", loss).g(fake)


def _input_gradients(netD, x: torch.Tensor) -> torch.Tensor:
    """d sum(D(x)) / dx per image, flattened, kept in the graph (the penalty is differentiated)."""
    x = x.detach().requires_grad_(True)
    out = netD(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.flatten(1)


def gradient_penalty(
    netD, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """WGAN-GP's E[(||grad D(x_hat)||_2 - 1)^2], x_hat a uniform random mix of a real and a
    fake image."""
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, generator=generator)
    mixed = eps * real.detach() + (1 - eps) * fake.detach()
    return ((_input_gradients(netD, mixed).norm(dim=1) - 1) ** 2).mean()


def r1_penalty(netD, real: torch.Tensor) -> torch.Tensor:
    """R1's E[||grad_x D(x)||^2] on real images (the step weighs it by gamma / 2)."""
    return _input_gradients(netD, real).pow(2).sum(dim=1).mean()


def rotations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image turned by 0, 90, 180 and 270 degrees (Chen et al. use all four), and which."""
    turned = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)])
    labels = torch.arange(4, device=x.device).repeat_interleave(x.shape[0])
    return turned, labels


def rotation_loss(netD, x: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of D's rotation head on the four turns of ``x``."""
    turned, labels = rotations(x)
    return F.cross_entropy(netD.rotation_logits(turned), labels)


def spectral_norm_all(net: nn.Module, seed: int = 0) -> nn.Module:
    """Spectral normalisation of every conv and linear layer of ``net`` (one power iteration per
    training forward, torch's parametrization: its u and v vectors are buffers, so checkpoints
    keep them). The random start of u is drawn from ``seed``, not the global generator."""
    from torch.nn.utils.parametrizations import spectral_norm

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in list(net.modules()):
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                spectral_norm(m)
    return net


@torch.no_grad()
def ema_update(ema: nn.Module, net: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * net for every parameter; buffers (BN stats) copied."""
    for e, p in zip(ema.parameters(), net.parameters(), strict=True):
        e.lerp_(p, 1 - decay)
    for e, b in zip(ema.buffers(), net.buffers(), strict=True):
        e.copy_(b)


# --- the registries ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Term:
    """An extra term of D's (or G's) objective: its value, unweighted (logged apart as
    train/<name>), and its weight from the variant; the step adds weight * value."""

    name: str
    value: Callable[..., torch.Tensor]  # value(netD, real, fake, noise); real is None for G's
    weight: Callable[[object], float]  # weight(variant)
    double_backward: bool = False  # differentiates D's input gradient (a penalty)
    applies: Callable[[object], bool] = lambda v: True  # e.g. only with a positive weight


@dataclass(frozen=True)
class Loss:
    name: str
    d: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # d(real logits, fake logits)
    g: Callable[[torch.Tensor], torch.Tensor]  # g(D's logits of G's samples)
    d_terms: tuple[Term, ...] = ()
    probabilities: bool = False  # sigmoid(logit) is D's probability (the collapse check reads it)


@dataclass(frozen=True)
class Regulariser:
    name: str
    d_terms: tuple[Term, ...] = ()
    spectral_norm: bool = False  # every D layer spectrally normalised (nets.build)


@dataclass(frozen=True)
class AuxTask:
    name: str
    d_terms: tuple[Term, ...] = ()
    g_terms: tuple[Term, ...] = ()
    rotation_head: bool = False  # D grows the four-way rotation head (nets.Discriminator)


LOSSES: dict[str, Loss] = {}
REGULARISERS: dict[str, Regulariser] = {}
AUX_TASKS: dict[str, AuxTask] = {}


def register_loss(entry: Loss) -> Loss:
    return add_entry(LOSSES, "loss", entry)


def register_regulariser(entry: Regulariser) -> Regulariser:
    return add_entry(REGULARISERS, "D regulariser", entry)


def register_aux_task(entry: AuxTask) -> AuxTask:
    return add_entry(AUX_TASKS, "auxiliary task", entry)


def _entry(registry: dict, field: str, name: str):
    if name not in registry:
        raise ValueError(f"unknown {field} {name!r}; registered: {', '.join(registry)}")
    return registry[name]


def d_terms(v) -> list[Term]:
    """The extra terms of D's objective under variant ``v``: its loss's, its regulariser's, its
    auxiliary task's, in that order."""
    terms = (
        *_entry(LOSSES, "loss", v.loss).d_terms,
        *_entry(REGULARISERS, "d_reg", v.d_reg).d_terms,
        *_entry(AUX_TASKS, "d_aux", v.d_aux).d_terms,
    )
    return [t for t in terms if t.applies(v)]


def g_terms(v) -> list[Term]:
    """The extra terms of G's objective under variant ``v`` (its auxiliary task's)."""
    return [t for t in _entry(AUX_TASKS, "d_aux", v.d_aux).g_terms if t.applies(v)]


GRADIENT_PENALTY = Term(
    "gradient_penalty",
    lambda netD, real, fake, noise: gradient_penalty(netD, real, fake, noise),
    lambda v: v.gp_lambda,
    double_backward=True,
)
R1 = Term(
    "r1_penalty",
    lambda netD, real, fake, noise: r1_penalty(netD, real),
    lambda v: v.r1_gamma / 2,
    double_backward=True,
)
ROTATION_D = Term(
    "rotation_loss_d",
    lambda netD, real, fake, noise: rotation_loss(netD, real),
    lambda v: v.rot_weight_d,
)
ROTATION_G = Term(
    "rotation_loss_g",
    lambda netD, real, fake, noise: rotation_loss(netD, fake),
    lambda v: v.rot_weight_g,
    applies=lambda v: v.rot_weight_g > 0,
)

# -log D(x) - log(1 - D(G(z))), D = sigmoid; G: the paper's non-saturating -log D(G(z))
register_loss(
    Loss(
        "bce",
        lambda real, fake: F.softplus(-real).mean() + F.softplus(fake).mean(),
        lambda fake: F.softplus(-fake).mean(),
        probabilities=True,
    )
)
register_loss(
    Loss(
        "hinge",
        lambda real, fake: F.relu(1 - real).mean() + F.relu(1 + fake).mean(),
        lambda fake: -fake.mean(),
    )
)
# (D(x) - 1)^2 / 2 + D(G(z))^2 / 2
register_loss(
    Loss(
        "ls",
        lambda real, fake: 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean(),
        lambda fake: 0.5 * ((fake - 1) ** 2).mean(),
    )
)
# the critic's E[D(G(z))] - E[D(x)], plus the gradient penalty
register_loss(
    Loss(
        "wgan-gp",
        lambda real, fake: fake.mean() - real.mean(),
        lambda fake: -fake.mean(),
        d_terms=(GRADIENT_PENALTY,),
    )
)
register_regulariser(Regulariser("none"))
register_regulariser(Regulariser("sn", spectral_norm=True))
register_regulariser(Regulariser("r1", d_terms=(R1,)))
register_regulariser(Regulariser("sn+r1", d_terms=(R1,), spectral_norm=True))
register_aux_task(AuxTask("none"))
register_aux_task(
    AuxTask("rotation", d_terms=(ROTATION_D,), g_terms=(ROTATION_G,), rotation_head=True)
)
