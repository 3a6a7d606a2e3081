"""Throughput: images/s of a training step (ours, and a reference loop with pytorch/examples'
semantics timed in the same run), of G sampling, of D feature extraction and of the SVM solve;
FLOPs per image counted from the layers (torch.utils.flop_counter), achieved FLOP/s and, on
known GPUs, the fraction of peak; peak memory.

Each stage is a zero-argument callable plus what one call processes, so the command
(`dcgan throughput`) and the pytest-benchmark files in bench/ time the very same work.
"""

from __future__ import annotations

import dataclasses
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from . import checkpoint, data, features, nets, results, runtime, svm
from .data import ImageSet
from .errors import UserError, check_writable_dir
from .step import EAGER, FastPath, TrainStep
from .variants import Variant

# Dense peak TFLOP/s from the vendors' datasheets, by a substring of torch.cuda.get_device_name():
# (fp32 without tensor cores, bf16 tensor cores). cuDNN may run fp32 convolutions as TF32, so an
# fp32 fraction above 1 is possible and means exactly that.
PEAK_TFLOPS = {
    "H200": (66.9, 989.4),
    "H100 PCIe": (51.2, 756.0),
    "H100": (66.9, 989.4),  # SXM
    "A100": (19.5, 312.0),
    "L40S": (91.6, 362.1),
    "L4": (30.3, 121.0),
    "A10": (31.2, 125.0),
    "RTX 4090": (82.6, 165.2),
    "V100": (15.7, None),
    "T4": (8.1, None),
}


@dataclass
class Stage:
    name: str
    run: Callable[[], object]  # one call: `items` images (or SVM training samples) processed
    items: int
    unit: str  # what `items` counts
    flops: float | None  # per call, counted from the layers; None where not counted
    precision: str
    note: str = ""


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def count_flops(fn: Callable[[], object]) -> float:
    """FLOPs of one call of ``fn`` (multiply-add = 2), forward and backward, as torch counts them
    for convolutions and matrix products (elementwise work is left out)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def peak_tflops(device: torch.device, precision: str) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, (fp32, bf16) in PEAK_TFLOPS.items():
        if key in name:
            return bf16 if precision == "bf16" else fp32
    return None


# --- the stages ------------------------------------------------------------------------------
def train_stage(
    v: Variant,
    images: ImageSet,
    device: torch.device,
    fast: FastPath = EAGER,
    log_every: int = 10,
    name: str = "train",
) -> Stage:
    """Our trainer's step (TrainStep.run_step, what the training loop calls): the batch gathered
    and converted on the device, D then G (or one of them per step, alternating, under
    updates="alternate": then a step's images/s counts minibatches, each updating one network),
    losses read on the host every ``log_every`` steps as the training loop does."""
    trainer = TrainStep(v, images.x, device, fast)
    order = torch.randperm(len(trainer.x), generator=torch.Generator().manual_seed(0)).to(device)
    state = {"step": 0}

    def step():
        stats = trainer.run_step(state["step"], order)
        state["step"] += 1
        if state["step"] % log_every == 0:
            return {k: float(x) for k, x in stats.items()}
        return None

    # counted on the eager step: a compiled or replayed step hides its operations from the counter
    # (two steps halved: under updates="alternate" one updates G, the next D)
    # a gradient penalty's double backward (wgan-gp, r1) is beyond torch's flop counter: not counted
    penalty = v.double_backward
    flops = (
        None
        if penalty
        else count_flops(lambda: [trainer.run_step(k, order, eager=True) for k in (0, 1)]) / 2
    )
    return Stage(
        name,
        step,
        v.batch_size,
        "images",
        flops,
        "bf16" if fast.amp == "bf16" else "fp32",
        f"ours: {fast.describe()}, data resident on the device"
        + (
            "; FLOPs not counted (torch's flop counter cannot follow a gradient penalty's double"
            " backward)"
            if penalty
            else ""
        ),
    )


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


def sample_stage(netG, device: torch.device, batch_size: int = 500) -> Stage:
    """G(z) for a batch of z, converted to uint8 on the device (the samples' stored format)."""
    v = netG.variant
    netG = netG.to(device).eval()
    gen = torch.Generator(device=device).manual_seed(0)

    @torch.no_grad()
    def run():
        x = netG(nets.sample_z(v, batch_size, gen, device))
        return nets.to_uint8(x)

    return Stage(
        "sample",
        run,
        batch_size,
        "images",
        count_flops(run),
        "fp32",
        "G in eval mode, output to uint8 on the device",
    )


def features_stage(netD, images: ImageSet, device: torch.device, batch_size: int = 500) -> Stage:
    """The paper's pooled features of a batch of uint8 images already on the device."""
    netD = netD.to(device).eval()
    x = torch.from_numpy(np.ascontiguousarray(images.x[:batch_size])).to(device)
    from .data import to_model_input

    @torch.no_grad()
    def run():
        return netD.pooled_features(to_model_input(x))

    return Stage(
        "features",
        run,
        len(x),
        "images",
        count_flops(run),
        "fp32",
        f"4x4 max-pooled conv layers, {netD.variant.feature_dim} dims",
    )


def svm_stage(netD, images: ImageSet, device: torch.device, n: int = 1000) -> Stage:
    """Our L2-SVM over the paper's C grid on the features of ``n`` labelled images."""
    if images.y is None:
        raise UserError(
            f"{images.name} has no labels, which the SVM stage needs; use a labelled dataset"
        )
    n = min(n, len(images))
    if len(np.unique(images.y[:n])) < 2:
        raise UserError(
            f"the first {n} images of {images.name} hold one class; the SVM stage needs two or"
            " more: raise --svm-n"
        )
    X = features.extract(
        features.with_population_stats(netD, images.x[:n], device),
        images.x[:n],
        device=device,
        progress=False,
    )
    y = images.y[:n]
    return Stage(
        "svm",
        lambda: svm.fit_ours(X, y, device=device),
        n,
        "training samples",
        None,
        "fp32 (float64 refinement)",
        f"{len(svm.PAPER_GRID)} C values, {n} x {X.shape[1]}, one-vs-rest over {len(np.unique(y))}"
        " classes",
    )


# The stages, one entry each: name -> what builds it (G and D are random-init ones of the variant
# unless given); the command's choices, its help and the suites' stage lists come from here.
STAGE_MAKERS: dict[str, Callable[..., Stage]] = {
    "train": lambda v, images, device, netG, netD, fast, workers, svm_n: train_stage(
        v, images, device, fast
    ),
    "train-reference": lambda v, images, device, netG, netD, fast, workers, svm_n: reference_stage(
        v, images, device, workers
    ),
    "sample": lambda v, images, device, netG, netD, fast, workers, svm_n: sample_stage(
        netG, device
    ),
    "features": lambda v, images, device, netG, netD, fast, workers, svm_n: features_stage(
        netD, images, device
    ),
    "svm": lambda v, images, device, netG, netD, fast, workers, svm_n: svm_stage(
        netD, images, device, svm_n
    ),
}
STAGES = tuple(STAGE_MAKERS)


def make_stage(
    name: str,
    v: Variant,
    images: ImageSet,
    device: torch.device,
    netG=None,
    netD=None,
    fast: FastPath = EAGER,
    workers: int = 2,
    svm_n: int = 1000,
) -> Stage:
    """The stage ``name`` (one of STAGES); G and D default to random-init ones of ``v``."""
    if name not in STAGE_MAKERS:
        raise UserError(f"unknown throughput stage {name!r}; choose from {', '.join(STAGE_MAKERS)}")
    if netG is None or netD is None:
        netG, netD = nets.build(v, seed=0)
    return STAGE_MAKERS[name](v, images, device, netG, netD, fast, workers, svm_n)


# --- measuring -------------------------------------------------------------------------------
def peak_memory_mb(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(
            device
        ) / 2**20, "CUDA max_memory_allocated during the timed calls"
    # Linux reports ru_maxrss in KiB; it is the process's high-water mark, not this stage's alone
    return resource.getrusage(
        resource.RUSAGE_SELF
    ).ru_maxrss / 1024, "process peak RSS so far (high-water mark)"


def measure(
    stage: Stage, device: torch.device, warmup: int = 3, iters: int = 10, repeats: int = 3
) -> dict:
    """Median and spread of items/s over ``repeats`` windows of ``iters`` calls each, after
    ``warmup`` calls; the device is synchronised before each clock read."""
    for _ in range(warmup):
        stage.run()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iters):
            stage.run()
        sync(device)
        rates.append(stage.items * iters / (time.perf_counter() - t0))
    rate = statistics.median(rates)
    memory, memory_kind = peak_memory_mb(device)
    tflops = stage.flops / stage.items * rate / 1e12 if stage.flops else None
    peak = peak_tflops(device, stage.precision)
    return {
        "stage": stage.name,
        "items_per_s": rate,
        "items_per_s_min": min(rates),
        "items_per_s_max": max(rates),
        "unit": stage.unit,
        "items_per_call": stage.items,
        "calls_per_window": iters,
        "windows": repeats,
        "warmup_calls": warmup,
        "gflops_per_item": stage.flops / stage.items / 1e9 if stage.flops else None,
        "tflops_achieved": tflops,
        "peak_tflops": peak,
        "peak_fraction": tflops / peak if tflops and peak else None,
        "precision": stage.precision,
        "peak_memory_mb": memory,
        "memory_kind": memory_kind,
        "note": stage.note,
    }


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} threads)"


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
    stages = STAGES if stages is None else tuple(stages)
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise UserError(
            f"unknown throughput stage(s) {', '.join(unknown)}; choose from {', '.join(STAGES)}"
        )
    dev = runtime.pick_device(device)
    fast.check(dev, v)  # before any stage is built
    if netG is None or netD is None:
        netG, netD = nets.build(v, seed=0)
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
        stage = make_stage(name, v, images, dev, netG, netD, fast, workers, svm_n)
        windows = 1 if name == "svm" else repeats  # one SVM solve is seconds on a CPU
        calls = 1 if name == "svm" else iters
        extra = {"fast_path": fast.to_dict()} if name == "train" else {}
        rows.append(
            {
                **common,
                **extra,
                **measure(
                    stage, dev, warmup=1 if name == "svm" else warmup, iters=calls, repeats=windows
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
    **kw,
) -> dict:
    """The `dcgan throughput` command's work: ``run`` (its other arguments in ``kw``) on random-init
    nets of ``variant`` or a checkpoint's, on a seeded subset of a dataset, rows written to
    ``out_dir``."""
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
    json_path, csv_path = results.write_rows(
        rows, out_dir, "throughput", "throughput-rows.csv", ROW_FIELDS
    )
    return {"rows": rows, "json": str(json_path), "csv": str(csv_path)}
