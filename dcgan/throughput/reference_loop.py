"""The reference training loop, timed beside ours: pytorch/examples' dcgan loop (a DataLoader
with per-image transforms, eager fp32, a sigmoid D with BCELoss, every step's losses read on the
host), on the same networks."""

from __future__ import annotations

import numpy as np
import torch

from .. import nets
from ..data import ImageSet
from ..errors import UserError
from ..variants import Variant
from .measuring import Stage, count_flops


class _PILImages(torch.utils.data.Dataset):
    """What a torchvision dataset hands pytorch/examples' loop: a PIL image per index, put
    through the per-image transform in the DataLoader's workers."""

    def __init__(self, x: np.ndarray):
        from torchvision import transforms

        self.x = x
        self.transform = transforms.Compose(
            [transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.5,) * 3)]
        )

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.x[i])), 0


def reference_stage(v: Variant, images: ImageSet, device: torch.device, workers: int = 2) -> Stage:
    """pytorch/examples' dcgan loop: a DataLoader with per-image transforms (``workers``
    processes, its default 2), eager fp32, a sigmoid D with BCELoss, and every step's losses read
    on the host with ``.item()`` (the example prints them each step). Same networks as ours."""
    if v.nc != 3:
        raise UserError(f"the reference loop takes RGB images; {v.name} has nc={v.nc}")
    netG, netD = nets.build(v, seed=0)
    netG.to(device)
    netD.to(device)
    criterion = torch.nn.BCELoss()
    optD = torch.optim.Adam(netD.parameters(), lr=v.lr, betas=(v.beta1, v.beta2))
    optG = torch.optim.Adam(netG.parameters(), lr=v.lr, betas=(v.beta1, v.beta2))
    loader = torch.utils.data.DataLoader(
        _PILImages(images.x),
        batch_size=v.batch_size,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        persistent_workers=workers > 0,
    )
    it = {"batches": iter(loader)}

    def next_batch():
        try:
            return next(it["batches"])[0]
        except StopIteration:
            it["batches"] = iter(loader)
            return next(it["batches"])[0]

    def step(real_cpu=None):
        real = (next_batch() if real_cpu is None else real_cpu).to(device)
        b = real.size(0)
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        netD.zero_grad()
        label = torch.full((b,), 1.0, device=device)
        output = torch.sigmoid(netD(real))
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()
        noise = nets.sample_z(v, b, device=device)
        fake = netG(noise)
        label.fill_(0.0)
        output = torch.sigmoid(netD(fake.detach()))
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        optD.step()
        # (2) Update G network: maximize log(D(G(z)))
        netG.zero_grad()
        label.fill_(1.0)
        output = torch.sigmoid(netD(fake))
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        optG.step()
        return (errD_real + errD_fake).item(), errG.item(), D_x, D_G_z1, D_G_z2

    flops = count_flops(lambda: step(torch.zeros(v.batch_size, 3, v.image_size, v.image_size)))
    return Stage(
        "train-reference",
        step,
        v.batch_size,
        "images",
        flops,
        "fp32",
        f"pytorch/examples semantics: DataLoader ({workers} workers, per-image"
        " ToTensor+Normalize), eager fp32, .item() every step",
    )
