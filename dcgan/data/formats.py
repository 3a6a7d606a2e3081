"""The built-in dataset formats' loaders (data/__init__.py registers each by name): CIFAR-10 (the
``.npz`` files of ../shared/data, or torchvision's ``cifar-10-batches-py``), SVHN (torchvision's
``.mat`` files), downsampled ImageNet (Chrabaszcz et al. 2017 batch files, pickled or ``.npz``),
a raw ImageNet tree of class folders of JPEGs (or its train tar), any folder of images, an
``.npz`` of arrays, and scikit-learn's bundled handwritten digits as the offline default.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import cache
from ..errors import UserError
from .images import ImageSet, resize_images, to_rgb
from .ingest import TRAIN_TAR, extract_train_tar, image_files, ingest_files


def _load_npz_arrays(
    path: Path, x_key: str = "x", y_key: str = "y"
) -> tuple[np.ndarray, np.ndarray | None, dict]:
    try:
        with np.load(path, allow_pickle=False) as d:
            if x_key not in d.files:
                raise UserError(
                    f"{path} has no array {x_key!r} (it has {', '.join(d.files)}); images must be"
                    f" under {x_key!r}"
                )
            x = d[x_key]
            y = d[y_key] if y_key in d.files else None
            extra = {k: d[k] for k in ("classes",) if k in d.files}
    except UserError:
        raise
    except Exception as e:  # zipfile.BadZipFile, ValueError (object arrays), OSError
        raise UserError(
            f"{path} is not a readable .npz of plain arrays ({type(e).__name__}: {e}); re-create"
            " it with numpy.savez"
        ) from None
    if x.dtype != np.uint8:
        raise UserError(
            f"{path}: {x_key!r} must be uint8 images (N, H, W, 3) in 0..255; got {x.dtype}"
            f" {x.shape}"
        )
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3)):
        raise UserError(
            f"{path}: {x_key!r} must be (N, H, W, 3) or greyscale (N, H, W); got shape {x.shape}"
        )
    if x.shape[1] != x.shape[2]:  # the nets and the 4x4 feature grid take square images
        raise UserError(
            f"{path}: {x_key!r} images are {x.shape[1]}x{x.shape[2]}; they must be square (crop or"
            " resize them first)"
        )
    if y is not None and len(np.asarray(y).reshape(-1)) != len(x):
        raise UserError(
            f"{path}: {len(np.asarray(y).reshape(-1))} labels {y_key!r} for {len(x)} images; they"
            " must match one to one"
        )
    if y is not None:
        y = np.asarray(y).astype(np.int64).reshape(-1)
    return to_rgb(x), y, extra


# --- cifar10 ---------------------------------------------------------------------------------


def load_cifar10(root: Path, split: str, download: bool = False) -> ImageSet:
    npz = root / f"cifar10_{split}.npz"
    if npz.exists():
        x, y, extra = _load_npz_arrays(npz)
        classes = [str(c) for c in extra["classes"]] if "classes" in extra else None
        return ImageSet(x, y, "cifar10", split, str(npz), classes)
    tv_dir = root / "cifar-10-batches-py"
    if tv_dir.exists() or download:
        from torchvision.datasets import CIFAR10

        # torchvision checks every batch file against the official MD5 before reading it
        try:
            ds = CIFAR10(str(root), train=split == "train", download=download)
        except RuntimeError as e:  # torchvision: missing or corrupt batch files
            raise UserError(
                f"{tv_dir}: {e} (re-download with --download or use cifar10_{split}.npz)"
            ) from None
        except OSError as e:  # no network (URLError is an OSError)
            raise UserError(
                f"could not download CIFAR-10 into {root} ({e}); put cifar10_{split}.npz or"
                " cifar-10-batches-py/ there"
            ) from None
        return ImageSet(
            np.asarray(ds.data),
            np.asarray(ds.targets, np.int64),
            "cifar10",
            split,
            str(tv_dir),
            list(ds.classes),
        )
    raise UserError(
        f"no CIFAR-10 under {root}: expected cifar10_{split}.npz or torchvision's"
        " cifar-10-batches-py/ (add --download to fetch it)"
    )


# --- svhn ------------------------------------------------------------------------------------


def load_svhn(root: Path, split: str, download: bool = False) -> ImageSet:
    name = f"{split}_32x32.mat"
    candidates = [root / name, root / "svhn" / name]
    path = next((p for p in candidates if p.exists()), None)
    if path is None and download:
        from torchvision.datasets import SVHN

        try:
            SVHN(str(root), split=split, download=True)
        except OSError as e:  # no network (URLError is an OSError)
            raise UserError(
                f"could not download SVHN {split} into {root} ({e}); put {name} there"
            ) from None
        path = root / name
    if path is None:
        raise UserError(
            f"no SVHN {split} split: expected {candidates[0]} (torchvision's format; add"
            " --download to fetch it)"
        )
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
        X, y = mat["X"], mat["y"]
    except Exception as e:
        raise UserError(
            f"{path} is not a readable SVHN .mat file with arrays X and y ({type(e).__name__}:"
            f" {e}); download it again"
        ) from None
    if X.ndim != 4 or X.shape[:3] != (32, 32, 3) or X.dtype != np.uint8:
        raise UserError(
            f"{path}: X must be uint8 (32, 32, 3, N) as in SVHN's format; got {X.dtype} {X.shape}"
        )
    y = np.asarray(y, np.int64).reshape(-1)
    y[y == 10] = 0  # SVHN stores digit 0 as label 10
    return ImageSet(
        np.ascontiguousarray(X.transpose(3, 0, 1, 2)),
        y,
        "svhn",
        split,
        str(path),
        [str(i) for i in range(10)],
    )


# --- downsampled ImageNet (Chrabaszcz et al. 2017) ---------------------------------------------


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Reads the downsampled-ImageNet batch pickles, which hold only numpy arrays, lists and
    numbers; any other global in the file is refused, so a hostile file cannot run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def _read_imagenet_batch(path: Path) -> dict:
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as d:
                return {k: d[k] for k in d.files}
        with open(path, "rb") as f:
            return _NumpyOnlyUnpickler(io.BufferedReader(f), encoding="latin1").load()
    except Exception as e:
        raise UserError(
            f"{path} is not a downsampled-ImageNet batch file ({type(e).__name__}: {e}); download"
            " it again"
        ) from None


def load_downsampled_imagenet(size: int) -> Callable[..., ImageSet]:
    def load_batches(root: Path, split: str, download: bool = False) -> ImageSet:
        stems = (
            [f"train_data_batch_{i}" for i in range(1, 11)] if split == "train" else ["val_data"]
        )
        dirs = [root, root / f"Imagenet{size}_{split}", root / f"imagenet{size}"]
        files = []
        for stem in stems:
            found = [d / n for d in dirs for n in (stem, stem + ".npz") if (d / n).exists()]
            files += found[:1]
        if not files:
            raise UserError(
                f"no downsampled ImageNet {size}x{size} {split} files under {root}: expected"
                f" {stems[0]} (or {stems[0]}.npz), as in Imagenet{size}_{split}.zip"
            )
        xs, ys = [], []
        for path in files:
            d = _read_imagenet_batch(path)
            if "data" not in d or "labels" not in d:
                raise UserError(
                    f"{path}: expected keys 'data' and 'labels'; got {', '.join(map(str, d))}"
                )
            data = np.asarray(d["data"])
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * size * size:
                raise UserError(
                    f"{path}: 'data' must be uint8 (N, {3 * size * size}) for {size}x{size}"
                    f" images; got {data.dtype} {data.shape}"
                )
            # rows are channel planes (all R, then G, then B), each row-major
            xs.append(data.reshape(-1, 3, size, size).transpose(0, 2, 3, 1))
            ys.append(np.asarray(d["labels"], np.int64).reshape(-1) - 1)  # labels are 1-based
        x, y = np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys)
        if y.min() < 0 or y.max() > 999:
            raise UserError(
                f"downsampled ImageNet labels under {root} must be 1..1000; got"
                f" {y.min() + 1}..{y.max() + 1}"
            )
        return ImageSet(
            x, y, f"imagenet{size}", split, f"{len(files)} batch file(s) under {files[0].parent}"
        )

    return load_batches


# --- image files: a raw ImageNet tree, or any folder ------------------------------------------


def load_imagenet_tree(
    root: Path,
    split: str,
    download: bool = False,
    size: int | str = 32,
    cache_dir: str | None = None,
    workers: int | str | None = None,
) -> ImageSet:
    if split == "train" and (root / TRAIN_TAR).is_file() and not (root / "train").is_dir():
        # the tar as downloaded: extracted (safely, resumably) into the cache, then read as a tree
        root = extract_train_tar(
            root / TRAIN_TAR, cache.root(cache_dir) / "imagenet-extracted" / "train"
        ).parent
    folder = root / split if (root / split).is_dir() else root
    class_dirs = sorted(d for d in folder.iterdir() if d.is_dir()) if folder.is_dir() else []
    if not class_dirs:
        # the train split also comes as its tar; the val split as distributed is one flat folder
        other = (
            f", or the downloaded {root / TRAIN_TAR}"
            if split == "train"
            else "; the validation images as distributed lie in one flat folder: move each into"
            " its class's <wnid> folder first (the devkit's ground truth names it)"
        )
        raise UserError(
            f"no ImageNet class folders under {folder}: expected {folder}/<wnid>/*.JPEG (the"
            f" ILSVRC-2012 {split} tree){other}"
        )
    files, labels = [], []
    for label, d in enumerate(class_dirs):
        found = image_files(d)
        files += found
        labels += [label] * len(found)
    if not files:
        raise UserError(f"the class folders under {folder} hold no image files (.JPEG, .png, ...)")
    return ingest_files(
        files,
        np.asarray(labels, np.int64),
        int(size),
        "imagenet",
        split,
        str(folder),
        cache_dir,
        int(workers) if workers else None,
        [d.name for d in class_dirs],
    )


def load_folder(
    root: Path,
    split: str,
    download: bool = False,
    size: int | str = 32,
    cache_dir: str | None = None,
    workers: int | str | None = None,
) -> ImageSet:
    if not root.is_dir():
        raise UserError(f"{root} is not a folder of images")
    files = image_files(root)
    if not files:
        raise UserError(f"no image files (.jpg, .png, ...) under {root}")
    return ingest_files(
        files,
        None,
        int(size),
        "folder",
        split,
        str(root),
        cache_dir,
        int(workers) if workers else None,
    )


# --- npz -------------------------------------------------------------------------------------


def load_npz(
    root: Path, split: str, download: bool = False, x_key: str = "x", y_key: str = "y"
) -> ImageSet:
    path = root if root.is_file() else root / f"{split}.npz"
    if not path.exists():
        raise UserError(f"no {path}: give --data-root a .npz file, or a folder holding {split}.npz")
    x, y, extra = _load_npz_arrays(path, x_key, y_key)
    classes = [str(c) for c in extra["classes"]] if "classes" in extra else None
    return ImageSet(x, y, "npz", split, str(path), classes)


# --- the built-in offline default ------------------------------------------------------------


def load_digits(root: Path | None, split: str, download: bool = False) -> ImageSet:
    """scikit-learn's bundled handwritten digits (real scans, 8x8, 17 grey levels), upscaled
    to 32x32 RGB. Needs no file and no network: the default of the offline main job."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images * (255.0 / 16.0)).round().astype(np.uint8)  # (1797, 8, 8), 0..16 -> 0..255
    x = resize_images(to_rgb(x), 32)
    y = d.target.astype(np.int64)
    part = {"train": slice(0, 1500), "test": slice(1500, None), "all": slice(None)}[split]
    return ImageSet(
        np.ascontiguousarray(x[part]),
        y[part],
        "digits",
        split,
        "sklearn.datasets.load_digits (bundled)",
        [str(i) for i in range(10)],
    )
