"""A protocol's features for one discriminator or extractor, in memory: the training rows in the
order [validation, pool] and the test rows, each read once from the feature cache, standardised
where the extractor's recipe says so, with the records of where they came from.
Imports below the probe: data, features, extractors, protocols."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import data, extractors, features
from ..errors import UserError
from ..protocols import Protocol, labelled_pool, split


@dataclass
class Prepared:
    """A protocol's features for one D, in memory: the training rows in the order
    [validation, pool], the test rows, and the records of where they came from."""

    f_train: np.ndarray
    y_train: np.ndarray
    f_test: np.ndarray
    y_test: np.ndarray
    n_val: int
    rec_train: dict
    rec_test: dict
    seconds_features: float
    n_train: int

    @property
    def pool_idx(self) -> np.ndarray:
        """The pool's positions in f_train, in the shuffled order: a draw picks the same images
        as ``draw(pool_idx, train.y, ...)`` on the dataset would."""
        return np.arange(self.n_val, len(self.f_train))

    @property
    def f_val(self) -> np.ndarray:
        return self.f_train[: self.n_val]

    @property
    def y_val(self) -> np.ndarray:
        return self.y_train[: self.n_val]


def standardise(f_train: np.ndarray, f_test: np.ndarray, n_val: int, eps: float) -> str:
    """In place: both splits' features as (f - mean) / sqrt(var + eps), mean and variance (n - 1,
    as MATLAB's var) over the pool rows ``f_train[n_val:]`` only (the K-means recipe's last
    step, Coates et al.'s ``trainXC_mean``, ``trainXC_sd``). Returns what it did, for the rows."""
    pool = f_train[n_val:]
    mean = pool.mean(0, dtype=np.float64)
    var = pool.var(0, dtype=np.float64, ddof=1)
    scale = (1.0 / np.sqrt(var + eps)).astype(np.float32)
    mean = mean.astype(np.float32)
    for f in (f_train, f_test):
        for i in range(0, len(f), 4096):  # in blocks: no second copy of 50,000 rows
            f[i : i + 4096] -= mean
            f[i : i + 4096] *= scale
    return f"(f - mean) / sqrt(var + {eps:g}) over the {len(pool)} pool images"


def data_note(images) -> str:
    """What a reader must know about where the images came from: an .npz whose own ``source``
    says it was re-encoded lossily (our CIFAR-10 copy: JPEG q75) is named as such, since it can
    cost a probe accuracy; else empty."""
    path = Path(str(images.source))
    if path.suffix != ".npz" or not path.is_file():
        return ""
    try:
        with np.load(path, allow_pickle=False) as z:
            said = str(z["source"]) if "source" in z.files else ""
    except (OSError, ValueError, KeyError):
        return ""
    if "jpeg" in said.lower() or "lossy" in said.lower():
        kind = "JPEG re-encoded" if "jpeg" in said.lower() else "lossily re-encoded"
        return f"this {images.name} copy is {kind} ({path.name}); it can cost accuracy"
    return ""


def _as_extractor(netD_or_extractor) -> extractors.Extractor:
    """An extractor as it is; a discriminator as the paper's D features."""
    if isinstance(netD_or_extractor, extractors.Extractor):
        return netD_or_extractor
    return extractors.discriminator(netD_or_extractor)


def prepare(
    netD,
    protocol: Protocol,
    data_root,
    device,
    cache_dir,
    progress: bool,
    download: bool,
    log=print,
) -> Prepared:
    train = data.load(protocol.dataset, "train", data_root, download=download)
    test = data.load(protocol.dataset, protocol.test_split, data_root, download=download)
    for images in (train, test):
        if images.y is None:  # scoring unlabelled images would report 0% as if measured
            raise UserError(
                f"{protocol.dataset}/{images.split} has no labels; a probe needs labelled train"
                " and test splits"
            )
    val_idx, pool_idx = split(len(train), protocol.val_size, protocol.split_seed)
    pool = labelled_pool(protocol, train)
    extractor = _as_extractor(netD)
    t0 = time.perf_counter()
    _, rec_train = extractor.cached_features(train, pool, cache_dir, device, progress, log)
    _, rec_test = extractor.cached_features(test, pool, cache_dir, device, progress, log)
    t_features = time.perf_counter() - t0
    # In memory once (one sequential read of each cache file: random row reads from a memmap
    # for every draw cost more than the fits), the training rows in the order [validation, pool]:
    # the validation and pool features are then views of one array, not copies, which keeps
    # cifar10-full (50,000 x 28672 float32, 5.7 GB) at one copy of its features.
    order = np.concatenate([val_idx, pool_idx])
    f_train = features.read_rows(rec_train["cache"], order)
    f_test = features.read_rows(rec_test["cache"])
    rec_train["data_note"] = data_note(train)
    if extractor.standardise_eps is not None:
        rec_train["standardised"] = standardise(
            f_train, f_test, len(val_idx), extractor.standardise_eps
        )
    return Prepared(
        f_train,
        train.y[order],
        f_test,
        test.y,
        len(val_idx),
        rec_train,
        rec_test,
        t_features,
        len(train),
    )


def rows_of(f: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """f[idx], as a view where idx is a run of consecutive rows (the whole pool), else a copy."""
    if len(idx) and idx[-1] - idx[0] + 1 == len(idx) and np.all(np.diff(idx) == 1):
        return f[idx[0] : idx[-1] + 1]
    return f[idx]
