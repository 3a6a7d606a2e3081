"""The GAN objectives and D's regularisers, as plain functions of logits and of D, so each can be
checked against its closed form (tests/test_objectives.py). The step (step.py) picks them by the
variant's ``loss``, ``d_reg`` and ``d_aux``; the paper's choice is ``loss="bce"``, no regulariser.

Every loss is a mean over the batch. D's logits are raw scores: probabilities only for "bce".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def d_loss(loss: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """D's loss on the logits of real and generated images (without any penalty)."""
    if loss == "bce":  # -log D(x) - log(1 - D(G(z))), D = sigmoid
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if loss == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    if loss == "ls":  # (D(x) - 1)^2 / 2 + D(G(z))^2 / 2
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()
    if loss == "wgan-gp":  # the critic's E[D(G(z))] - E[D(x)]; the penalty is added by the step
        return fake.mean() - real.mean()
    raise ValueError(f"unknown loss {loss!r}")


def g_loss(loss: str, fake: torch.Tensor) -> torch.Tensor:
    """G's loss on D's logits of its samples."""
    if loss == "bce":  # the paper's non-saturating loss: -log D(G(z))
        return F.softplus(-fake).mean()
    if loss in ("hinge", "wgan-gp"):
        return -fake.mean()
    if loss == "ls":
        return 0.5 * ((fake - 1) ** 2).mean()
    raise ValueError(f"unknown loss {loss!r}")


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
