"""The suites: declared matrices of variants x datasets x seeds x protocols at a scale, expanded
into cells. Every cell's rows are kept on disk when it finishes; a finished cell is never
recomputed and an interrupted suite resumes where it stopped (training itself resumes from its
last checkpoint).

A cell is named by its kind and axes plus a hash of every setting that changes its result, so
editing a suite's declaration makes new cells rather than reusing stale ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dcgan import (
    atomic,
    checkpoint,
    curve,
    data,
    fidelity,
    memorisation,
    metrics,
    paper_figures,
    probe,
    released,
    results,
    runtime,
    throughput,
    variants,
)
from dcgan.errors import UserError
from dcgan.train import TrainConfig, train


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    variants: tuple[tuple[str, tuple[tuple[str, object], ...]], ...]  # (registered name, overrides)
    datasets: tuple[str, ...]  # training data
    seeds: tuple[int, ...]
    # (protocol, draws, test draws[, other Protocol fields as (key, value) pairs]);
    # None: the paper's
    protocols: tuple[tuple, ...]
    steps: dict[str, int]  # training steps per dataset
    data_root: str | None = None
    fidelity_metrics: tuple[str, ...] = ()
    fidelity_n: int = 0
    memorisation_n: int = 0
    throughput_stages: tuple[str, ...] = ()
    benchmarks: bool = False
    figures: bool = False  # a latent walk and a numbered sample sheet of each trained model
    # probe curve: checkpoints at steps/16 ... steps (and step 0), probed on the first
    # protocol; 0: none
    curve_points: int = 5
    # models imported from the authors' released weights instead of trained:
    # (folder name, variant, protocols)
    released: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    # (variant, the one dataset it trains on); other variants train on every dataset
    trains_on: tuple[tuple[str, str], ...] = ()
    # "smoke": the same cells at toy sizes, to prove the route runs (see paper())
    scale: str = "full"
    note: str = ""  # written into every row's "note" (e.g. what a smoke scale changed)
    # fidelity: a weights file (default: the standard one, where it is)
    inception_weights: str | None = None
    # keyword arguments of throughput.run (e.g. fewer calls)
    throughput_options: tuple[tuple[str, object], ...] = ()
    # a model label: the report ranks every model by probe accuracy against it
    ranked_against: str | None = None


@dataclass(frozen=True)
class Cell:
    # train, probe, curve, control, fidelity, memorisation, figures, throughput, benchmarks
    kind: str
    variant: str
    overrides: tuple[tuple[str, object], ...] = ()
    dataset: str | None = None
    seed: int | None = None
    protocol: tuple | None = None
    settings: tuple[tuple[str, object], ...] = ()

    @property
    def label(self) -> str:
        over = ",".join(f"{k}={v}" for k, v in self.overrides)
        return self.variant + (f"[{over}]" if over else "")

    @property
    def id(self) -> str:
        parts = [
            self.kind,
            self.label,
            self.dataset,
            None if self.seed is None else f"seed{self.seed}",
            self.protocol[0] if self.protocol else None,
        ]
        digest = hashlib.sha256(
            json.dumps(asdict(self), sort_keys=True, default=str).encode()
        ).hexdigest()[:8]
        return "/".join(p for p in parts if p) + f"/{digest}"

    def fields(self) -> dict:
        return {
            "kind": self.kind,
            "variant": self.variant,
            "dataset": self.dataset or "",
            "seed": "" if self.seed is None else str(self.seed),
            "protocol": self.protocol[0] if self.protocol else "",
        }

    def variant_obj(self) -> variants.Variant:
        return variants.get(self.variant, **dict(self.overrides))


def cifar10_present(root: str | None = None) -> str | None:
    found = data.resolve_root(root)
    return str(found) if found is not None and (found / "cifar10_train.npz").exists() else None


# The quick suite's model: the classic DCGAN at quarter width, trained with the recipe of the
# authors' released SVHN model (its name: lr 0.0005, minibatches of 64; the paper's Adam betas and
# schedule otherwise). Why, measured on the 2-core CPU (cifar10-400, 1 selection draw, the same 3
# test draws for trained and random-init control, which scores 45.7%):
# - per image it is the cheapest D whose features clearly improve with training: about 730
#   images/s here, against 290 for the paper's imagenet32 design at quarter width, which after a
#   15-minute run (2,000 steps of 128) gained only +5.2 points on its control;
# - the features improve with updates, and minibatches of 64 give twice the updates per second
#   of 128 at about the same images/s: at the paper's lr 2e-4, 5,000 steps of 64 reached 55.5%
#   (+9.8 points; 3,000 steps of 128 had reached 53.8%, the old 400 steps 47.7%);
# - at lr 5e-4 the same gain comes sooner: 55.4% after 3,000 steps of 64, 56.7% (+10.9) after
#   4,000 (256k images, about 6 minutes), with samples that look like CIFAR-10 scenes.
QUICK_MODEL = ("dcgan32", (("ngf", 32), ("ndf", 32), ("batch_size", 64), ("lr", 5e-4)))
QUICK_STEPS = {"cifar10": 4000, "digits": 1500}


def quick(candidate: tuple[str, tuple] | None = None, scale: str = "full") -> Suite:
    """Offline, on a 2-core CPU, in about 12 minutes: the real CIFAR-10 when it is under
    $DCGAN_DATA_ROOT, else the built-in digits. The trained D against its random-init control
    on the same test draws, the probe curve over the run, KID where the weights are,
    memorisation, throughput. ``candidate``: a second model run beside the baseline the same way
    (for `tox -e compare`)."""
    _check_scale("quick", scale, ("full",))
    root = cifar10_present()
    dataset, protocol = (
        ("cifar10", ("cifar10-400", 1, 3)) if root else ("digits", ("digits-10", 3, 10))
    )
    return Suite(
        "quick",
        "a quarter-width dcgan32 trained for minutes, probed beside its random-init control on the"
        " same test draws, "
        "the probe curve over its run, KID where the weights are, memorisation, throughput",
        variants=(QUICK_MODEL,) + ((candidate,) if candidate else ()),
        datasets=(dataset,),
        seeds=(0,),
        protocols=(protocol,),
        steps={dataset: QUICK_STEPS[dataset]},
        data_root=root,
        fidelity_metrics=("kid",),
        fidelity_n=500,
        memorisation_n=1000,
        throughput_stages=throughput.STAGES,
        benchmarks=True,
        figures=True,
        curve_points=4,
    )


def paper(scale: str = "full") -> Suite:
    """The full reproduction, for a GPU machine with ImageNet 32x32 and SVHN under the data root.
    Training lengths [inferred from the released checkpoints' names]: imagenet32 checkpoint 30 ->
    30 epochs of 10,009 minibatches of 128; svhn32 checkpoint 200 -> 200 epochs of 1,145
    minibatches of 64. Both variants train with the authors' loop (updates="alternate": one
    network per minibatch), so a step is a minibatch and each network gets the authors' number
    of updates, half the steps each.

    ``scale="smoke"``: every one of these cells at toy sizes (narrow nets, 60 steps, small
    draws, 64 images for fidelity), on the data root's stand-in data (bench/standin.py), in
    minutes on a CPU: proof that the route runs end to end, never a figure to cite. Its rows
    go to their own folder (``paper-smoke``) and each says so in its note."""
    imagenet = paper_imagenet()
    full = Suite(
        "paper",
        f"Table 1 (imagenet32 on ImageNet-1k 32x32 ({train_recipe(imagenet)}): cifar10-full,"
        " cifar10-400) and "
        "Table 2 (svhn32 on SVHN, and the imagenet32 features on SVHN), FID/IS/KID at 50k,"
        " throughput",
        variants=(("imagenet32", ()), ("svhn32", ())),
        datasets=(imagenet, "svhn"),
        seeds=(0,),
        protocols=(
            ("cifar10-full", None, None),
            ("cifar10-400", None, None),
            ("svhn-1000", None, None),
        ),
        steps={imagenet: 300_270, "svhn": 229_000},
        fidelity_metrics=metrics.names(),
        fidelity_n=50_000,
        throughput_stages=throughput.STAGES,
        benchmarks=True,
        # Table 1's model on ImageNet only, Table 2's on SVHN only, as the authors trained them
        trains_on=(("imagenet32", imagenet), ("svhn32", "svhn")),
    )
    if scale == "full":
        return full
    _check_scale("paper", scale, ("full", "smoke"))
    narrow = (("ngf", 16), ("ndf", 16), ("batch_size", 32))
    protocols = tuple(
        (name, draws, test_draws, tuple(PAPER_SMOKE_PROTOCOLS[name].items()))
        for name, draws, test_draws in ((p[0], *PAPER_SMOKE_DRAWS[p[0]]) for p in full.protocols)
    )
    sizes = "; ".join(
        f"{p[0]}: "
        + ", ".join(
            [f"{k} {v}" for k, v in p[3]]
            + [f"draws {p[1]}, test draws {p[2]}"] * (p[1] is not None)
        )
        for p in protocols
    )
    note = (
        "smoke scale: narrow nets, 60 steps, stand-in data, small draws (this row's per_class,"
        " val_size, draws): "
        "proves the route runs, not a figure comparable with the paper's"
    )
    return dataclasses.replace(
        full,
        name="paper-smoke",
        scale="smoke",
        note=note,
        description="every cell of the paper suite at smoke scale, on stand-in data"
        " (bench/standin.py): imagenet32 and svhn32 at "
        f"width 16, 60 steps each under the authors' alternating loop; {sizes}; fidelity on 64"
        " samples; throughput "
        "with few calls. It proves the route runs; no figure here is comparable with the paper's",
        variants=tuple((name, narrow) for name, _ in full.variants),
        steps=dict.fromkeys(full.steps, 60),
        protocols=protocols,
        fidelity_n=64,
        throughput_options=(("warmup", 1), ("iters", 2), ("repeats", 1), ("svm_n", 200)),
    )


# The smoke scale's protocol sizes: each protocol's shape (validation split, class-balanced
# draws, C chosen on validation and extended past an edge, fresh test draws) on stand-in data of
# 2,000 CIFAR-10 and 1,200 SVHN training images.
PAPER_SMOKE_PROTOCOLS = {
    "cifar10-full": {"val_size": 500},
    "cifar10-400": {"per_class": 20, "val_size": 500},
    "svhn-1000": {"per_class": 10, "val_size": 300},
}
PAPER_SMOKE_DRAWS = {"cifar10-full": (None, None), "cifar10-400": (2, 2), "svhn-1000": (2, 3)}


def _check_scale(suite: str, scale: str, scales: tuple[str, ...]) -> None:
    if scale not in scales:
        raise UserError(
            f"the {suite} suite has the scale(s) {', '.join(scales)}; got --scale {scale}"
        )


def paper_imagenet(root=None) -> str:
    """The paper's ImageNet pictures where they can be made: the raw ILSVRC-2012 tree or train tar
    under the data root, min-resized and centre-cropped (`imagenet`); else Imagenet32's squashed
    batches (`imagenet32`), which every row and the report then name as not the paper's crops."""
    found = data.resolve_root(root)
    if found is not None and (
        (found / "train").is_dir() or (found / "ILSVRC2012_img_train.tar").is_file()
    ):
        return "imagenet"
    return "imagenet32"


def ablations(scale: str = "full") -> Suite:
    """The paper's architecture rules one at a time: every registered dcgan32 ablation beside
    dcgan32, three seeds, the same budget, probed and scored the same way."""
    _check_scale("ablations", scale, ("full",))
    names = ["dcgan32", *variants.ABLATIONS]
    return Suite(
        "ablations",
        "dcgan32 and its ablations, 3 seeds, equal budget, cifar10-400 and KID/FID at 10k",
        variants=tuple((n, ()) for n in names),
        datasets=("cifar10",),
        seeds=(0, 1, 2),
        protocols=(("cifar10-400", None, None),),
        steps={"cifar10": 20_000},
        fidelity_metrics=("fid", "kid"),
        fidelity_n=10_000,
        throughput_stages=("train",),
    )


def choices(scale: str = "full") -> Suite:
    """Which training choices make good features: the paper's dcgan32 and each registered choice
    (loss, D regulariser, rotation task, EMA of G: variants.CHOICE_VARIANTS), the same
    architecture, 3 seeds each at equal images seen, probed beside their random-init controls,
    with the probe curve and KID, ranked in the report by probe accuracy with `dcgan compare`'s
    verdict against the paper's default. ``scale``: "full" for a GPU (full width, 20,000 steps
    of 128); "cpu" overnight on a 2-core CPU (the quick suite's small model, data and probe:
    quarter width, 4,000 steps of 64, cifar10-400 with 1 selection and 3 test draws); "smoke"
    every cell at toy sizes on the built-in digits, for the tests."""
    _check_scale("choices", scale, ("full", "cpu", "smoke"))
    names = ("dcgan32", *variants.CHOICE_VARIANTS)
    what = (
        "the paper's dcgan32 and each training choice (hinge, least squares, WGAN-GP, spectral"
        " norm, R1, rotation task, "
        "EMA of G), same architecture, 3 seeds at equal images seen, probed beside random-init"
        " controls, ranked"
    )
    if scale == "full":
        return Suite(
            "choices",
            what + "; full width, 20k steps of 128, cifar10-400 as the paper, KID and FID at 10k",
            variants=tuple((n, ()) for n in names),
            datasets=("cifar10",),
            seeds=(0, 1, 2),
            protocols=(("cifar10-400", None, None),),
            steps={"cifar10": 20_000},
            fidelity_metrics=("kid", "fid"),
            fidelity_n=10_000,
            ranked_against="dcgan32",
        )
    if scale == "cpu":
        root = cifar10_present()
        dataset, protocol = (
            ("cifar10", ("cifar10-400", 1, 3)) if root else ("digits", ("digits-10", 3, 10))
        )
        # the quick suite's model; each choice keeps its own optimiser
        small = (
            ("ngf", 32),
            ("ndf", 32),
            ("batch_size", 64),
        )
        return Suite(
            "choices-cpu",
            what + f"; quarter width, {QUICK_STEPS[dataset]} steps of 64 on {dataset}, KID on 500"
            " samples",
            variants=tuple((n, small) for n in names),
            datasets=(dataset,),
            seeds=(0, 1, 2),
            protocols=(protocol,),
            steps={dataset: QUICK_STEPS[dataset]},
            data_root=root,
            fidelity_metrics=("kid",),
            fidelity_n=500,
            curve_points=4,
            ranked_against=Cell("train", "dcgan32", small).label,
        )
    tiny = (("ngf", 8), ("ndf", 8), ("batch_size", 32))
    return Suite(
        "choices-smoke",
        what
        + "; smoke scale: width 8, 20 steps on the built-in digits, 2 seeds; proves the route runs",
        variants=tuple((n, tiny) for n in names),
        datasets=("digits",),
        seeds=(0, 1),
        protocols=(("digits-10", 1, 2),),
        steps={"digits": 20},
        curve_points=2,
        ranked_against=Cell("train", "dcgan32", tiny).label,
        note="smoke scale: not a figure to cite",
    )


# The authors' released models (Newmu/dcgan_code models/, PROTOCOL.md §2-3) and what each is
# probed with: the SVHN model for Table 2 (and cifar10-400, which the data here allows); the
# ImageNet model for Table 1.
RELEASED_MODELS = (
    (
        "svhn_unsup_all_conv_dcgan_100z_gaussian_lr_0.0005_64mb",
        "svhn32",
        ("svhn-1000", "cifar10-400"),
    ),
    (
        "imagenet_gan_pretrain_128f_relu_lrelu_7l_3x3_256z",
        "imagenet32",
        ("cifar10-full", "cifar10-400"),
    ),
)


def released_suite(scale: str = "full") -> Suite:
    """Tables 1-2 from the authors' own weights, as one job: each released folder found under
    ``<data root>/released`` (or ``--released DIR``) imported exactly, then probed beside its
    random-init control and the paper's rows. A missing folder, shard or dataset makes that
    table cell say which file is missing; the rest still runs, and the cell is tried again on the
    next run."""
    _check_scale("released", scale, ("full",))
    return Suite(
        "released",
        "Tables 1 and 2 from the authors' released weights (imported exactly), beside random-init"
        " controls",
        variants=tuple((v, ()) for _, v, _ in RELEASED_MODELS),
        datasets=(),
        seeds=(),
        protocols=(),
        steps={},
        data_root=str(data.resolve_root(None) or "") or None,
        released=RELEASED_MODELS,
    )


# name -> the suite at a scale ("full" is every suite's; `--scale` picks another where one
# is declared)
SUITES: dict[str, Callable[..., Suite]] = {
    "quick": quick,
    "paper": paper,
    "ablations": ablations,
    "released": released_suite,
    "choices": choices,
}


# Which (variant, dataset) pairs a suite trains: every pair, except where the suite names the
# one dataset a variant trains on (the paper trained imagenet32 on ImageNet and svhn32 on
# SVHN only).
def _pairs(s: Suite):
    only = dict(s.trains_on)
    for name, overrides in s.variants:
        for dataset in s.datasets:
            if only.get(name, dataset) == dataset:
                yield name, overrides, dataset


def cells(s: Suite) -> list[Cell]:
    """The suite's matrix, in the order it runs; dependencies come before what needs them."""
    if s.released:
        return _released_cells(s)
    out = []
    for name, overrides, dataset in _pairs(s):
        for seed in s.seeds:
            steps = s.steps[dataset]
            points = curve.curve_steps(steps, s.curve_points) if s.curve_points else ()
            out.append(
                Cell(
                    "train",
                    name,
                    overrides,
                    dataset,
                    seed,
                    settings=(("steps", steps), ("keep_steps", points)),
                )
            )
            for protocol in s.protocols:
                out.append(
                    Cell("probe", name, overrides, dataset, seed, protocol, (("steps", steps),))
                )
            if points:  # on the first protocol's split and sizes, one draw at a declared C
                first = s.protocols[0]
                out.append(
                    Cell(
                        "curve",
                        name,
                        overrides,
                        dataset,
                        seed,
                        (first[0], None, None, *first[3:]),
                        (("steps", steps), ("points", points), ("C", curve.CURVE_C[first[0]])),
                    )
                )
            if s.fidelity_metrics:
                weights = (("inception", s.inception_weights),) if s.inception_weights else ()
                out.append(
                    Cell(
                        "fidelity",
                        name,
                        overrides,
                        dataset,
                        seed,
                        settings=(
                            ("steps", steps),
                            ("metrics", s.fidelity_metrics),
                            ("n", s.fidelity_n),
                            *weights,
                        ),
                    )
                )
            if s.memorisation_n:
                out.append(
                    Cell(
                        "memorisation",
                        name,
                        overrides,
                        dataset,
                        seed,
                        settings=(("steps", steps), ("n", s.memorisation_n)),
                    )
                )
            if s.figures:
                out.append(
                    Cell("figures", name, overrides, dataset, seed, settings=(("steps", steps),))
                )
    seen = set()
    for name, overrides, _ in _pairs(s):
        for protocol in s.protocols:
            # a random-init control per architecture and protocol
            if (
                name,
                overrides,
                protocol,
            ) not in seen:
                seen.add((name, overrides, protocol))
                out.append(Cell("control", name, overrides, protocol=protocol, seed=0))
    for name, overrides, dataset in _pairs(s):
        if s.throughput_stages:
            out.append(
                Cell(
                    "throughput",
                    name,
                    overrides,
                    dataset,
                    settings=(("stages", s.throughput_stages), *s.throughput_options),
                )
            )
    if s.benchmarks:
        out.append(Cell("benchmarks", *QUICK_MODEL))
    return out


def _released_cells(s: Suite) -> list[Cell]:
    out = []
    for folder, variant, protocols in s.released:
        for p in protocols:
            out.append(
                Cell(
                    "released-probe",
                    variant,
                    dataset="released",
                    protocol=(p, None, None),
                    settings=(("folder", folder),),
                )
            )
    for _, variant, protocols in s.released:
        for p in protocols:
            out.append(Cell("control", variant, protocol=(p, None, None), seed=0))
    return out


def select(all_cells: list[Cell], only: list[str]) -> list[Cell]:
    """The cells matching any token of ``only`` (``key=value`` on kind, variant, dataset, seed,
    protocol; or a substring of the cell's id; conditions joined by "+" must all hold, e.g.
    ``variant=dcgan32+seed=0``), with the training cells they need."""
    if not only:
        return all_cells

    def hit(c: Cell, token: str) -> bool:
        k, sep, v = token.partition("=")
        if sep:
            if k not in c.fields():
                raise UserError(
                    f"--only {token!r}: unknown key {k!r}; use kind, variant, dataset, seed or"
                    " protocol"
                )
            return c.fields()[k] == v
        return token in c.id

    chosen = [c for c in all_cells if any(all(hit(c, part) for part in t.split("+")) for t in only)]
    if not chosen:
        raise UserError(
            f"--only {','.join(only)} matches no cell; the cells are:\n  "
            + "\n  ".join(c.id for c in all_cells)
        )
    needed = {
        (c.variant, c.overrides, c.dataset, c.seed)
        for c in chosen
        if c.kind in ("probe", "curve", "fidelity", "memorisation", "figures")
    }
    return [
        c
        for c in all_cells
        if c in chosen
        or (c.kind == "train" and (c.variant, c.overrides, c.dataset, c.seed) in needed)
    ]


# --- running cells -----------------------------------------------------------------------------
@dataclass
class Context:
    suite: Suite
    runs: Path  # run folders and the cell cache
    results: Path  # rows and reports
    # the released suite: where the authors' model folders are (default: <data root>/released)
    released_dir: Path | None = None
    log: Callable[[str], None] = field(default=lambda m: print(m, file=sys.stderr))

    def run_dir(self, c: Cell) -> Path:
        return self.runs / f"{c.label}-{c.dataset}-seed{c.seed}".replace("/", "_")

    def cell_file(self, c: Cell) -> Path:
        return (
            self.runs
            / "cells"
            / (c.id.replace("/", "__").replace("[", "_").replace("]", "_") + ".json")
        )


# The suite's own columns, appended to each kind's CSV (the JSON rows carry more:
# versions, overrides)
SUITE_FIELDS = ["suite", "cell", "model", "seed", "train_dataset", "train_data_recipe", "updates"]


def _common(ctx: Context, c: Cell) -> dict:
    return {
        "suite": ctx.suite.name,
        "cell": c.id,
        "model": c.label,
        "variant": c.variant,
        "variant_overrides": dict(c.overrides),
        "seed": c.seed,
        "train_dataset": c.dataset,
        "train_data_recipe": train_recipe(c.dataset),
        "updates": c.variant_obj().updates,
        **runtime.provenance(),
        **({"note": ctx.suite.note} if ctx.suite.note else {}),
    }


def train_recipe(dataset: str | None) -> str:
    """How the training pictures were made from the dataset (a deviation from the paper's
    recipe is said here)."""
    return data.spec(dataset).recipe if dataset in data.names() else ""


def _checkpoint(ctx: Context, c: Cell) -> Path:
    last = checkpoint.latest(ctx.run_dir(c))
    if last is None:
        raise UserError(f"{ctx.run_dir(c)} holds no checkpoint; run the suite's train cell first")
    return last


def run_train(ctx: Context, c: Cell) -> dict:
    settings = dict(c.settings)
    out, steps = ctx.run_dir(c), settings["steps"]
    last = checkpoint.latest(out)
    if last is not None and checkpoint.load(last)["step"] >= steps:
        result = {"checkpoint": str(last), "reused": True}
    else:  # a new run, or the continuation of an interrupted one
        cfg = TrainConfig(
            c.variant_obj(),
            out,
            steps=steps,
            dataset=c.dataset,
            data_root=ctx.suite.data_root,
            seed=c.seed,
            ckpt_every=max(100, steps // 20),
            keep_steps=tuple(settings.get("keep_steps", ())),
            resume=True,
        )
        result = train(cfg)
    row = {
        **_common(ctx, c),
        "kind": "train",
        "steps": steps,
        "checkpoint": str(result["checkpoint"]),
        "images_per_s": result.get("images_per_s"),
        "run_dir": str(out),
    }
    return {
        "rows": [row],
        "artifacts": {
            "samples": str(out / f"samples-{steps:08d}.png"),
            "log": str(out / "log.csv"),
        },
    }


def _protocol(c: Cell) -> probe.Protocol:
    name, draws, test_draws, *other = c.protocol
    over = {k: v for k, v in (("draws", draws), ("test_draws", test_draws)) if v is not None}
    return probe.get(name, **over, **dict(*other))


def run_probe(ctx: Context, c: Cell) -> dict:
    ckpt = _checkpoint(ctx, c)
    v, _, netD, _ = checkpoint.load_models(ckpt)
    step = checkpoint.load(ckpt)["step"]
    rows = probe.run_with_control(
        v,
        netD,
        _protocol(c),
        control=False,
        label=f"step {step}",
        data_root=ctx.suite.data_root,
        log=ctx.log,
    )
    for r in rows:
        if r["source"] == "measured":
            r.update({**_common(ctx, c), "checkpoint": str(ckpt)})
    _write_probe(rows, ctx)
    return {"rows": rows}


def _write_probe(rows: list[dict], ctx: Context) -> None:
    results.write_rows(
        rows,
        ctx.results,
        f"probe-{rows[0]['protocol']}",
        "probe-rows.csv",
        probe.ROW_FIELDS + SUITE_FIELDS,
    )


def run_control(ctx: Context, c: Cell) -> dict:
    from dcgan import nets

    v = c.variant_obj()
    _, netD = nets.build(v, seed=c.seed)
    try:
        # a control only beside a model that can be probed (cifar10-full's control takes hours here)
        if ctx.suite.released:
            released.import_folder(_released_folder(ctx, c.variant))
        rows = [
            r
            for r in probe.run_with_control(
                v,
                netD,
                _protocol(c),
                control=False,
                label=f"random init (seed {c.seed})",
                data_root=ctx.suite.data_root,
                log=ctx.log,
            )
            if r["source"] == "measured"
        ]
    except UserError as e:
        if not ctx.suite.released:  # elsewhere the suite's data was checked by its training cells
            raise
        ctx.log(f"{c.id}: not measured: {e}")
        return {"rows": _not_measured(c, f"random init (seed {c.seed})", e)[:1], "retry": True}
    for r in rows:
        # the init seed is in the weights label; no training seed, no training data
        r.update(
            {**_common(ctx, c), "source": "measured (control)", "seed": None, "train_dataset": None}
        )
    _write_probe(rows, ctx)
    return {"rows": rows}


def _not_measured(c: Cell, weights: str, why: UserError) -> list[dict]:
    """A table cell that says why it is empty (a missing folder, shard or dataset), with the
    paper's rows beside it as usual."""
    name = c.protocol[0]
    metric = "test_error_pct" if probe.get(name).metric == "error" else "test_accuracy_pct"
    quoted = [
        {
            "variant": m,
            "weights": "",
            "source": "quoted from the paper (PROTOCOL.md §6), not measured",
            "protocol": name,
            "metric": metric,
            "value": v,
            "std": None,
            "ci95": s,
        }
        for m, v, s in probe.PAPER_ROWS.get(name, [])
    ]
    return [
        {
            "variant": c.variant,
            "weights": weights,
            "source": "not measured",
            "protocol": name,
            "metric": metric,
            "value": None,
            "note": f"not measured: {why}",
        }
    ] + quoted


def _released_folder(ctx: Context, variant: str) -> Path:
    """The folder of ``variant``'s released model; a one-line error where it is missing."""
    name = next(folder for folder, v, _ in ctx.suite.released if v == variant)
    root = ctx.released_dir or (
        Path(ctx.suite.data_root) / "released" if ctx.suite.data_root else None
    )
    if root is None or not (root / name).is_dir():
        raise UserError(
            f"the released model folder {root / name if root else name} is missing: copy"
            " dcgan_code's "
            f"models/{name} there, or pass --released DIR"
        )
    return root / name


def run_released_probe(ctx: Context, c: Cell) -> dict:
    """The authors' released model (imported exactly) probed with the cell's protocol; where
    its folder, a shard or the dataset is missing, a row that says which file."""
    name = dict(c.settings)["folder"]
    weights = f"authors' released weights ({name})"
    try:
        ckpt, _ = released.import_to(
            _released_folder(ctx, c.variant), ctx.runs / "released" / f"{c.variant}.pt", force=True
        )
        v, _, netD, _ = checkpoint.load_models(ckpt)
        rows = probe.run_with_control(
            v,
            netD,
            _protocol(c),
            control=False,
            label=weights,
            data_root=ctx.suite.data_root,
            log=ctx.log,
        )
    except UserError as e:
        ctx.log(f"{c.id}: not measured: {e}")
        # shown in this run's report, never appended to the rows files (no measurement happened);
        # the cell is tried again on the next run, when the files may be there
        return {"rows": _not_measured(c, weights, e), "retry": True}
    for r in rows:
        if r["source"] == "measured":
            r.update(
                {
                    **_common(ctx, c),
                    "checkpoint": str(ckpt),
                    "seed": None,
                    "train_dataset": "the authors' (not trained here)",
                }
            )
    _write_probe(rows, ctx)
    return {"rows": rows}


def run_curve(ctx: Context, c: Cell) -> dict:
    """The probe curve of the cell's run: step 0 (its random init) and the kept checkpoints."""
    s = dict(c.settings)
    rows = curve.run(
        ctx.run_dir(c),
        protocol=_protocol(c),
        C=s["C"],
        steps=s["points"],
        data_root=ctx.suite.data_root,
        log=ctx.log,
    )
    common = _common(ctx, c)
    for r in rows:
        r.update({k: common[k] for k in SUITE_FIELDS + ["versions", "note"] if k in common})
    results.write_rows(
        rows, ctx.results, "probe-curve", "probe-curve-rows.csv", curve.ROW_FIELDS + SUITE_FIELDS
    )
    return {"rows": rows}


def run_fidelity(ctx: Context, c: Cell) -> dict:
    """KID/FID/... with the standard Inception only; where it is missing, a row that says so."""
    ckpt = _checkpoint(ctx, c)
    s = dict(c.settings)
    v, netG, _, _ = checkpoint.load_models(ckpt)
    common = {**_common(ctx, c), "checkpoint": str(ckpt), "reference": f"{c.dataset}/train"}
    try:
        weights = fidelity.resolve_weights(s.get("inception"))
    except UserError as e:
        rows = [
            {**common, "metric": m, "value": None, "std": None, "note": f"not computed: {e}"}
            for m in ("KID",)
            if "kid" in s["metrics"]
        ] or [{**common, "metric": "FID", "value": None, "note": f"not computed: {e}"}]
    else:
        reference = data.subset(data.load(c.dataset, "train", ctx.suite.data_root), s["n"], seed=0)
        result = fidelity.compute(
            netG,
            v,
            reference,
            s["n"],
            weights,
            metrics=s["metrics"],
            kid_subset_size=min(1000, s["n"] // 5),
        )
        rows = [{**r, **common} for r in fidelity.rows(result, common)]
    results.write_rows(
        rows,
        ctx.results,
        "fidelity",
        "fidelity-rows.csv",
        fidelity.ROW_FIELDS + ["note"] + SUITE_FIELDS,
    )
    return {"rows": rows}


def run_memorisation(ctx: Context, c: Cell) -> dict:
    """The memorisation check (its rows and closest pairs in results/), with the suite's
    columns in its CSV row too."""
    n = dict(c.settings)["n"]
    common = _common(ctx, c)
    result = memorisation.run(
        _checkpoint(ctx, c),
        c.dataset,
        n=n,
        n_held_out=n,
        data_root=ctx.suite.data_root,
        out_dir=ctx.results,
        tags={k: common[k] for k in SUITE_FIELDS},
        progress=False,
    )
    for line in memorisation.describe(result["row"]):
        ctx.log(line)
    row = {**result["row"], **common}
    return {
        "rows": [row],
        "artifacts": {
            "closest pairs (pixels)": row["pixels_closest_pairs_png"],
            "closest pairs (D features)": row.get("features_closest_pairs_png"),
        },
    }


def run_throughput(ctx: Context, c: Cell) -> dict:
    images = data.subset(data.load(c.dataset, "train", ctx.suite.data_root), 5000, seed=0)
    options = dict(c.settings)
    rows = throughput.run(
        c.variant_obj(), images, stages=options.pop("stages"), log=ctx.log, **options
    )
    for r in rows:
        r.update({**_common(ctx, c), "dataset": c.dataset})
    results.write_rows(
        rows, ctx.results, "throughput", "throughput-rows.csv", throughput.ROW_FIELDS + SUITE_FIELDS
    )
    return {"rows": rows}


def run_benchmarks(ctx: Context, c: Cell) -> dict:
    """bench/test_benchmarks.py under pytest-benchmark, its JSON beside the suite's rows."""
    out = ctx.results / f"benchmarks-{results.stamp()}.json"
    ctx.results.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(Path(__file__).with_name("test_benchmarks.py")),
        "-q",
        "-p",
        "no:cacheprovider",
        "--benchmark-enable",
        f"--benchmark-json={out}",
    ]
    env = {
        **os.environ,
        **({"DCGAN_DATA_ROOT": ctx.suite.data_root} if ctx.suite.data_root else {}),
    }
    # its output is passed on (not inherited: the caller's stderr may have no file descriptor, e.g.
    # under pytest or Jupyter)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    print(proc.stdout + proc.stderr, file=sys.stderr)
    if proc.returncode != 0:
        raise UserError(f"the pytest-benchmark run failed: {' '.join(cmd)}")
    report = json.loads(out.read_text())
    rows = [
        {
            **_common(ctx, c),
            "stage": b["params"]["name"],
            "benchmark": b["fullname"],
            "median_s": b["stats"]["median"],
            "items_per_call": b["extra_info"]["items_per_call"],
            "items_per_s": b["extra_info"]["items_per_call"] / b["stats"]["median"],
            "unit": b["extra_info"]["unit"],
            "device_name": f"{b['extra_info']['device']} (pytest-benchmark)",
        }
        for b in report["benchmarks"]
    ]
    return {"rows": rows, "artifacts": {"pytest-benchmark json": str(out)}}


def run_figures(ctx: Context, c: Cell) -> dict:
    """A latent walk and a numbered sample sheet of the trained G."""
    ckpt = str(_checkpoint(ctx, c))
    folder = ctx.results / f"figures-{results.stamp()}-{c.label}-seed{c.seed}".replace("/", "_")
    walk = paper_figures.walk(ckpt, folder / "walk", log=ctx.log)
    sheet = paper_figures.arithmetic(ckpt, folder / "sheet", n=100, log=ctx.log)
    row = {**_common(ctx, c), "kind": "figures", "checkpoint": ckpt, "folder": str(folder)}
    return {
        "rows": [row],
        "artifacts": {"latent walk": walk["png"], "numbered sample sheet": sheet["sheet"]},
    }


RUNNERS: dict[str, Callable[[Context, Cell], dict]] = {
    "train": run_train,
    "probe": run_probe,
    "released-probe": run_released_probe,
    "curve": run_curve,
    "control": run_control,
    "fidelity": run_fidelity,
    "memorisation": run_memorisation,
    "throughput": run_throughput,
    "benchmarks": run_benchmarks,
    "figures": run_figures,
}


def run_cell(ctx: Context, c: Cell) -> tuple[dict, bool]:
    """(the cell's record, whether it was computed now). A finished cell is read back, never
    recomputed; its record is written atomically only when the cell has finished; a torn
    record is computed again."""
    record, kept = atomic.json_record(
        ctx.cell_file(c),
        lambda: {"cell": c.id, **RUNNERS[c.kind](ctx, c), "finished": results.now()},
        indent=1,
        default=str,
    )
    if record.get("retry"):  # what could not be measured (missing files) is tried again next time
        ctx.cell_file(c).unlink(missing_ok=True)
    return record, not kept
