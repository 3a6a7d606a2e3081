"""The suites: declared matrices of variants x datasets x seeds x protocols at a scale (the
quick suite, the paper's reproduction and its smoke scale, the baselines, the ablations, the
training choices, the authors' released models), by name in ``SUITES``. suite_types.py says
what a suite and a cell are; cell_graph.py expands a suite into cells and selects them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from bench.suite_types import (  # noqa: F401  (Cell and train_recipe: read through this module)
    Cell,
    Suite,
    check_scale,
    cifar10_present,
    train_recipe,
)
from dcgan import data, throughput, variants
from dcgan.quality import metrics

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
    """Offline, on a 2-core CPU, in 14 to 17 minutes with an empty cache (the K-means cell's 5.5
    to 6 minutes are cached for later runs): the real CIFAR-10 when it is under
    $DCGAN_DATA_ROOT, else the built-in digits. The trained D against its random-init control
    on the same test draws, the probe curve over the run, KID where the weights are,
    memorisation, throughput. ``candidate``: a second model run beside the baseline the same way
    (for `tox -e compare`)."""
    check_scale("quick", scale, ("full",))
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
    check_scale("paper", scale, ("full", "smoke"))
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
    check_scale("baselines", scale, ("full", "smoke"))
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
    check_scale("ablations", scale, ("full",))
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
    check_scale("choices", scale, ("full", "cpu", "smoke"))
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
    check_scale("released", scale, ("full",))
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
