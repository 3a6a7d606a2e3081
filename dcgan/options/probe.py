"""Options of `dcgan features`, `dcgan probe` and `dcgan curve`: the linear probe's commands.
``add`` declares them on the CLI's parser through ``command``."""

from __future__ import annotations

from .. import argtypes as A
from .shared import C_RANGE, CKPT, CKPT_PATH, DEVICE, NAME, _data_options, _run_options


def add(command) -> None:
    from .. import extractors
    from ..svm import SOLVERS

    f = command(
        "features",
        "the paper's discriminator features (4x4 max-pooled conv layers), or another extractor's,"
        " into an .npy",
    )
    f.add_argument("--ckpt", type=CKPT_PATH, help=CKPT)
    f.add_argument(
        "--features",
        metavar="EXTRACTOR",
        type=NAME,
        help="another extractor instead of --ckpt's D (kmeans, pixels, module.path:callable; see"
        " `dcgan extractors`): fitted on, and standardised over, the probe's pool, as the probe"
        " fits them",
    )
    f.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="a setting of --features' extractor"
    )
    f.add_argument("--dataset", required=True, type=NAME)
    f.add_argument("--split", default="train", type=NAME)
    _data_options(f, download=False)
    f.add_argument(
        "--out", required=True, type=A.NewFile(".npy"), help=".npy file (N x feature_dim)"
    )
    f.add_argument(
        "--bn-stats",
        default="pool",
        choices=["pool", "running"],
        help="pool: population statistics estimated on --bn-pool (the paper's recipe); running:"
        " the checkpoint's own",
    )
    f.add_argument(
        "--bn-pool",
        type=A.Text("DATASET:SPLIT"),
        help="DATASET:SPLIT to estimate BN statistics on (default: the labelled pool `dcgan probe`"
        " uses "
        "for the dataset, its train split shuffled with seed 42 less the validation images, so the "
        "features are the ones the probe fits; the train split where no protocol probes the"
        " dataset)",
    )
    f.add_argument("--batch-size", type=A.count(), default=500)
    f.add_argument("--float16", action="store_true", help="store float16 instead of float32")
    f.add_argument("--force", action="store_true", help="overwrite --out")
    f.add_argument(
        "--cache-dir",
        type=A.Folder(),
        help="feature cache (default: $DCGAN_CACHE or ~/.cache/dcgan-bench)",
    )
    f.add_argument("--device", default="auto", type=NAME, help=DEVICE)
    f.add_argument("--no-progress", action="store_true")

    pr = command(
        "probe",
        "the paper's L2-SVM probe protocols on D's features, with a random-init control, or on"
        " another extractor's (--features)",
    )
    pr.add_argument("--ckpt", type=CKPT_PATH, help=CKPT)
    pr.add_argument(
        "--random-init",
        metavar="VARIANT",
        type=NAME,
        help="probe a randomly initialised D of VARIANT (seed --control-seed)",
    )
    pr.add_argument(
        "--features",
        metavar="EXTRACTOR",
        type=NAME,
        help="probe another feature extractor instead of a D: "
        + "; ".join(
            e.name + (f" (--set {', '.join(f'{s.name}={s.default}' for s in e.settings)})")
            if e.settings
            else e.name
            for e in extractors.REGISTRY.values()
            if e.name != "discriminator"
        )
        + "; or a user encoder module.path:callable returning a torch.nn.Module that maps"
        " images in [-1, 1] (NCHW) to features (see `dcgan extractors`)",
    )
    pr.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="a setting of --features' extractor, e.g. --set K=400 (repeatable)",
    )
    pr.add_argument(
        "--protocol",
        required=True,
        type=A.Items(what="protocol names"),
        help="svhn-1000, cifar10-400 or cifar10-full (comma-separated for several)",
    )
    _data_options(pr)
    pr.add_argument(
        "--draws", type=A.count(), help="draws per C for choosing C (default: the protocol's)"
    )
    pr.add_argument(
        "--test-draws",
        type=A.count(),
        help="fresh draws with the chosen C, scored on the test set (default: the protocol's)",
    )
    pr.add_argument(
        "--per-class",
        type=A.count(),
        help="labels per class in a draw (default: the protocol's, e.g. 400)",
    )
    pr.add_argument(
        "--val-size",
        type=A.count(),
        help="validation images held out of the training set (default 10000)",
    )
    pr.add_argument(
        "--grid",
        type=A.Items(C_RANGE, "C values", words=("paper",)),
        help="'paper': exactly the paper's 7 values 1e-4 ... 1e-2; or comma-separated C values,"
        " searched as "
        "given (default: the paper's 7 values, extended by 1-2-5 steps while the chosen C is on an"
        " edge)",
    )
    pr.add_argument(
        "--solver",
        default="ours",
        choices=list(SOLVERS),
        help="; ".join(s.description for s in SOLVERS.values()),
    )
    pr.add_argument("--seed", type=A.SEED, default=0, help="first draw seed")
    pr.add_argument("--no-control", action="store_true", help="skip the random-init control")
    pr.add_argument(
        "--compare-sklearn",
        action="store_true",
        help="benchmark: the protocol with our solver and scikit-learn's "
        "LinearSVC on the same features: the speed ratio and agreement",
    )
    pr.add_argument("--control-seed", type=A.SEED, default=0)
    _run_options(pr, "results/probe", "feature")

    pc = command(
        "probe-curve",
        "representation quality over training: a cheap declared probe of each "
        "checkpoint of a run, step 0 being the run's own random init",
    )
    pc.add_argument(
        "--ckpt",
        required=True,
        type=A.Existing("folder"),
        help="a run folder (its ckpt-*.pt checkpoints)",
    )
    pc.add_argument(
        "--protocol",
        default="cifar10-400",
        type=NAME,
        help="the protocol whose first draw is fitted (default cifar10-400)",
    )
    pc.add_argument(
        "--C",
        type=C_RANGE,
        help="the fixed C (default: the curve's declared C for the protocol, e.g. 5e-4 for"
        " cifar10-400)",
    )
    pc.add_argument(
        "--steps",
        type=A.Items(A.whole(), "checkpoint steps"),
        help="comma-separated checkpoint steps (default: every checkpoint in the folder)",
    )
    pc.add_argument(
        "--draw-seed", type=A.SEED, default=0, help="the class-balanced draw fitted at every point"
    )
    pc.add_argument("--data-root", type=NAME, help="dataset root (default: $DCGAN_DATA_ROOT)")
    _run_options(pc, "results/probe", "feature")
