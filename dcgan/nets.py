"""Generator and Discriminator built from a Variant.

Vocabulary of pytorch/examples' dcgan: nz, ngf, ndf, nc, netG, netD. D returns logits (the loss
is BCE-with-logits) and exposes ``features(x)``, the post-activation output of every conv layer
under a stable name, next to ``forward``.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import objectives
from .variants import Variant


def _conv(in_ch: int, out_ch: int, kernel: int, stride: int, bias: bool) -> nn.Module:
    """A conv that divides the size by ``stride`` exactly."""
    if stride == 2:
        return nn.Conv2d(in_ch, out_ch, kernel, 2, 1 if kernel == 4 else kernel // 2, bias=bias)
    if kernel % 2 == 0:
        # "same" size with an even kernel needs asymmetric padding (1 before, 2 after for k=4)
        before = (kernel - 1) // 2
        after = kernel - 1 - before
        return nn.Sequential(
            nn.ZeroPad2d((before, after, before, after)),
            nn.Conv2d(in_ch, out_ch, kernel, 1, 0, bias=bias),
        )
    return nn.Conv2d(in_ch, out_ch, kernel, 1, kernel // 2, bias=bias)


def _convT(in_ch: int, out_ch: int, kernel: int, stride: int, bias: bool) -> nn.ConvTranspose2d:
    """A transposed conv that multiplies the size by ``stride`` exactly."""
    if kernel == 4:
        assert stride == 2, "4x4 kernels only upsample by 2"
        return nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1, bias=bias)
    # odd kernel, padding k//2:
    # out = (H-1)*s - 2*(k//2) + k + output_padding = s*H when output_padding = s-1
    return nn.ConvTranspose2d(
        in_ch, out_ch, kernel, stride, kernel // 2, output_padding=stride - 1, bias=bias
    )


def _activation(v: Variant) -> nn.Module:
    return nn.LeakyReLU(v.lrelu_slope) if v.d_act == "lrelu" else nn.ReLU()


class Discriminator(nn.Module):
    def __init__(self, v: Variant):
        super().__init__()
        self.variant = v
        blocks = {}
        in_ch = v.nc
        for i, (width, stride) in enumerate(v.d_layers()):
            layers: list[nn.Module] = []
            if stride == 2 and v.downsample == "maxpool":
                layers += [_conv(in_ch, width, v.kernel, 1, v.bias), nn.MaxPool2d(2)]
            else:
                layers.append(_conv(in_ch, width, v.kernel, stride, v.bias))
            if v.batchnorm and (i > 0 or v.bn_d_input):
                layers.append(nn.BatchNorm2d(width, eps=v.bn_eps))
            layers.append(_activation(v))
            blocks[f"conv{i + 1}"] = nn.Sequential(*layers)
            in_ch = width
        self.blocks = nn.ModuleDict(blocks)  # the last block ends at ndf*2**(stages-1) x 4 x 4
        if v.fc_hidden:
            self.head = nn.Sequential(
                nn.Flatten(),
                nn.Linear(in_ch * 16, v.fc_hidden, bias=v.bias),
                _activation(v),
                nn.Linear(v.fc_hidden, 1, bias=v.bias),
            )
        elif v.d_output == "linear":
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(in_ch * 16, 1, bias=v.bias))
        else:
            # 1 x 1 x 1
            self.head = nn.Sequential(nn.Conv2d(in_ch, 1, 4, 1, 0, bias=v.bias), nn.Flatten())
        # Chen et al.'s head: which of four turns, from the last conv layer
        if objectives.AUX_TASKS[v.d_aux].rotation_head:
            self.rotation = nn.Sequential(nn.Flatten(), nn.Linear(in_ch * 16, 4))

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The output (after the activation) of every conv layer, shallow to deep."""
        out = {}
        for name, block in self.blocks.items():
            x = block(x)
            out[name] = x
        return out

    def pooled_features(self, x: torch.Tensor, grid: int = 4) -> torch.Tensor:
        """The paper's feature vector: every conv layer max-pooled to grid x grid with
        non-overlapping windows (kernel = stride = H / grid), flattened (channel, row, column),
        concatenated shallow to deep."""
        flat = []
        for name, h in self.features(x).items():
            size = h.shape[-1]
            if size % grid:
                raise ValueError(
                    f"layer {name} is {size}x{size}, not a multiple of the {grid}x{grid} grid"
                )
            flat.append(F.max_pool2d(h, size // grid).flatten(1))
        return torch.cat(flat, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape (N,)."""
        for block in self.blocks.values():
            x = block(x)
        return self.head(x).view(-1)

    def rotation_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The rotation head's four logits per image (variants with d_aux="rotation")."""
        for block in self.blocks.values():
            x = block(x)
        return self.rotation(x)


class Generator(nn.Module):
    def __init__(self, v: Variant):
        super().__init__()
        self.variant = v
        c0 = v.g_start_channels
        in_dim = v.nz
        head: list[nn.Module] = []
        if v.fc_hidden:
            head += [nn.Linear(v.nz, v.fc_hidden, bias=v.bias)]
            head += [nn.BatchNorm1d(v.fc_hidden, eps=v.bn_eps)] if v.batchnorm else []
            head += [nn.ReLU()]
            in_dim = v.fc_hidden
        if v.g_input == "linear":
            # the released code: a linear map with BN over its c0*16 units
            head += [nn.Linear(in_dim, c0 * 16, bias=v.bias)]
            head += [nn.BatchNorm1d(c0 * 16, eps=v.bn_eps)] if v.batchnorm else []
            head += [nn.ReLU(), nn.Unflatten(1, (c0, 4, 4))]
        else:
            head += [
                nn.Unflatten(1, (in_dim, 1, 1)),
                nn.ConvTranspose2d(in_dim, c0, 4, 1, 0, bias=v.bias),
            ]
            head += [nn.BatchNorm2d(c0, eps=v.bn_eps)] if v.batchnorm else []
            head += [nn.ReLU()]
        self.project = nn.Sequential(*head)  # c0 x 4 x 4
        blocks = {}
        in_ch = c0
        layers_spec = v.g_layers()
        for j, (width, stride) in enumerate(layers_spec):
            last = j == len(layers_spec) - 1
            layers: list[nn.Module] = []
            if stride == 2 and v.upsample == "nearest":
                layers += [
                    nn.Upsample(scale_factor=2, mode="nearest"),
                    _conv(in_ch, width, v.kernel, 1, v.bias),
                ]
            else:
                layers.append(_convT(in_ch, width, v.kernel, stride, v.bias))
            if v.batchnorm and (not last or v.bn_g_output):
                layers.append(nn.BatchNorm2d(width, eps=v.bn_eps))
            layers.append(nn.Tanh() if last else nn.ReLU())
            blocks[f"deconv{j + 1}"] = nn.Sequential(*layers)
            in_ch = width
        self.blocks = nn.ModuleDict(blocks)  # the last block ends at nc x image_size x image_size

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, nz) -> images (N, nc, H, W) in [-1, 1]."""
        x = self.project(z)
        for block in self.blocks.values():
            x = block(x)
        return x


def init_weights(net: nn.Module, v: Variant, generator: torch.Generator | None = None) -> None:
    """Weights N(0, init_std); BN gains 1 (or N(1, init_std) as the released code); biases 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, v.init_std, generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if v.bn_gain_init == "normal":
                nn.init.normal_(m.weight, 1.0, v.init_std, generator=generator)
            else:
                nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def build(v: Variant, seed: int | None = None) -> tuple[Generator, Discriminator]:
    """netG, netD for ``v``, initialised; with ``seed`` the initialisation is reproducible."""
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    netG, netD = Generator(v), Discriminator(v)
    init_weights(netG, v, g)
    init_weights(netD, v, g)
    # after the initialisation: its power iterations start from these weights
    if objectives.REGULARISERS[v.d_reg].spectral_norm:
        objectives.spectral_norm_all(netD, seed=0 if seed is None else seed)
    return netG, netD


def sample_z(
    v: Variant, n: int, generator: torch.Generator | None = None, device="cpu"
) -> torch.Tensor:
    """Latent codes from the variant's prior: U(-1, 1) or N(0, 1)."""
    if v.z_dist == "uniform":
        return torch.rand(n, v.nz, generator=generator, device=device) * 2 - 1
    return torch.randn(n, v.nz, generator=generator, device=device)


@torch.no_grad()
def generate(netG: Generator, z: torch.Tensor, bn_stats: str = "running") -> torch.Tensor:
    """G(z) without changing netG. ``bn_stats``: "running" uses BN running statistics (eval
    mode); "batch" normalises with the batch's own statistics, as the released Theano code
    sampled, on a copy so the running statistics are left untouched."""
    if bn_stats == "batch":
        net = copy.deepcopy(netG).train()
        return net(z)
    was_training = netG.training
    netG.eval()
    try:
        return netG(z)
    finally:
        netG.train(was_training)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """G's output in [-1, 1] -> uint8 in the same layout, as images are stored (the one rule
    every stage uses to turn samples into pixels)."""
    return ((x.float() + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8)


def to_pixels(x: torch.Tensor) -> np.ndarray:
    """G's output in [-1, 1] (N, C, H, W) -> uint8 (N, H, W, C) on the host: the training
    images' own format."""
    return to_uint8(x).permute(0, 2, 3, 1).cpu().numpy()


@torch.no_grad()
def render(
    netG: Generator, z: torch.Tensor, bn_stats: str = "running", batch_size: int = 256
) -> np.ndarray:
    """G(z) as uint8 NHWC, in batches of ``batch_size`` on G's device (with batch BN statistics
    an image depends on the batch it was drawn in)."""
    device = next(netG.parameters()).device
    return np.concatenate(
        [
            to_pixels(generate(netG, z[i : i + batch_size].to(device), bn_stats))
            for i in range(0, len(z), batch_size)
        ]
    )


def sample_images(
    netG: Generator,
    n: int,
    seed: int = 0,
    bn_stats: str = "running",
    batch_size: int = 500,
    device="cpu",
) -> np.ndarray:
    """``n`` samples as uint8 NHWC (the training images' own format), drawn in batches from one
    seeded generator: the same seed gives the same z whatever the batch size."""
    z = sample_z(netG.variant, n, torch.Generator().manual_seed(seed))
    return render(netG.to(device), z, bn_stats, batch_size)
