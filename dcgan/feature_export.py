"""A split's features into an .npy (`dcgan features`): a D's, with BN statistics from the probe's
labelled pool by default, or any extractor's, standardised as its recipe says: the very features
`dcgan probe` fits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import atomic, checkpoint, data, extractors, features, runtime
from .errors import UserError, refuse_overwrite
from .probing.prepare import standardise
from .protocols import labelled_pool, protocol_for
from .protocols import split as split_pool  # where a parameter named split hides split


def export_features(
    ckpt,
    dataset: str,
    out,
    split: str = "train",
    data_root=None,
    data_options: dict | None = None,
    bn_stats: str = "pool",
    bn_pool: str | None = None,
    batch_size: int = 500,
    float16: bool = False,
    cache_dir=None,
    device="auto",
    force: bool = False,
    progress: bool = True,
    extractor: str | None = None,
    sets: list[str] | None = None,
) -> dict:
    """The `dcgan features` command's work: D's features of a split into an .npy. BN statistics
    (``bn_stats="pool"``) come from ``bn_pool`` ("DATASET:SPLIT"), by default the labelled pool
    the probe uses for this dataset, so these are the very features `dcgan probe` fits.
    ``extractor``: another extractor's instead (``export_extractor``), a registered name or
    ``module.path:callable``, with ``sets`` as KEY=VALUE."""
    out = Path(out)
    refuse_overwrite(out, force)
    device = runtime.pick_device(device)
    if extractor is not None:
        if ckpt or bn_pool or bn_stats != "pool" or float16:
            raise UserError(
                "--features takes none of --ckpt, --bn-stats, --bn-pool, --float16 (they are"
                " the discriminator's)"
            )
        return export_extractor(
            extractors.resolve(extractor, sets),
            dataset,
            out,
            split,
            data_root,
            data_options,
            cache_dir,
            device,
            progress,
        )
    if sets:
        raise UserError("--set is for --features EXTRACTOR (e.g. --features kmeans --set K=400)")
    if not ckpt:
        raise UserError("give --ckpt CKPT (a D's features) or --features EXTRACTOR")
    v, _, netD, state = checkpoint.load_models(ckpt, device)
    if bn_stats == "running" and state.get("bn_stats") == "none":
        raise UserError(
            f"{ckpt} has no BN running statistics (imported weights); use --bn-stats pool"
        )
    opts = data_options or {}
    images = data.load(dataset, split, data_root, **opts)
    if images.image_size != v.image_size:
        raise UserError(
            f"{dataset}/{split} images are {images.image_size} px but {v.name} takes"
            f" {v.image_size} px"
        )
    pool = None
    protocol = protocol_for(dataset)
    if bn_stats == "pool" and bn_pool is None and protocol is not None:
        train = images if split == "train" else data.load(dataset, "train", data_root, **opts)
        pool = labelled_pool(protocol, train)
    elif bn_stats == "pool":
        pool_name, _, pool_split = (bn_pool or f"{dataset}:train").partition(":")
        pool = (
            images
            if (pool_name, pool_split or "train") == (dataset, split)
            else data.load(
                pool_name,
                pool_split or "train",
                data_root,
                **(opts if pool_name == dataset else {}),
            )
        )
    feats, record = features.cached_features(
        netD,
        images,
        pool,
        bn_stats,
        cache_dir,
        batch_size,
        device,
        np.float16 if float16 else np.float32,
        progress=progress,
    )
    with atomic.replacing(out) as tmp:
        np.save(tmp, np.asarray(feats))
    return {
        "out": str(out),
        "shape": list(feats.shape),
        "variant": v.name,
        "checkpoint": str(checkpoint.resolve(ckpt)),
        **record,
    }


def export_extractor(
    extractor: extractors.Extractor,
    dataset: str,
    out: Path,
    split: str,
    data_root,
    data_options: dict | None,
    cache_dir,
    device,
    progress: bool,
) -> dict:
    """An extractor's features of a split into an .npy, the very ones `dcgan probe` fits: fitted
    on the probe's unlabelled pool for the dataset (its train split where no protocol probes it)
    and, where the extractor's recipe standardises, standardised over that pool."""
    opts = data_options or {}
    images = data.load(dataset, split, data_root, **opts)
    protocol = protocol_for(dataset)
    train = images if split == "train" else data.load(dataset, "train", data_root, **opts)
    pool = labelled_pool(protocol, train) if protocol is not None else train
    f, record = extractor.cached_features(images, pool, cache_dir, device, progress)
    f = np.array(f, dtype=np.float32)
    if extractor.standardise_eps is not None:
        # the pool's features are rows of the train split's, the very cache entry the probe
        # fills: read from there, not encoded a second time
        _, rec_train = extractor.cached_features(train, pool, cache_dir, device, progress)
        pool_idx = (
            split_pool(len(train), protocol.val_size, protocol.split_seed)[1]
            if protocol is not None
            else None
        )
        record["standardised"] = standardise(
            features.read_rows(rec_train["cache"], pool_idx), f, 0, extractor.standardise_eps
        )
    with atomic.replacing(out) as tmp:
        np.save(tmp, f)
    return {"out": str(out), "shape": list(f.shape), "variant": extractor.label, **record}
