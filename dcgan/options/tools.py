"""Options of `dcgan throughput`, `compare`, `import-released` and `data`. ``add`` declares them on
the CLI's parser through ``command``."""

from __future__ import annotations

from .. import argtypes as A
from .shared import CKPT_PATH, NAME, _data_options, _fast_options, _run_options, summary_option


def add(command) -> None:
    from ..throughput import names as stage_names

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
