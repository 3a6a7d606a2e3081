"""Every `dcgan` command's options, declared once (the shared groups as functions): what the CLI
parses. Choices and help that list registered things (solvers, metrics, throughput stages) are
read from their registries when the parser is built."""

from __future__ import annotations

import argparse

from . import argtypes as A

# the checked types of the options (dcgan/argtypes.py): every numeric option has its range, every
# list refuses empty, every output path is checked before the work
C_RANGE = A.Number(float, 1e-7, 1.0)  # the protocols' grid_range: beyond it the solver breaks down
IMAGES = A.count(100_000)  # images a figure command draws at once (memory, not taste)
NAME = A.Text("a non-empty name")


CKPT = "a ckpt-*.pt file or a run folder (its newest checkpoint)"
CKPT_PATH = A.Existing("path")
DEVICE = "auto (CUDA if available), cpu, cuda, cuda:1, ..."


def _data_options(p: argparse.ArgumentParser, download: bool = True) -> None:
    p.add_argument("--data-root", type=NAME, help="dataset root (default: $DCGAN_DATA_ROOT)")
    p.add_argument(
        "--data-opt",
        action="append",
        metavar="KEY=VALUE",
        help="a dataset option, e.g. x_key=x32 for npz",
    )
    if download:
        p.add_argument(
            "--download",
            action="store_true",
            help="let torchvision download the dataset if it is missing",
        )


def _run_options(p: argparse.ArgumentParser, out_dir: str, cache: str) -> None:
    """Where rows go, the cache, the device and progress: the same for every measuring command."""
    p.add_argument(
        "--out-dir",
        default=out_dir,
        type=A.Folder(),
        help="where the rows go (CSV appended, one JSON per run)",
    )
    p.add_argument(
        "--cache-dir",
        type=A.Folder(),
        help=f"{cache} cache (default: $DCGAN_CACHE or ~/.cache/dcgan-bench)",
    )
    p.add_argument("--device", default="auto", type=NAME, help=DEVICE)
    p.add_argument("--no-progress", action="store_true")


def summary_option(p: argparse.ArgumentParser, when: str) -> None:
    """`--summary PATH`: a compare's verdicts as Markdown for a CI job (dcgan compare, and the
    main job's --compare)."""
    p.add_argument(
        "--summary",
        metavar="PATH",
        type=A.NewFile(".md"),
        help=f"{when} write the verdicts as Markdown here (and append them to"
        " $GITHUB_STEP_SUMMARY when it is set), for a CI job's summary",
    )


def _fast_options(p: argparse.ArgumentParser) -> None:
    """The fast path (dcgan.step.FastPath), for train and throughput alike."""
    p.add_argument(
        "--amp", default="off", choices=["off", "bf16"], help="bf16 autocast (CUDA only)"
    )
    p.add_argument(
        "--channels-last", action="store_true", help="channels_last memory format (for CUDA)"
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the nets (CUDA only)")
    p.add_argument("--fused-adam", action="store_true", help="torch's fused Adam kernels")
    p.add_argument(
        "--cuda-graphs",
        action="store_true",
        help="capture the whole step once as a CUDA graph and replay it (CUDA, one process)",
    )


def _figure_options(p: argparse.ArgumentParser, bn_stats: bool = True) -> None:
    p.add_argument("--ckpt", required=True, type=CKPT_PATH, help=CKPT)
    p.add_argument("--out", required=True, type=A.Folder(), help="output folder")
    p.add_argument("--seed", type=A.SEED, default=0)
    p.add_argument(
        "--scale", type=A.count(16), default=3, help="pixel upscaling of the written images"
    )
    p.add_argument("--force", action="store_true", help="write into a folder that is not empty")
    if bn_stats:
        p.add_argument(
            "--bn-stats",
            choices=["running", "batch"],
            help="BN statistics for sampling (default: the checkpoint's)",
        )


def build_parser(names: list[str]) -> argparse.ArgumentParser:
    """The parser of every command in ``names`` (each parsed to ``args.command``)."""
    from . import extractors
    from .quality import metrics
    from .svm import SOLVERS
    from .throughput import names as stage_names

    p = argparse.ArgumentParser(prog="dcgan", description="DCGAN benchmark harness")
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        if name not in names:
            raise ValueError(f"no command function for {name!r}")
        return sub.add_parser(name, help=help)

    t = command("train", "train a variant on a dataset (resumable)")
    t.add_argument(
        "--variant", required=True, type=NAME, help="a registered variant (see `dcgan variants`)"
    )
    t.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a variant field, e.g. --set ngf=32 (repeatable)",
    )
    t.add_argument(
        "--dataset",
        default="digits",
        type=NAME,
        help="a registered dataset (see `dcgan datasets`); default: the built-in digits",
    )
    t.add_argument("--split", default="train", type=NAME)
    _data_options(t)
    t.add_argument(
        "--steps",
        type=A.count(),
        required=True,
        help="total steps of the run (a resumed run continues to this)",
    )
    t.add_argument(
        "--out", required=True, type=A.Folder(), help="run folder (checkpoints, samples, log.csv)"
    )
    t.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its newest checkpoint"
    )
    t.add_argument("--seed", type=A.SEED, default=0)
    t.add_argument("--ckpt-every", type=A.count(), default=500)
    t.add_argument("--keep", type=A.whole(), default=3, help="newest checkpoints kept (0: all)")
    t.add_argument(
        "--keep-steps",
        type=A.Items(A.count(), "checkpoint steps"),
        help="comma-separated steps whose checkpoints are also written and never pruned "
        "(e.g. a probe curve's points: 250,500,1000,2000)",
    )
    t.add_argument("--log-every", type=A.count(), default=10)
    t.add_argument(
        "--sample-n", type=A.count(), default=64, help="images in the fixed-z sample grid"
    )
    t.add_argument(
        "--sheet-epochs",
        type=A.Items(A.count(), "epochs"),
        help="comma-separated epochs after which a sample sheet (the fixed z) is kept, "
        "e.g. 1,5 as in the paper",
    )
    t.add_argument("--device", default="auto", type=NAME, help=DEVICE)
    _fast_options(t)
    t.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic cuDNN kernels: a resumed CUDA run equals an "
        "uninterrupted one bit for bit",
    )
    t.add_argument(
        "--collapse-steps",
        type=A.whole(),
        default=2000,
        help="stop when D has looked collapsed this many steps (0: never)",
    )
    t.add_argument(
        "--no-tensorboard",
        action="store_true",
        help="write no TensorBoard events (by default they go into the run folder: `tensorboard"
        " --logdir runs/`)",
    )
    t.add_argument("--no-progress", action="store_true")

    s = command("sample", "draw samples from a checkpoint into a PNG grid")
    s.add_argument("--ckpt", required=True, type=CKPT_PATH, help=CKPT)
    s.add_argument("--n", type=IMAGES, default=100)
    s.add_argument("--seed", type=A.SEED, default=0)
    s.add_argument("--out", required=True, type=A.NewFile(".png"), help="PNG file")
    s.add_argument(
        "--bn-stats",
        choices=["running", "batch"],
        help="BN statistics for sampling (default: the checkpoint's)",
    )
    s.add_argument("--force", action="store_true", help="overwrite --out")

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

    fi = command("fidelity", "IS, FID, KID and precision/recall of G's samples with torch-fidelity")
    fi.add_argument("--ckpt", required=True, type=CKPT_PATH, help=CKPT)
    fi.add_argument(
        "--dataset", required=True, type=NAME, help="the reference images (a registered dataset)"
    )
    fi.add_argument("--split", default="train", type=NAME)
    _data_options(fi, download=False)
    fi.add_argument("--n", type=A.count(), default=50000, help="generated samples (default 50000)")
    fi.add_argument(
        "--n-real",
        type=A.count(),
        help="reference images: a seeded subset of this many (default: the whole split)",
    )
    fi.add_argument(
        "--metrics",
        default=",".join(metrics.names()),
        type=A.Items(what="metric names"),
        help=f"comma-separated, from: {metrics.help_text()}",
    )
    fi.add_argument(
        "--inception-weights",
        type=A.Existing("file"),
        help="Inception weights file (default: $DCGAN_INCEPTION_WEIGHTS or torch-fidelity's "
        "download location)",
    )
    fi.add_argument(
        "--download",
        action="store_true",
        help="let torch-fidelity download the Inception weights and torchvision "
        "the dataset if missing",
    )
    fi.add_argument("--batch-size", type=A.count(), default=64)
    fi.add_argument("--kid-subset-size", type=A.count(), default=1000)
    fi.add_argument(
        "--seed",
        type=A.SEED,
        default=2020,
        help="z draws (torch-fidelity's rng_seed) and the reference subset",
    )
    _run_options(fi, "results/fidelity", "statistics")

    m = command(
        "memorisation", "nearest training images of G's samples, against held-out real images"
    )
    m.add_argument("--ckpt", required=True, type=CKPT_PATH, help=CKPT)
    m.add_argument(
        "--dataset", required=True, type=NAME, help="G's training data (a registered dataset)"
    )
    m.add_argument("--split", default="train", type=NAME, help="the training split searched")
    m.add_argument(
        "--held-out-split",
        default="test",
        type=NAME,
        help="real images never trained on: the baseline",
    )
    _data_options(m)
    m.add_argument("--n", type=IMAGES, default=1000, help="generated samples")
    m.add_argument(
        "--n-held-out", type=A.count(), default=1000, help="held-out images (a seeded subset)"
    )
    m.add_argument("--k", type=A.count(1000), default=16, help="closest pairs shown in the image")
    m.add_argument(
        "--pixels-only", action="store_true", help="skip the discriminator-feature space"
    )
    m.add_argument("--seed", type=A.SEED, default=0)
    m.add_argument(
        "--tag",
        action="append",
        metavar="KEY=VALUE",
        help="an extra column in the row written, e.g. --tag run=baseline (repeatable; a suite"
        " labels its rows so)",
    )
    _run_options(m, "results/memorisation", "feature")

    w = command("walk", "a latent walk through 9 random z (PNG grid and animated GIF)")
    _figure_options(w)
    w.add_argument("--points", type=A.count(256), default=9, help="random z walked through")
    w.add_argument(
        "--steps", type=A.count(256), default=8, help="steps between neighbouring points"
    )
    w.add_argument("--mode", default="linear", choices=["linear", "slerp"])

    ar = command(
        "arithmetic",
        "vector arithmetic on z: a numbered sample sheet, then --expr '1,2,3 - 4,5,6 + 7,8,9'",
    )
    _figure_options(ar)
    ar.add_argument("--n", type=A.count(1000), default=100, help="samples on the numbered sheet")
    ar.add_argument(
        "--expr",
        type=A.Text("concepts, e.g. '1,2,3 - 4,5,6 + 7,8,9'"),
        help="concepts as sheet indices, e.g. '1,2,3 - 4,5,6 + 7,8,9' (the paper: 3 exemplars"
        " each)",
    )
    ar.add_argument(
        "--noise",
        type=A.Number(float, 0, 10),
        default=0.25,
        help="the 8 around G(Y) are G(Y + U(-noise, noise))",
    )
    ar.add_argument(
        "--turn-left",
        type=A.Items(A.whole(), "sheet indices"),
        help="sheet indices of left-facing exemplars (the paper: 4)",
    )
    ar.add_argument(
        "--turn-right",
        type=A.Items(A.whole(), "sheet indices"),
        help="sheet indices of right-facing exemplars (the paper: 4)",
    )
    ar.add_argument(
        "--turn-rows",
        type=A.Items(A.whole(), "sheet indices"),
        help="sheet indices the turn vector is applied to, one row each (default 0,1,2,3)",
    )
    ar.add_argument("--steps", type=A.count(256), default=8, help="steps of the turn along a row")

    vi = command(
        "visualise", "guided backpropagation of D's last-layer features, beside a random-init D"
    )
    _figure_options(vi, bn_stats=False)
    vi.add_argument(
        "--dataset",
        required=True,
        type=NAME,
        help="images searched for each feature's maximal response",
    )
    vi.add_argument("--split", default="train", type=NAME)
    _data_options(vi, download=False)
    vi.add_argument(
        "--n-images", type=IMAGES, default=2000, help="a seeded subset of this many images"
    )
    vi.add_argument(
        "--features",
        dest="n_features",
        type=A.count(),
        default=6,
        help="the first N features (the paper: 6)",
    )
    vi.add_argument("--layer", type=NAME, help="a D layer (default: the last conv layer)")

    fo = command("forget", "drop the feature maps of G that draw the marked object, and draw again")
    _figure_options(fo)
    fo.add_argument(
        "--boxes",
        required=True,
        type=A.Existing("file"),
        help='JSON: [{"sample": INDEX, "boxes": [[x0, y0, x1, y1], ...]}, ...] on the '
        "numbered sheet",
    )
    fo.add_argument(
        "--n",
        type=A.count(1000),
        default=150,
        help="samples on the sheet the boxes refer to (dcgan arithmetic --n N --seed S draws it)",
    )
    fo.add_argument(
        "--show",
        type=A.count(256),
        default=16,
        help="fresh samples drawn with and without the drop",
    )
    fo.add_argument("--layer", type=NAME, help="a G layer (default: the last hidden one)")

    tp = command(
        "throughput",
        "images/s of a training step (ours and a pytorch/examples-style loop), "
        "sampling, features, the SVM",
    )
    tp.add_argument(
        "--variant", type=NAME, help="a registered variant, random-init weights (or give --ckpt)"
    )
    tp.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a variant field")
    tp.add_argument("--ckpt", type=CKPT_PATH, help="a checkpoint instead of --variant")
    tp.add_argument(
        "--dataset",
        default="digits",
        type=NAME,
        help="images to train and extract on (a registered dataset)",
    )
    tp.add_argument("--split", default="train", type=NAME)
    _data_options(tp, download=False)
    tp.add_argument(
        "--n-images", type=A.count(), default=5000, help="a seeded subset of this many images"
    )
    tp.add_argument(
        "--stages",
        default=",".join(stage_names()),
        type=A.Items(what="stage names"),
        help=f"comma-separated, from {','.join(stage_names())}",
    )
    tp.add_argument("--batch-size", type=A.count(), help="training batch (default: the variant's)")
    tp.add_argument("--warmup", type=A.whole(), default=3, help="untimed calls first")
    tp.add_argument("--iters", type=A.count(), default=10, help="calls per timed window")
    tp.add_argument(
        "--repeats",
        type=A.count(),
        default=3,
        help="timed windows (the median is reported, min and max beside it)",
    )
    tp.add_argument(
        "--workers",
        type=A.whole(),
        default=2,
        help="DataLoader workers of the reference loop (pytorch/examples: 2)",
    )
    tp.add_argument(
        "--svm-n",
        type=A.whole(100),
        default=1000,
        help="training samples of the timed SVM solve (enough for every class to appear)",
    )
    _fast_options(tp)
    tp.add_argument(
        "--ladder",
        action="store_true",
        help="also time our step with each fast-path option added in turn (eager, "
        "fused Adam, channels_last, and on CUDA bf16, torch.compile, CUDA graphs)",
    )
    _run_options(tp, "results/throughput", "feature")

    c = command(
        "compare",
        "deltas between two result sets (or two variants in one) with noise-aware verdicts; "
        "exit 1 on a gated regression",
    )
    c.add_argument(
        "base", type=A.Existing(), help="the baseline: a results folder or rows JSON file"
    )
    c.add_argument(
        "new",
        nargs="?",
        type=A.Existing(),
        help="the candidate: a results folder or rows JSON file",
    )
    c.add_argument(
        "--variants",
        nargs=2,
        type=NAME,
        metavar=("BASE_VARIANT", "NEW_VARIANT"),
        help="compare two variants within BASE",
    )
    c.add_argument(
        "--alpha",
        type=A.Number(float, 0, 0.5, open_low=True),
        default=0.05,
        help="significance level of the noise test (0 would call every change noise)",
    )
    summary_option(c, "also")

    r = command(
        "import-released", "import the paper authors' released Theano weights (dcgan_code models/)"
    )
    r.add_argument(
        "folder",
        type=A.Existing("folder"),
        help="a released model folder, e.g."
        " dcgan_code/models/svhn_unsup_all_conv_dcgan_100z_gaussian_lr_0.0005_64mb",
    )
    r.add_argument(
        "--out", required=True, type=A.NewFile(".pt"), help="the checkpoint file to write"
    )
    r.add_argument("--force", action="store_true", help="overwrite --out")

    d = command(
        "data",
        "what data is there: each dataset split a run or probe needs, found (checked) or missing"
        " (with how to get it); exit 1 when something is missing",
    )
    d.add_argument("--data-root", type=NAME, help="dataset root (default: $DCGAN_DATA_ROOT)")
    d.add_argument(
        "--datasets",
        type=A.Items(what="dataset names"),
        help="training data to check (default, with --protocols unset: every dataset that needs"
        " a data root, and every protocol's)",
    )
    d.add_argument(
        "--protocols", type=A.Items(what="protocol names"), help="probe protocols to check"
    )
    d.add_argument(
        "--download",
        action="store_true",
        help="let torchvision fetch what it can (CIFAR-10, SVHN) into the data root",
    )

    command("variants", "list the registered variants")
    command("datasets", "list the registered datasets")
    command("extractors", "list the registered feature extractors and their settings")
    for sp in sub.choices.values():
        sp.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return A.explain(p)


def outputs(parser: argparse.ArgumentParser, command: str, kind: type) -> list[str]:
    """The dests of ``command``'s outputs declared as ``kind`` (``A.Folder`` or ``A.NewFile``),
    the cache aside (many commands share it on purpose)."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [
        a.dest
        for a in sub.choices[command]._actions
        if isinstance(a.type, kind) and a.dest != "cache_dir"
    ]
