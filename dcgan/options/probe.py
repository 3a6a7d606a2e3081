"""Options of `dcgan features`, `dcgan probe` and `dcgan probe-curve`: the linear probe's
commands, declared as data (spec.py). The extractors and solvers they list are read from their
registries when the parser is built."""

from __future__ import annotations

from .. import argtypes as A
from .shared import (
    C_RANGE,
    CKPT,
    CKPT_PATH,
    DATA_ROOT,
    DEVICE_OPTION,
    FORCE,
    NAME,
    NO_PROGRESS,
    SPLIT,
    data,
    run,
    set_option,
)
from .spec import Command, command, option

CKPT_OPTIONAL = option("--ckpt", type=CKPT_PATH, help=CKPT)


def _extractors_help() -> str:
    from .. import extractors

    return "; ".join(
        e.name + (f" (--set {', '.join(f'{s.name}={s.default}' for s in e.settings)})")
        if e.settings
        else e.name
        for e in extractors.REGISTRY.values()
        if e.name != "discriminator"
    )


def commands() -> tuple[Command, ...]:
    from ..svm import SOLVERS

    features = command(
        "features",
        "the paper's discriminator features (4x4 max-pooled conv layers), or another extractor's,"
        " into an .npy",
        CKPT_OPTIONAL,
        option(
            "--features",
            metavar="EXTRACTOR",
            type=NAME,
            help="another extractor instead of --ckpt's D (kmeans, pixels, module.path:callable;"
            " see `dcgan extractors`): fitted on, and standardised over, the probe's pool, as the"
            " probe fits them",
        ),
        set_option("a setting of --features' extractor"),
        option("--dataset", required=True, type=NAME),
        SPLIT,
        data(download=False),
        option("--out", required=True, type=A.NewFile(".npy"), help=".npy file (N x feature_dim)"),
        option(
            "--bn-stats",
            default="pool",
            choices=["pool", "running"],
            help="pool: population statistics estimated on --bn-pool (the paper's recipe);"
            " running: the checkpoint's own",
        ),
        option(
            "--bn-pool",
            type=A.Text("DATASET:SPLIT"),
            help="DATASET:SPLIT to estimate BN statistics on (default: the labelled pool `dcgan"
            " probe` uses for the dataset, its train split shuffled with seed 42 less the"
            " validation images, so the features are the ones the probe fits; the train split"
            " where no protocol probes the dataset)",
        ),
        option("--batch-size", type=A.count(), default=500),
        option("--float16", action="store_true", help="store float16 instead of float32"),
        FORCE,
        option(
            "--cache-dir",
            type=A.Folder(),
            help="feature cache (default: $DCGAN_CACHE or ~/.cache/dcgan-bench)",
        ),
        DEVICE_OPTION,
        NO_PROGRESS,
    )
    probe = command(
        "probe",
        "the paper's L2-SVM probe protocols on D's features, with a random-init control, or on"
        " another extractor's (--features)",
        CKPT_OPTIONAL,
        option(
            "--random-init",
            metavar="VARIANT",
            type=NAME,
            help="probe a randomly initialised D of VARIANT (seed --control-seed)",
        ),
        option(
            "--features",
            metavar="EXTRACTOR",
            type=NAME,
            help="probe another feature extractor instead of a D: "
            + _extractors_help()
            + "; or a user encoder module.path:callable returning a torch.nn.Module that maps"
            " images in [-1, 1] (NCHW) to features (see `dcgan extractors`)",
        ),
        set_option("a setting of --features' extractor, e.g. --set K=400 (repeatable)"),
        option(
            "--protocol",
            required=True,
            type=A.Items(what="protocol names"),
            help="svhn-1000, cifar10-400 or cifar10-full (comma-separated for several)",
        ),
        data(),
        option(
            "--draws", type=A.count(), help="draws per C for choosing C (default: the protocol's)"
        ),
        option(
            "--test-draws",
            type=A.count(),
            help="fresh draws with the chosen C, scored on the test set (default: the protocol's)",
        ),
        option(
            "--per-class",
            type=A.count(),
            help="labels per class in a draw (default: the protocol's, e.g. 400)",
        ),
        option(
            "--val-size",
            type=A.count(),
            help="validation images held out of the training set (default 10000)",
        ),
        option(
            "--grid",
            type=A.Items(C_RANGE, "C values", words=("paper",)),
            help="'paper': exactly the paper's 7 values 1e-4 ... 1e-2; or comma-separated C"
            " values, searched as given (default: the paper's 7 values, extended by 1-2-5 steps"
            " while the chosen C is on an edge)",
        ),
        option(
            "--solver",
            default="ours",
            choices=list(SOLVERS),
            help="; ".join(s.description for s in SOLVERS.values()),
        ),
        option("--seed", type=A.SEED, default=0, help="first draw seed"),
        option("--no-control", action="store_true", help="skip the random-init control"),
        option(
            "--compare-sklearn",
            action="store_true",
            help="benchmark: the protocol with our solver and scikit-learn's "
            "LinearSVC on the same features: the speed ratio and agreement",
        ),
        option("--control-seed", type=A.SEED, default=0),
        run("results/probe", "feature"),
    )
    curve = command(
        "probe-curve",
        "representation quality over training: a cheap declared probe of each "
        "checkpoint of a run, step 0 being the run's own random init",
        option(
            "--ckpt",
            required=True,
            type=A.Existing("folder"),
            help="a run folder (its ckpt-*.pt checkpoints)",
        ),
        option(
            "--protocol",
            default="cifar10-400",
            type=NAME,
            help="the protocol whose first draw is fitted (default cifar10-400)",
        ),
        option(
            "--C",
            type=C_RANGE,
            help="the fixed C (default: the curve's declared C for the protocol, e.g. 5e-4 for"
            " cifar10-400)",
        ),
        option(
            "--steps",
            type=A.Items(A.whole(), "checkpoint steps"),
            help="comma-separated checkpoint steps (default: every checkpoint in the folder)",
        ),
        option(
            "--draw-seed",
            type=A.SEED,
            default=0,
            help="the class-balanced draw fitted at every point",
        ),
        DATA_ROOT,
        run("results/probe", "feature"),
    )
    return features, probe, curve
