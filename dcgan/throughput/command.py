"""The `dcgan throughput` command's work: every chosen stage (stages.py) built and measured
(measuring.py) in this process one after another, our step's fast-path ladder, each training
row's ratio to the reference loop; rows written to results/throughput/."""

from __future__ import annotations

import dataclasses

import torch

from .. import checkpoint, data, results, runtime
from ..data import ImageSet
from ..errors import UserError, check_writable_dir
from ..step import EAGER, FastPath
from ..variants import Variant
from . import stages as stage_registry
from .measuring import device_name, measure
from .stages import context, train_stage


def run(
    v: Variant,
    images: ImageSet,
    device: str = "auto",
    stages=None,
    fast: FastPath = EAGER,
    warmup: int = 3,
    iters: int = 10,
    repeats: int = 3,
    workers: int = 2,
    svm_n: int = 1000,
    netG=None,
    netD=None,
    log=None,
    ladder: bool = False,
) -> list[dict]:
    """One row per stage (default: every one), measured in this process one after another;
    training rows carry their ratio to the reference loop when both were timed. ``fast``
    applies to our step. ``ladder``: our step also with each fast-path option added in turn
    (LADDER), each row with its ratio to the eager step."""
    stages = stage_registry.names() if stages is None else tuple(stages)
    known = stage_registry.names()
    unknown = sorted(set(stages) - set(known))
    if unknown:
        raise UserError(
            f"unknown throughput stage(s) {', '.join(unknown)}; choose from {', '.join(known)}"
        )
    dev = runtime.pick_device(device)
    fast.check(dev, v)  # before any stage is built
    ctx = context(v, images, dev, netG, netD, fast=fast, workers=workers, svm_n=svm_n)
    common = {
        **runtime.provenance(),
        "variant": v.name,
        "batch_size": v.batch_size,
        "dataset": images.name,
        "device": str(dev),
        "device_name": device_name(dev),
        "torch": torch.__version__,
    }
    rows = []
    for name in stages:
        if log:
            log(f"throughput: {name} ...")
        entry = stage_registry.get(name)
        stage, timing = entry.make(ctx), entry.timing
        rows.append(
            {
                **common,
                **({"fast_path": fast.to_dict()} if entry.fast_path else {}),
                **measure(
                    stage,
                    dev,
                    warmup=warmup if timing.warmup is None else timing.warmup,
                    iters=iters if timing.calls is None else timing.calls,
                    repeats=repeats if timing.windows is None else timing.windows,
                ),
            }
        )
        if log:
            r = rows[-1]
            log(f"throughput: {name}: {r['items_per_s']:.1f} {r['unit']}/s")
    if ladder:
        for label, rung in LADDER:
            try:
                rung.check(dev, v)
            except UserError:
                continue  # a CUDA-only piece on the CPU, or an option this variant's step refuses
            if log:
                log(f"throughput: train ({label}) ...")
            stage = train_stage(v, images, dev, rung, name=f"train ({label})")
            rows.append(
                {
                    **common,
                    "fast_path": rung.to_dict(),
                    **measure(
                        stage,
                        dev,
                        warmup=warmup + (10 if rung.compile else 0),
                        iters=iters,
                        repeats=repeats,
                    ),
                }
            )
    by_stage = {r["stage"]: r for r in rows}
    reference = by_stage.get("train-reference")
    eager = by_stage.get(f"train ({LADDER[0][0]})")
    for r in rows:
        if r["stage"].startswith("train") and r["stage"] != "train-reference":
            if reference:
                r["ratio_to_reference"] = r["items_per_s"] / reference["items_per_s"]
            if eager:
                r["ratio_to_eager"] = r["items_per_s"] / eager["items_per_s"]
    return rows


def _ladder() -> list[tuple[str, FastPath]]:
    rungs, fast = [("eager fp32", FastPath())], FastPath()
    for label, change in (
        ("+ fused Adam", {"fused_adam": True}),
        ("+ channels_last", {"channels_last": True}),
        ("+ bf16 autocast", {"amp": "bf16"}),
        ("+ torch.compile", {"compile": True}),
        ("+ CUDA graphs", {"cuda_graphs": True}),
    ):
        fast = dataclasses.replace(fast, **change)
        rungs.append((label, fast))
    return rungs


# Our step with each fast-path option added in turn (cumulative); the CUDA-only ones are
# skipped on the CPU.
LADDER = _ladder()


ROW_FIELDS = [
    "time",
    "variant",
    "dataset",
    "stage",
    "items_per_s",
    "items_per_s_min",
    "items_per_s_max",
    "unit",
    "ratio_to_reference",
    "ratio_to_eager",
    "gflops_per_item",
    "tflops_achieved",
    "peak_tflops",
    "peak_fraction",
    "precision",
    "peak_memory_mb",
    "memory_kind",
    "batch_size",
    "items_per_call",
    "calls_per_window",
    "windows",
    "warmup_calls",
    "device",
    "device_name",
    "torch",
    "dcgan_bench",
    "git_revision",
    "note",
]


# the columns `dcgan throughput` prints; the rows hold all of ROW_FIELDS
TABLE_COLUMNS = [
    "stage",
    "items_per_s",
    "unit",
    "ratio_to_reference",
    "gflops_per_item",
    "tflops_achieved",
    "peak_fraction",
    "peak_memory_mb",
]


def benchmark(
    variant: Variant | None = None,
    ckpt=None,
    dataset: str = "digits",
    split: str = "train",
    data_root=None,
    data_options: dict | None = None,
    n_images: int = 5000,
    batch_size: int | None = None,
    device: str = "auto",
    out_dir="results/throughput",
    extra: dict | None = None,
    extra_fields: tuple[str, ...] = (),
    **kw,
) -> dict:
    """The `dcgan throughput` command's work: ``run`` (its other arguments in ``kw``) on random-init
    nets of ``variant`` or a checkpoint's, on a seeded subset of a dataset, rows written to
    ``out_dir``; ``extra`` columns (a suite cell's) added to every row, ``extra_fields`` of them
    in the CSV too."""
    netG = netD = None
    if ckpt:
        variant, netG, netD, _ = checkpoint.load_models(ckpt)
    elif variant is None:
        raise UserError("give --variant NAME (random-init weights) or --ckpt CKPT")
    if batch_size:
        variant = dataclasses.replace(variant, batch_size=batch_size)
    # a bad device or option, before any data
    kw.get("fast", EAGER).check(runtime.pick_device(device), variant)
    check_writable_dir(out_dir, f"cannot write rows to --out-dir {out_dir}")
    images = data.subset(
        data.load(dataset, split, data_root, **(data_options or {})), n_images, seed=0
    )
    if images.image_size != variant.image_size or images.x.shape[-1] != variant.nc:
        raise UserError(
            f"{dataset} images are {images.image_size}px with {images.x.shape[-1]} channels;"
            f" {variant.name} takes "
            f"{variant.image_size}px with {variant.nc}: choose a matching dataset"
        )
    rows = run(variant, images, device, netG=netG, netD=netD, **kw)
    for r in rows:
        r.update(extra or {})
    json_path, csv_path = results.write_rows(
        rows, out_dir, "throughput", "throughput-rows.csv", ROW_FIELDS + list(extra_fields)
    )
    return {"rows": rows, "json": str(json_path), "csv": str(csv_path)}
