"""The data: every dataset the harness reads, as uint8 images in one shape.

- ``images``: the ``ImageSet`` (uint8 NHWC images, int64 labels where they exist) and the
  conversions every stage shares (to RGB, resizing, to the model's [-1, 1] input);
- ``ingest``: the parallel, resumable ingestion of image files and archives into shards;
- ``formats``: the loaders of each on-disk format (npz, torchvision, SVHN .mat, folders);
- ``check``: `dcgan data`, what a data root holds and what is missing;
- this module: the registry of named datasets (each entry names its loader, splits, options
  and the recipe that makes its training pictures) and ``load``, which returns an ImageSet.

Roots come from the caller or ``DCGAN_DATA_ROOT``. Anything missing or malformed raises
``UserError`` with one line saying what was expected where. May import the package's lowest
layers (errors, registry, cache, atomic, progress); ``check`` alone reads the protocols and
the results, and nothing here imports it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..registry import add_entry
from . import formats

# re-exported: the stages use them through data.*
from .images import ImageSet, resize_images, to_model_input, to_rgb  # noqa: F401

DATA_ROOT_ENV = "DCGAN_DATA_ROOT"


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    loader: Callable[..., ImageSet]
    splits: tuple[str, ...]
    description: str
    needs_root: bool = True
    options: tuple[str, ...] = ()  # extra keyword options the loader accepts
    # how the stored images become training pictures: written into every suite row (PROTOCOL.md §1)
    recipe: str = ""

    def summary(self) -> dict:
        """What `dcgan datasets` lists."""
        return {
            "splits": list(self.splits),
            "description": self.description,
            "needs_root": self.needs_root,
            "options": list(self.options),
        }


_REGISTRY: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    return add_entry(_REGISTRY, "dataset", spec)


def names() -> list[str]:
    return list(_REGISTRY)


def spec(name: str) -> DatasetSpec:
    if name not in _REGISTRY:
        raise UserError(f"unknown dataset {name!r}; registered datasets: {', '.join(names())}")
    return _REGISTRY[name]


def resolve_root(root: str | os.PathLike | None) -> Path | None:
    root = root if root is not None else os.environ.get(DATA_ROOT_ENV) or None
    return Path(root).expanduser() if root is not None else None


def load(
    name: str,
    split: str = "train",
    root: str | os.PathLike | None = None,
    download: bool = False,
    **options,
) -> ImageSet:
    """Load dataset ``name``/``split`` from ``root`` (or ``$DCGAN_DATA_ROOT``)."""
    s = spec(name)
    if split not in s.splits:
        raise UserError(f"dataset {name!r} has no split {split!r}; splits: {', '.join(s.splits)}")
    unknown = sorted(set(options) - set(s.options))
    if unknown:
        allowed = ", ".join(s.options) or "none"
        raise UserError(
            f"dataset {name!r} takes no option(s) {', '.join(unknown)}; options: {allowed}"
        )
    path = resolve_root(root)
    if s.needs_root:
        if path is None:
            raise UserError(
                f"dataset {name!r} needs a data root: pass --data-root DIR or set {DATA_ROOT_ENV}"
            )
        if not path.exists():
            raise UserError(
                f"data root {path} does not exist (dataset {name!r}); pass --data-root with an"
                " existing path"
            )
    return s.loader(path, split, download=download, **options)


def subset(images: ImageSet, n: int | None, seed: int) -> ImageSet:
    """The first ``n`` images of a seeded permutation, in their original order (all of them when
    n is None or not smaller); its split name says which subset it is."""
    if n is None or n >= len(images):
        return images
    if n < 2:
        raise UserError(
            f"a subset of {images.name}/{images.split} needs at least 2 images; got {n}"
        )
    idx = np.sort(np.random.default_rng(seed).permutation(len(images))[:n])
    return ImageSet(
        images.x[idx],
        None if images.y is None else images.y[idx],
        images.name,
        f"{images.split}[{n} of {len(images)}, seed {seed}]",
        images.source,
        images.classes,
    )


# --- the built-in datasets (their loaders in formats.py) ---------------------------------------

register(
    DatasetSpec(
        "cifar10",
        formats.load_cifar10,
        ("train", "test"),
        "CIFAR-10: cifar10_{split}.npz or torchvision's cifar-10-batches-py/",
        recipe="CIFAR-10 as released, 32x32",
    )
)
register(
    DatasetSpec(
        "svhn",
        formats.load_svhn,
        ("train", "test", "extra"),
        "SVHN: torchvision's {split}_32x32.mat files (label 10 -> digit 0)",
        recipe="SVHN as released, 32x32",
    )
)
register(
    DatasetSpec(
        "imagenet32",
        formats.load_downsampled_imagenet(32),
        ("train", "val"),
        "downsampled ImageNet 32x32 batch files (train_data_batch_1..10, val_data)",
        recipe="Imagenet32 (squashed, not the paper's crops): Chrabaszcz et al.'s whole images"
        " box-filtered to 32x32",
    )
)
register(
    DatasetSpec(
        "imagenet64",
        formats.load_downsampled_imagenet(64),
        ("train", "val"),
        "downsampled ImageNet 64x64 batch files (train_data_batch_1..10, val_data)",
        recipe="Imagenet64 (squashed, not the paper's crops): whole images box-filtered to 64x64",
    )
)
register(
    DatasetSpec(
        "imagenet",
        formats.load_imagenet_tree,
        ("train", "val"),
        "raw ILSVRC-2012 tree <root>/<split>/<wnid>/*.JPEG, min-resized + centre-cropped, cached",
        options=("size", "cache_dir", "workers"),
        recipe="min-resized (bilinear, as OpenCV INTER_LINEAR) centre crops: the paper's recipe",
    )
)
register(
    DatasetSpec(
        "folder",
        formats.load_folder,
        ("train",),
        "any folder of images (LSUN-style), unlabelled, min-resized + centre-cropped, cached",
        options=("size", "cache_dir", "workers"),
        recipe="min-resized (bilinear) centre crops",
    )
)
register(
    DatasetSpec(
        "npz",
        formats.load_npz,
        ("train", "test", "val"),
        "an .npz with uint8 images 'x' (N, H, W, 3) and optional labels 'y'",
        options=("x_key", "y_key"),
        recipe="the .npz's images as stored",
    )
)
register(
    DatasetSpec(
        "digits",
        formats.load_digits,
        ("train", "test", "all"),
        "built in, offline: scikit-learn's handwritten digits at 32x32 (train = first 1500 of"
        " 1797)",
        needs_root=False,
        recipe="scikit-learn's 8x8 digits upscaled to 32x32",
    )
)
