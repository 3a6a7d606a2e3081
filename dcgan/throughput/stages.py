"""The throughput stages as a registry, one entry each: how the stage is built from one
context (the model, the images, the device, the command's options), how it is timed where that
differs from the command's defaults, and the check of its outputs (so a benchmark shows the work
was done, not only how long it took). Adding a stage is one ``register(StageEntry(...))``: the
command's choices and help, its default stage list, the suites' stage lists and the
pytest-benchmark file all read the registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .. import features, nets, svm
from ..data import ImageSet
from ..errors import UserError
from ..registry import add_entry
from ..step import EAGER, FastPath, TrainStep
from ..variants import Variant
from .measuring import Stage, count_flops
from .reference_loop import reference_stage


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
    from ..data import to_model_input

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


@dataclass(frozen=True)
class StageContext:
    """What every stage is built from: the model (its variant; G and D, random-init ones of the
    variant unless a checkpoint's), the images, the device, and the command's options."""

    v: Variant
    images: ImageSet
    device: torch.device
    netG: torch.nn.Module
    netD: torch.nn.Module
    fast: FastPath = EAGER  # our training step's fast path
    workers: int = 2  # the reference loop's DataLoader workers
    svm_n: int = 1000  # the SVM stage's training samples


def context(v: Variant, images: ImageSet, device, netG=None, netD=None, **options) -> StageContext:
    """A StageContext; G and D default to random-init ones of ``v`` (seed 0)."""
    if netG is None or netD is None:
        netG, netD = nets.build(v, seed=0)
    return StageContext(v, images, torch.device(device), netG, netD, **options)


@dataclass(frozen=True)
class Timing:
    """How a stage is timed where it departs from the command's defaults (None: the command's
    --warmup, --iters and --repeats), and its pytest-benchmark rounds."""

    warmup: int | None = None
    calls: int | None = None  # per window
    windows: int | None = None
    bench_rounds: int = 8
    bench_warmup: int = 3


@dataclass(frozen=True)
class StageEntry:
    name: str
    make: Callable[[StageContext], Stage]
    # what is wrong with the outputs of the calls that were timed (None: they did the stage's
    # work); it may call the stage again where one output alone cannot tell
    check: Callable[[list, Stage, StageContext], str | None]
    timing: Timing = Timing()
    fast_path: bool = False  # the row records the fast path it ran with (our step's)


REGISTRY: dict[str, StageEntry] = {}


def register(entry: StageEntry) -> StageEntry:
    return add_entry(REGISTRY, "throughput stage", entry)


def names() -> tuple[str, ...]:
    """The registered stages, in the order they run by default."""
    return tuple(REGISTRY)


def get(name: str) -> StageEntry:
    if name not in REGISTRY:
        raise UserError(f"unknown throughput stage {name!r}; choose from {', '.join(REGISTRY)}")
    return REGISTRY[name]


def make_stage(name: str, ctx: StageContext) -> Stage:
    return get(name).make(ctx)


def _finite(*xs) -> bool:
    return all(np.isfinite(np.asarray(x, dtype=np.float64)).all() for x in xs)


def _check_train(outputs: list, stage: Stage, ctx: StageContext) -> str | None:
    # our step reads its losses back every 10 steps, as the training loop does: call it until it
    # has (a default test run times one call)
    while not any(o is not None for o in outputs) and len(outputs) < 20:
        outputs.append(stage.run())
    stats = [o for o in outputs if o is not None]
    if not stats or not all(_finite(s["loss_d"], s["loss_g"]) for s in stats):
        return f"no finite losses read back in {len(outputs)} steps: {stats}"
    return None


def _check_reference(outputs: list, stage: Stage, ctx: StageContext) -> str | None:
    # (loss D, loss G, D(x), D(G(z)) before and after D's update) every step
    if not all(len(o) == 5 and _finite(*o) and 0 <= o[2] <= 1 for o in outputs):
        return f"not (loss D, loss G, D(x), D(G(z)) x2) with D(x) in [0, 1]: {outputs}"
    return None


def _check_sample(outputs: list, stage: Stage, ctx: StageContext) -> str | None:
    v = ctx.v
    want = (stage.items, v.nc, v.image_size, v.image_size)
    if not all(o.dtype == torch.uint8 and tuple(o.shape) == want for o in outputs):
        return f"not uint8 images of shape {want}: {[(o.dtype, tuple(o.shape)) for o in outputs]}"
    return None


def _check_features(outputs: list, stage: Stage, ctx: StageContext) -> str | None:
    want = (stage.items, ctx.v.feature_dim)
    if not all(tuple(o.shape) == want and bool(torch.isfinite(o).all()) for o in outputs):
        return f"not finite features of shape {want}: {[tuple(o.shape) for o in outputs]}"
    return None


def _check_svm(outputs: list, stage: Stage, ctx: StageContext) -> str | None:
    # one finite model per C of the paper's grid, one-vs-rest over the classes
    for models in outputs:
        if len(models) != len(svm.PAPER_GRID):
            return f"{len(models)} models for the {len(svm.PAPER_GRID)} C values of the grid"
        for m in models:
            if m.W.shape != (len(m.classes), ctx.v.feature_dim) or not _finite(m.W, m.objective):
                return f"a model of shape {m.W.shape} or with non-finite weights or objective"
    return None


register(
    StageEntry(
        "train",
        lambda ctx: train_stage(ctx.v, ctx.images, ctx.device, ctx.fast),
        _check_train,
        fast_path=True,
    )
)
register(
    StageEntry(
        "train-reference",
        lambda ctx: reference_stage(ctx.v, ctx.images, ctx.device, ctx.workers),
        _check_reference,
    )
)
register(StageEntry("sample", lambda ctx: sample_stage(ctx.netG, ctx.device), _check_sample))
register(
    StageEntry(
        "features", lambda ctx: features_stage(ctx.netD, ctx.images, ctx.device), _check_features
    )
)
register(
    StageEntry(
        "svm",
        lambda ctx: svm_stage(ctx.netD, ctx.images, ctx.device, ctx.svm_n),
        _check_svm,
        # one SVM solve is seconds on a CPU: one warm-up, one call, one window
        Timing(warmup=1, calls=1, windows=1, bench_rounds=2, bench_warmup=1),
    )
)
