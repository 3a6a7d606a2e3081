"""Generative quality through torch-fidelity (PROTOCOL.md §7): IS, FID, KID, precision/recall.

What this module adds to a direct torch-fidelity call, and why:

- One adapter (``GeneratorAdapter``) feeds G to torch-fidelity's generator wrapper: torch-fidelity
  draws z (numpy ``RandomState(seed)``, batch by batch, on the device when CUDA is used), the
  adapter maps it to the variant's prior and G's [-1, 1] output to uint8. No image touches disk.
- Reference images are registered with torch-fidelity under a name that carries a hash of their
  content (dataset, split and the exact images used), and torch-fidelity's cache lives in a
  folder named by the Inception weights' hash: torch-fidelity keys its cache on a name only,
  so a changed dataset or other weights would otherwise reuse stale statistics.
- The Inception weights are checked, and torch-fidelity's cache is checked before each call,
  in inception_weights.py: only the standard file's numbers are called IS / FID / KID.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import cache, checkpoint, data, nets, results, runtime
from ..data import ImageSet
from ..errors import UserError, check_writable_dir
from . import metrics as registry  # `metrics` is compute()'s argument
from .inception_weights import InceptionWeights, resolve_weights, verify_cache

FEATURE_EXTRACTOR = "inception-v3-compat"
ROW_FIELDS = [
    "time",
    "variant",
    "checkpoint",
    "metric",
    "value",
    "std",
    "n_fake",
    "n_real",
    "reference",
    "reference_fingerprint",
    "inception_standard",
    "inception_sha256",
    "resize",
    "batch_size",
    "rng_seed",
    "z_type",
    "kid_subset_size",
    "kid_subsets",
    "isc_splits",
    "prc_features",
    "torch_fidelity",
    "device",
    "dcgan_bench",
    "git_revision",
]


class GeneratorAdapter(nn.Module):
    """z as torch-fidelity draws it -> G -> uint8 NCHW RGB, as torch-fidelity's Inception takes.

    torch-fidelity draws "uniform_0_1" or "normal" noise; a variant with a U(-1, 1) prior gets
    2u - 1. G's tanh output in [-1, 1] becomes round((x + 1) * 127.5), the inverse of how
    training images were scaled. Grey images are repeated to three channels."""

    def __init__(self, netG: nn.Module, z_dist: str):
        super().__init__()
        self.netG, self.z_dist = netG, z_dist

    @property
    def z_type(self) -> str:
        return "uniform_0_1" if self.z_dist == "uniform" else "normal"

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.z_dist == "uniform":
            z = z * 2 - 1
        x = nets.to_uint8(self.netG(z))  # uint8 NCHW, as torch-fidelity takes images
        # its Inception takes three channels
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def generator_input(netG: nn.Module, variant, device):
    import torch_fidelity

    adapter = GeneratorAdapter(netG.to(device), variant.z_dist)
    # eval mode: BN uses running statistics, or batch statistics for imported nets that have none
    return torch_fidelity.GenerativeModelModuleWrapper(
        adapter, variant.nz, adapter.z_type, 0, make_eval=True
    )


class ImagesDataset(torch.utils.data.Dataset):
    """An ImageSet as torch-fidelity reads a dataset: uint8 CHW RGB tensors."""

    def __init__(self, x_uint8: np.ndarray):
        self.x = x_uint8

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(self.x[i])).permute(2, 0, 1)
        return t.expand(3, -1, -1) if t.shape[0] == 1 else t


def register_reference(images: ImageSet) -> str:
    """Register ``images`` with torch-fidelity under a name carrying their content hash (the
    name is torch-fidelity's cache key); returns the name."""
    import torch_fidelity
    from torch_fidelity.registry import DATASETS_REGISTRY

    name = f"dcgan-{images.name}-{images.split}-{images.fingerprint()}"
    if name not in DATASETS_REGISTRY:
        torch_fidelity.register_dataset(name, lambda root, download: ImagesDataset(images.x))
    return name


def compute(
    netG,
    variant,
    reference: ImageSet,
    n_fake: int,
    weights: InceptionWeights,
    metrics=None,
    batch_size: int = 64,
    device="cpu",
    seed: int = 2020,
    cache_dir: str | Path | None = None,
    kid_subset_size: int = 1000,
    progress: bool = True,
) -> dict:
    """torch-fidelity's metrics of G's samples against ``reference``; returns the raw numbers and
    every setting that changes them."""
    import torch_fidelity

    # every registered metric by default (quality/metrics.py); an unknown name fails here,
    # before any work
    chosen = [m.name for m in registry.get(registry.names() if metrics is None else metrics)]
    if n_fake < 2:
        raise UserError(f"--n must be at least 2; got {n_fake}")
    if reference.image_size != variant.image_size:
        raise UserError(
            f"{reference.name}/{reference.split} images are {reference.image_size} px but"
            f" {variant.name} draws "
            f"{variant.image_size} px; compare with a dataset of the generator's size"
        )
    device = torch.device(device)
    cache_root = cache.root(cache_dir) / "fidelity" / weights.sha256[:16]
    name = register_reference(reference)
    kid_subset = min(kid_subset_size, n_fake, len(reference))
    kwargs = dict(
        input1=generator_input(netG, variant, device),
        input1_model_num_samples=n_fake,
        input2=name,
        cuda=device.type == "cuda",
        batch_size=batch_size,
        rng_seed=seed,
        **{name: name in chosen for name in registry.names()},
        # one extractor for all four (precision/recall on Inception pool3, not
        # torch-fidelity's VGG16 default)
        feature_extractor=FEATURE_EXTRACTOR,
        feature_layer_prc="2048",
        feature_extractor_weights_path=str(weights.path),
        kid_subset_size=kid_subset,
        cache=True,
        cache_root=str(cache_root),
        datasets_root=str(cache_root / "datasets"),
        datasets_download=False,
        verbose=progress,
    )
    verify_cache(cache_root)  # torch-fidelity unpickles what it finds there
    raw = torch_fidelity.calculate_metrics(**kwargs)
    return {
        "raw": {k: float(v) for k, v in raw.items()},
        "settings": {
            "n_fake": n_fake,
            "n_real": len(reference),
            "reference": f"{reference.name}/{reference.split}",
            "reference_fingerprint": reference.fingerprint(),
            "torch_fidelity_name": name,
            "inception_sha256": weights.sha256,
            "inception_standard": weights.standard,
            "inception_path": str(weights.path),
            "resize": "torch-fidelity: uint8 -> bilinear to 299x299 (TF1.x-compatible)",
            "batch_size": batch_size,
            "rng_seed": seed,
            "z_type": kwargs["input1"].z_type,
            "kid_subset_size": kid_subset,
            "kid_subsets": 100,
            "isc_splits": 10,
            "prc_features": f"{FEATURE_EXTRACTOR} 2048 (torch-fidelity's default for prc is VGG16"
            " fc2)",
            "prc_neighborhood": 3,
            "torch_fidelity": torch_fidelity.__version__,
            "device": str(device),
        },
    }


def rows(result: dict, common: dict) -> list[dict]:
    """Tidy rows, one per number a computed metric yields, named honestly: FID / IS / KID only
    for the standard weights (quality/metrics.py names both)."""
    standard = result["settings"]["inception_standard"]
    out = []
    for metric in registry.REGISTRY.values():
        for m in metric.measures:
            if m.value_key in result["raw"]:
                out.append(
                    {
                        **common,
                        "metric": m.standard if standard else m.nonstandard,
                        "value": result["raw"][m.value_key],
                        "std": result["raw"].get(m.std_key) if m.std_key else None,
                        **result["settings"],
                    }
                )
    return out


def score_checkpoint(
    ckpt,
    dataset: str,
    split: str = "train",
    data_root=None,
    data_options: dict | None = None,
    download: bool = False,
    n: int = 50_000,
    n_real: int | None = None,
    metrics=None,
    inception_weights=None,
    batch_size: int = 64,
    kid_subset_size: int = 1000,
    seed: int = 2020,
    out_dir="results/fidelity",
    cache_dir=None,
    device="auto",
    progress: bool = True,
    subset_seed: int | None = None,
    extra: dict | None = None,
    extra_fields: tuple[str, ...] = (),
) -> dict:
    """The `dcgan fidelity` command's work: the checkpoint's G scored against a dataset split
    (a subset of ``n_real`` drawn with ``subset_seed``, default ``seed``), one row per number,
    written to ``out_dir``. ``inception_weights``: a path, or weights already resolved.
    ``extra``: columns every row carries (a suite's), over the row's own; ``extra_fields``: those
    of them the CSV shows."""
    device = runtime.pick_device(device)
    chosen = [m.name for m in registry.get(registry.names() if metrics is None else metrics)]
    # the weights first: a missing file should not cost a model load and a dataset load
    weights = (
        inception_weights
        if isinstance(inception_weights, InceptionWeights)
        else resolve_weights(inception_weights, download)
    )
    check_writable_dir(out_dir, f"cannot write rows to --out-dir {out_dir}")
    v, netG, _, _ = checkpoint.load_models(ckpt, device)
    reference = data.subset(
        data.load(dataset, split, data_root, download=download, **(data_options or {})),
        n_real,
        seed if subset_seed is None else subset_seed,
    )
    result = compute(
        netG,
        v,
        reference,
        n,
        weights,
        chosen,
        batch_size,
        device,
        seed,
        cache_dir,
        kid_subset_size,
        progress=progress,
    )
    common = {
        **runtime.provenance(),
        "variant": v.name,
        "checkpoint": str(checkpoint.resolve(ckpt)),
    }
    out = [{**r, **(extra or {})} for r in rows(result, common)]
    json_path, csv_path = results.write_rows(
        out, out_dir, "fidelity", "fidelity-rows.csv", ROW_FIELDS + list(extra_fields)
    )
    return {"rows": out, "json": str(json_path), "csv": str(csv_path), "weights": weights}
