"""The ImageSet every dataset loads to (uint8 NHWC images, int64 labels where they exist) and the
conversions every stage shares. Below the registry (data/__init__.py), the formats and ingestion."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError


@dataclass
class ImageSet:
    """Images as uint8 (N, H, W, C), labels as int64 (N,) or None."""

    x: np.ndarray
    y: np.ndarray | None
    name: str
    split: str
    source: str  # where the data came from, for the record
    classes: list[str] | None = None
    _fingerprint: str | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.x.dtype != np.uint8 or self.x.ndim != 4 or self.x.shape[-1] not in (1, 3):
            raise UserError(
                f"{self.name}/{self.split} from {self.source}: images must be uint8 (N, H, W, 3);"
                f" got {self.x.dtype} {self.x.shape}"
            )
        if self.y is not None and len(self.y) != len(self.x):
            raise UserError(
                f"{self.name}/{self.split} from {self.source}: {len(self.y)} labels for"
                f" {len(self.x)} images"
            )

    def __len__(self) -> int:
        return len(self.x)

    @property
    def image_size(self) -> int:
        return self.x.shape[1]

    def fingerprint(self) -> str:
        """A hash of the pixels and labels: caches and resume checks key on content, not name."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update(repr((self.x.shape, None if self.y is None else self.y.shape)).encode())
            h.update(np.ascontiguousarray(self.x).data)
            if self.y is not None:
                h.update(np.ascontiguousarray(self.y, dtype=np.int64).data)
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def describe(self) -> dict:
        return {
            "dataset": self.name,
            "split": self.split,
            "n": len(self),
            "image_size": self.image_size,
            "labelled": self.y is not None,
            "fingerprint": self.fingerprint(),
            "source": self.source,
        }


def to_model_input(x: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC images (a tensor on any device) -> float NCHW in [-1, 1]: x/127.5 - 1."""
    return x.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def to_rgb(x: np.ndarray) -> np.ndarray:
    """(N, H, W) or (N, H, W, 1) greyscale -> (N, H, W, 3); RGB passes through."""
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim == 4 and x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    return x


def resize_images(x: np.ndarray, size: int) -> np.ndarray:
    """Square uint8 NHWC images resized to ``size`` (bilinear, antialiased when shrinking)."""
    if x.shape[1] == size and x.shape[2] == size:
        return x
    out = np.empty((len(x), size, size, x.shape[-1]), np.uint8)
    for i in range(0, len(x), 1024):
        t = torch.from_numpy(x[i : i + 1024]).permute(0, 3, 1, 2).float()
        t = F.interpolate(
            t, size=(size, size), mode="bilinear", align_corners=False, antialias=size < x.shape[1]
        )
        out[i : i + 1024] = t.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out
