"""The paper's discriminator features (PROTOCOL.md §4), streamed and cached.

1. Input x/127.5 - 1, NCHW.
2. BN population statistics: D's conv stack runs with batch statistics over a labelled pool
   in batches of 128; each batch's per-channel mean and biased variance of every BN input are
   recorded and averaged over batches, every batch weighted equally (the last partial batch
   included); then they are frozen for extraction.
3. Every conv layer's output after its activation, max-pooled to 4x4 (kernel = stride = H/4),
   flattened (channel, row, column), concatenated shallow to deep. No normalisation.

Features stream in batches into a memory-mapped ``.npy`` (float32, or float16 on request); with
frozen statistics the values do not depend on the batch size. Results are cached under a key
hashed from D's weights, the data's content, the BN pool's content, the recipe and this code's
version and text, so a protocol run twice never extracts twice.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import __version__, atomic, cache, nets
from .data import to_model_input
from .errors import UserError
from .nets import Discriminator

RECIPE = {
    "grid": 4,
    "pool": "max, kernel = stride = H/4",
    "order": "(channel, row, column), shallow to deep",
    "bn_stats": "mean over batches of 128 of each batch's mean and biased variance",
    "version": 1,
}
BN_BATCH = 128  # PROTOCOL.md §4.2


def to_input(x_uint8: np.ndarray, device) -> torch.Tensor:
    """uint8 NHWC -> float NCHW in [-1, 1] on ``device``."""
    return to_model_input(torch.from_numpy(np.ascontiguousarray(x_uint8)).to(device))


@torch.no_grad()
def with_population_stats(
    netD: Discriminator, pool_uint8: np.ndarray, device="cpu", batch_size: int = BN_BATCH
) -> Discriminator:
    """A copy of ``netD`` in eval mode whose BN layers hold the paper's population statistics,
    estimated on ``pool_uint8`` (uint8 NHWC). ``netD`` itself is left unchanged."""
    net = copy.deepcopy(netD).to(device).train()
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        # imported weights carry no statistics: give them somewhere to live
        if m.running_mean is None:
            m.track_running_stats = True
            m.running_mean = torch.zeros(m.num_features, device=device)
            m.running_var = torch.ones(m.num_features, device=device)
            m.num_batches_tracked = torch.zeros((), dtype=torch.long, device=device)
    if not bns:
        return net.eval()
    sums = {
        id(m): [torch.zeros(m.num_features, dtype=torch.float64, device=device)] * 2 for m in bns
    }
    batches = 0

    def record(module, args):
        h = args[0]
        dims = [d for d in range(h.dim()) if d != 1]
        mean = h.mean(dims, dtype=torch.float64)
        var = h.double().var(dims, unbiased=False)  # the biased variance BN normalises with
        s = sums[id(module)]
        sums[id(module)] = [s[0] + mean, s[1] + var]

    hooks = [m.register_forward_pre_hook(record) for m in bns]
    try:
        for i in range(0, len(pool_uint8), batch_size):
            # batch statistics, as in training
            net.features(to_input(pool_uint8[i : i + batch_size], device))
            batches += 1
    finally:
        for h in hooks:
            h.remove()
    if batches == 0:
        # no data: the structure only (its statistics are filled in by the caller)
        return net.eval()
    for m in bns:
        mean, var = sums[id(m)]
        m.running_mean.copy_(mean / batches)
        m.running_var.copy_(var / batches)
    return net.eval()


@torch.no_grad()
def extract(
    netD: Discriminator,
    x_uint8: np.ndarray,
    out: str | Path | None = None,
    batch_size: int = 500,
    device="cpu",
    dtype=np.float32,
    progress: bool = True,
) -> np.ndarray:
    """Pooled features of ``x_uint8`` with ``netD`` as it is (call ``with_population_stats``
    first for the paper's recipe). With ``out``, written to that ``.npy`` (atomically) and
    returned memory-mapped; else returned in memory."""
    from .progress import bar

    netD = netD.to(device).eval()
    dim = netD.variant.feature_dim

    def fill(feats):
        for i in bar(
            range(0, len(x_uint8), batch_size), desc="features", unit="batch", disable=not progress
        ):
            f = netD.pooled_features(to_input(x_uint8[i : i + batch_size], device))
            feats[i : i + len(f)] = f.cpu().numpy().astype(dtype, copy=False)
        return feats

    if out is None:
        return fill(np.empty((len(x_uint8), dim), dtype))
    with atomic.replacing(out) as tmp:
        fill(
            np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(len(x_uint8), dim))
        ).flush()
    return np.load(out, mmap_mode="r")


def weights_hash(net: nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in net.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def cache_key(netD: Discriminator, data_fingerprint: str, bn: str, dtype) -> str:
    """Everything that changes the numbers: D's weights, the images, where the BN statistics
    came from, the recipe, the dtype, this code's version and the code the values pass through."""
    return cache.key(
        {
            "weights": weights_hash(netD),
            "data": data_fingerprint,
            "bn": bn,
            "recipe": RECIPE,
            "dtype": np.dtype(dtype).name,
            "code": __version__,
            "feature_code": CODE_FINGERPRINT,
        }
    )


def cached_population_stats(
    netD: Discriminator, pool, cache_dir: str | Path | None, device
) -> Discriminator:
    """``with_population_stats`` on ``pool``, with the statistics kept on disk (keyed on D's
    weights and the pool's content), so extracting a second split does not pass over the pool
    again."""
    key = cache.key(
        {
            "weights": weights_hash(netD),
            "pool": pool.fingerprint(),
            "recipe": RECIPE,
            "code": __version__,
            "feature_code": CODE_FINGERPRINT,
        }
    )
    path = cache.root(cache_dir) / "bn-stats" / f"{key}.pt"
    if path.exists():
        stats = torch.load(path, map_location=device, weights_only=True)
        # the same structure, no pass over data
        net = with_population_stats(netD, pool.x[:0], device)
        bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for m, (mean, var) in zip(bns, stats, strict=True):
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
        return net
    net = with_population_stats(netD, pool.x, device)
    stats = [
        (m.running_mean.cpu(), m.running_var.cpu())
        for m in net.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    with atomic.replacing(path) as tmp:
        torch.save(stats, tmp)
    return net


def cached_features(
    netD: Discriminator,
    images,
    bn_pool=None,
    bn_stats: str = "pool",
    cache_dir: str | Path | None = None,
    batch_size: int = 500,
    device="cpu",
    dtype=np.float32,
    progress: bool = True,
) -> tuple[np.ndarray, dict]:
    """The paper's features of ``images`` (a ``data.ImageSet``), cached on disk.

    ``bn_stats``: "pool" estimates population statistics on ``bn_pool`` (an ImageSet; the
    paper's default is the probe's labelled training pool); "running" uses the checkpoint's
    own running statistics (only for nets trained here). Returns (features, record).
    """
    if bn_stats == "pool":
        if bn_pool is None:
            raise UserError("bn_stats='pool' needs the pool of images to estimate BN statistics on")
        if len(bn_pool) == 0:
            raise UserError("the pool for BN statistics is empty")
        bn = f"pool:{bn_pool.name}/{bn_pool.split}:{bn_pool.fingerprint()}"
    elif bn_stats == "running":
        bn = "running"
    else:
        raise UserError(f"bn_stats must be pool or running; got {bn_stats!r}")
    key = cache_key(netD, images.fingerprint(), bn, dtype)
    path = cache.root(cache_dir) / "features" / f"{key}.npy"
    record = {
        "cache": str(path),
        "key": key,
        "bn_stats": bn,
        "n": len(images),
        "feature_dim": netD.variant.feature_dim,
        "dtype": np.dtype(dtype).name,
        "dataset": images.name,
        "split": images.split,
    }
    if path.exists():
        return np.load(path, mmap_mode="r"), {**record, "cached": True}
    net = cached_population_stats(netD, bn_pool, cache_dir, device) if bn_stats == "pool" else netD
    return extract(net, images.x, path, batch_size, device, dtype, progress), {
        **record,
        "cached": False,
    }


def read_rows(
    path: str | Path, order: np.ndarray | None = None, block_bytes: int = 64 << 20
) -> np.ndarray:
    """Rows ``order`` (default: all) of a cached feature file, in that order, as one in-memory
    array. The file is read sequentially in blocks, not memory-mapped: pages of a mapping count
    as resident memory, and for cifar10-full's 5.7 GB of features a mapped read would hold the
    file and its copy at once."""
    with open(path, "rb") as fh:
        major, _ = np.lib.format.read_magic(fh)
        read_header = (
            np.lib.format.read_array_header_1_0
            if major == 1
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read_header(fh)
        if fortran or len(shape) != 2:
            raise UserError(
                f"{path} is not a feature file (a C-ordered 2-d array); delete it and it will be"
                " recomputed"
            )
        n, d = shape
        order = np.arange(n) if order is None else np.asarray(order)
        dest = np.full(n, -1)
        dest[order] = np.arange(len(order))
        out = np.empty((len(order), d), dtype)
        rows = max(1, block_bytes // (d * dtype.itemsize))
        buf = np.empty((rows, d), dtype)
        for start in range(0, n, rows):
            m = min(rows, n - start)
            if fh.readinto(buf[:m]) != m * d * dtype.itemsize:
                raise UserError(f"{path} is truncated; delete it and it will be recomputed")
            to = dest[start : start + m]
            keep = to >= 0
            if keep.all():  # every row of the block wanted: no masked copy of the block first
                out[to] = buf[:m]
            else:
                out[to[keep]] = buf[:m][keep]
    return out


def _code_fingerprint() -> str:
    """A hash of the code every feature value passes through: the input scaling, the BN
    statistics, D's layers and the pooling. Cached features and statistics are reused only while
    it is unchanged (the package version alone would let a changed recipe reuse old features);
    editing G, the trainer or this module's caching does not throw away hours of extraction.
    Taken once, at import: the code that was loaded, whatever is patched in later."""
    return cache.code_fingerprint(
        to_model_input,
        to_input,
        with_population_stats,
        extract,
        nets._conv,
        nets._activation,
        nets.Discriminator,
    )


CODE_FINGERPRINT = _code_fingerprint()
