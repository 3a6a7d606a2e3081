"""Stand-in data for the paper suite at smoke scale, made from real images in ../shared/data.

The paper suite needs ImageNet (a raw ILSVRC-2012 tree for the paper's min-resized centre
crops, or Imagenet32's batch files), CIFAR-10 and SVHN. None of ImageNet's or SVHN's own files
can be shipped, so the smoke scale runs on small folders in each dataset's own file format,
filled with real photographs:

- ``train/<wnid>/*.JPEG``: imagenet_sample.npz's 1,000 ImageNet images (one per class, 64x64),
  written as JPEGs: the raw tree the harness min-resizes and centre-crops like the paper;
- ``Imagenet32_train/train_data_batch_1`` and ``Imagenet32_val/val_data``: the same images at
  32x32 in Chrabaszcz et al.'s pickled batch format (channel planes, 1-based labels);
- ``train_32x32.mat`` / ``test_32x32.mat``: SVHN's MATLAB format (X is 32x32x3xN, label 10 is
  digit 0), filled with CIFAR-10 training images disjoint from the CIFAR-10 stand-in below
  (real photographs with real labels, so the probe has something to find; not digits);
- ``cifar10_train.npz`` / ``cifar10_test.npz``: the first images of the real CIFAR-10 train
  split and a class-balanced part of its test split.

Numbers measured on this data check that the route runs end to end; they are not the paper's.

    tox -e standin -- DEST [--source ../shared/data]     (or: python bench/standin.py DEST ...)
    DCGAN_DATA_ROOT=DEST tox -e bench -- --suite paper --scale smoke
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make `dcgan` importable from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dcgan import argtypes as A  # noqa: E402
from dcgan.errors import UserError  # noqa: E402

SIZES = {"cifar10_train": 2000, "cifar10_test": 500, "svhn_train": 1200, "svhn_test": 500}
# SVHN's stand-in images: CIFAR-10 train images from here, never in the CIFAR-10 stand-in
_SVHN_FROM = 20_000


def _need(src: Path, name: str) -> Path:
    path = src / name
    if not path.is_file():
        raise UserError(
            f"{path} is missing; point --source at the shared data folder (../shared/data)"
        )
    return path


def _balanced(y: np.ndarray, n: int) -> np.ndarray:
    """The first n/10 images of each class, in their original order."""
    return np.sort(np.concatenate([np.flatnonzero(y == c)[: n // 10] for c in range(10)]))


def _imagenet_tree(x64: np.ndarray, wnids: np.ndarray, dest: Path) -> None:
    from PIL import Image

    for i, (img, wnid) in enumerate(zip(x64, wnids, strict=True)):
        folder = dest / "train" / str(wnid)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{wnid}_{i}.JPEG", quality=95)


def _imagenet32_batch(x32: np.ndarray, y: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # all R, then G, then B
    planes = np.ascontiguousarray(x32.transpose(0, 3, 1, 2).reshape(len(x32), -1))
    with open(path, "wb") as f:
        pickle.dump({"data": planes, "labels": [int(v) + 1 for v in y]}, f)  # labels are 1-based


def _svhn_mat(x: np.ndarray, y: np.ndarray, path: Path) -> None:
    import scipy.io

    labels = np.where(y == 0, 10, y).astype(np.uint8).reshape(-1, 1)  # SVHN stores digit 0 as 10
    scipy.io.savemat(str(path), {"X": np.ascontiguousarray(x.transpose(1, 2, 3, 0)), "y": labels})


def build(src, dest) -> Path:
    """Write the stand-in data root ``dest`` from the shared data folder ``src``; returns dest."""
    src, dest = Path(src), Path(dest)
    imagenet = np.load(_need(src, "imagenet_sample.npz"))
    train = np.load(_need(src, "cifar10_train.npz"))
    test = np.load(_need(src, "cifar10_test.npz"))
    if dest.is_dir() and any(dest.iterdir()) and not (dest / "STANDIN.md").is_file():
        raise UserError(
            f"{dest} holds other files; give an empty or new folder (nothing there is overwritten)"
        )
    dest.mkdir(parents=True, exist_ok=True)

    _imagenet_tree(imagenet["x64"], imagenet["wnids"], dest)
    _imagenet32_batch(
        imagenet["x32"], imagenet["y"], dest / "Imagenet32_train" / "train_data_batch_1"
    )
    _imagenet32_batch(
        imagenet["x32"][:100], imagenet["y"][:100], dest / "Imagenet32_val" / "val_data"
    )

    x, y = train["x"], train["y"]
    n = SIZES["cifar10_train"]
    np.savez(dest / "cifar10_train.npz", x=x[:n], y=y[:n], classes=train["classes"])
    keep = _balanced(test["y"], SIZES["cifar10_test"])
    np.savez(
        dest / "cifar10_test.npz", x=test["x"][keep], y=test["y"][keep], classes=test["classes"]
    )

    pool = np.arange(_SVHN_FROM, len(x))
    svhn_train = pool[_balanced(y[pool], SIZES["svhn_train"])]
    svhn_test = pool[_balanced(y[pool], SIZES["svhn_train"] + SIZES["svhn_test"])]
    svhn_test = np.setdiff1d(svhn_test, svhn_train)
    _svhn_mat(x[svhn_train], y[svhn_train], dest / "train_32x32.mat")
    _svhn_mat(x[svhn_test], y[svhn_test], dest / "test_32x32.mat")

    (dest / "STANDIN.md").write_text(
        "Stand-in data for `--suite paper --scale smoke`, written by bench/standin.py from the"
        " real images in\n"
        f"{src}. Not ImageNet, SVHN or CIFAR-10 as released: see bench/standin.py for what each"
        " file holds.\n"
        "Numbers measured on it check that the paper's route runs end to end; they are not the"
        " paper's.\n"
    )
    return dest


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="write the smoke-scale stand-in data root")
    p.add_argument("dest", type=A.Folder(), help="the folder to write (use it as DCGAN_DATA_ROOT)")
    p.add_argument(
        "--source",
        default=str(Path(__file__).resolve().parents[2] / "shared" / "data"),
        type=A.Text("a folder path"),
        help="the shared data folder with imagenet_sample.npz and cifar10_{train,test}.npz",
    )
    return A.explain(p)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        print(build(args.source, args.dest))
    except UserError as e:
        print(f"standin: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
