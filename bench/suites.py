"""The suites: declared matrices of variants x datasets x seeds x protocols at a scale, expanded
into cells, and the selection of cells a run asks for. How each cell runs, and the record that
makes a finished one final, is runners.py.

A cell is named by its kind and axes plus a hash of every setting that changes its result, so
editing a suite's declaration makes new cells rather than reusing stale ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

from dcgan import curve, data, throughput, variants
from dcgan.errors import UserError
from dcgan.quality import metrics


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
    # other feature extractors probed with every protocol beside the Ds (Table 1's baselines):
    # (registered extractor, its settings as (key, value) pairs)
    baselines: tuple[tuple[str, tuple[tuple[str, object], ...]], ...] = ()


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

    def extractor_settings(self) -> list[str]:
        """A baseline cell's settings as ``--set`` pairs."""
        return [f"{k}={v}" for k, v in self.overrides]

    def variant_obj(self) -> variants.Variant:
        return variants.get(self.variant, **dict(self.overrides))


def train_recipe(dataset: str | None) -> str:
    """How the training pictures were made from the dataset (a deviation from the paper's
    recipe is said here)."""
    return data.spec(dataset).recipe if dataset in data.names() else ""


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


# Table 1's baselines (PROTOCOL.md §9): Coates, Lee & Ng 2011's K-means network at the K of
# its published 77.9% and 79.6%, and raw pixels, the floor
KMEANS_1600 = ("kmeans", (("K", 1600),))
KMEANS_4000 = ("kmeans", (("K", 4000),))
PIXELS = ("pixels", ())


def quick(candidate: tuple[str, tuple] | None = None, scale: str = "full") -> Suite:
    """Offline, on a 2-core CPU, in about 18 minutes with an empty cache (the K-means cell's 5.5
    minutes are cached for later runs): the real CIFAR-10 when it is under
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
        throughput_stages=throughput.names(),
        benchmarks=True,
        figures=True,
        curve_points=4,
        # Table 1's first row measured with the same probe, draws and test images as the D;
        # not under `tox -e compare`, whose verdict is the candidate against the baseline D
        baselines=() if candidate else (KMEANS_1600,),
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
        throughput_stages=throughput.names(),
        benchmarks=True,
        # Table 1's model on ImageNet only, Table 2's on SVHN only, as the authors trained them
        trains_on=(("imagenet32", imagenet), ("svhn32", "svhn")),
        baselines=(KMEANS_1600, KMEANS_4000, PIXELS),
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
        baselines=(SMOKE_KMEANS, PIXELS),
    )


# K-means at toy sizes: the recipe's every step on few centroids, patches and iterations
SMOKE_KMEANS = ("kmeans", (("K", 16), ("patches", 5000), ("iterations", 5)))


def baselines(scale: str = "full") -> Suite:
    """Table 1's baselines measured with our probe, not quoted: Coates, Lee & Ng 2011's K-means
    network at K = 1600 and K = 4000 (their published 77.9% and 79.6% on full CIFAR-10), raw
    pixels, and the paper's imagenet32 D at random init, on cifar10-full and cifar10-400 with
    the paper's draws (10 selection, 10 test), and svhn-1000 where SVHN is under the data root.
    Nothing is trained. "smoke": the same cells at toy sizes on the built-in digits."""
    _check_scale("baselines", scale, ("full", "smoke"))
    if scale == "smoke":
        return Suite(
            "baselines-smoke",
            "Table 1's baselines at toy sizes on the built-in digits: proves the route runs",
            variants=(),
            datasets=(),
            seeds=(),
            protocols=(("digits-10", 1, 2),),
            steps={},
            curve_points=0,
            baselines=(SMOKE_KMEANS, PIXELS, ("discriminator", (("variant", "dcgan32"),))),
            note="smoke scale: not a figure to cite",
        )
    root = data.resolve_root(None)
    svhn = root is not None and (root / "train_32x32.mat").exists()
    return Suite(
        "baselines",
        "Table 1's baselines through the paper's probes: K-means (Coates et al. 2011) at K = 1600"
        " and 4000, raw pixels, and a random-init imagenet32 D, on cifar10-full and cifar10-400"
        " (10 + 10 draws)" + (" and svhn-1000" if svhn else " (svhn-1000: no SVHN here)"),
        variants=(),
        datasets=(),
        seeds=(),
        protocols=(("cifar10-full", None, None), ("cifar10-400", None, None))
        + ((("svhn-1000", None, None),) if svhn else ()),
        steps={},
        data_root=str(root) if root else None,
        curve_points=0,
        baselines=(
            KMEANS_1600,
            KMEANS_4000,
            PIXELS,
            ("discriminator", (("variant", "imagenet32"),)),
        ),
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
    names = ["dcgan32", *variants.in_group("ablation")]
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
    (loss, D regulariser, rotation task, EMA of G: variants.in_group("choice")), the same
    architecture, 3 seeds each at equal images seen, probed beside their random-init controls,
    with the probe curve and KID, ranked in the report by probe accuracy with `dcgan compare`'s
    verdict against the paper's default. ``scale``: "full" for a GPU (full width, 20,000 steps
    of 128); "cpu" overnight on a 2-core CPU (the quick suite's small model, data and probe:
    quarter width, 4,000 steps of 64, cifar10-400 with 1 selection and 3 test draws); "smoke"
    every cell at toy sizes on the built-in digits, for the tests."""
    _check_scale("choices", scale, ("full", "cpu", "smoke"))
    names = ("dcgan32", *variants.in_group("choice"))
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
    "baselines": baselines,
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
    for name, settings in s.baselines:
        for protocol in s.protocols:
            out.append(Cell("baseline", name, settings, protocol=protocol))
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


def only_tokens(text: str) -> list[str]:
    """``--only``'s tokens: the text split at commas outside square brackets, because a cell
    id's overrides hold commas of their own (``dcgan32-r1[ngf=32,ndf=32,batch_size=64]``)."""
    return [t.strip() for t in re.split(r",(?![^\[]*\])", text) if t.strip()]


def select(all_cells: list[Cell], only: list[str]) -> list[Cell]:
    """The cells matching any token of ``only`` (``key=value`` on kind, variant, dataset, seed,
    protocol; or a substring of the cell's id; conditions joined by "+" must all hold, e.g.
    ``variant=dcgan32+seed=0``), with the training cells they need."""
    if not only:
        return all_cells

    def hit(fields: dict, cell_id: str, token: str) -> bool:
        k, sep, v = token.partition("=")
        # a word before "=" is a key; anything else (an id's "r1[ngf=32") is a substring
        if sep and re.fullmatch(r"\w+", k):
            if k not in fields:
                raise UserError(
                    f"--only {token!r}: unknown key {k!r}; use kind, variant, dataset, seed or"
                    " protocol"
                )
            return fields[k] == v
        return token in cell_id

    conditions = [t.split("+") for t in only]  # OR over tokens, AND over a token's parts

    def chosen_cell(c: Cell) -> bool:
        fields = c.fields()
        return any(all(hit(fields, c.id, part) for part in parts) for parts in conditions)

    chosen = [c for c in all_cells if chosen_cell(c)]
    if not chosen:
        raise UserError(
            f"--only {','.join(only)} matches no cell; the cells are:\n  "
            + "\n  ".join(c.id for c in all_cells)
        )
    needed = {t for c in chosen for t in needs(c, all_cells)}
    return [c for c in all_cells if c in chosen or c in needed]


# the kinds that measure a model the suite trains: each waits for its train cell
_ON_A_TRAINED_MODEL = ("probe", "curve", "fidelity", "memorisation", "figures")


def needs(c: Cell, all_cells: list[Cell]) -> list[Cell]:
    """The cells that must finish before ``c`` can run: the training of the model it measures
    (none for a cell that trains, measures a random init, a baseline or a released model)."""
    if c.kind not in _ON_A_TRAINED_MODEL:
        return []
    key = (c.variant, c.overrides, c.dataset, c.seed)
    return [
        t
        for t in all_cells
        if t.kind == "train" and (t.variant, t.overrides, t.dataset, t.seed) == key
    ]
