"""Options of `dcgan throughput`, `compare`, `import-released` and `data`, declared as data
(spec.py). The throughput stages are read from their registry when the parser is built."""

from __future__ import annotations

from .. import argtypes as A
from .shared import CKPT_PATH, DATA_ROOT, FAST, FORCE, NAME, SPLIT, data, run, set_option, summary
from .spec import Command, command, option


def commands() -> tuple[Command, ...]:
    from ..throughput import names as stage_names

    throughput = command(
        "throughput",
        "images/s of a training step (ours and a pytorch/examples-style loop), "
        "sampling, features, the SVM",
        option(
            "--variant",
            type=NAME,
            help="a registered variant, random-init weights (or give --ckpt)",
        ),
        set_option("override a variant field"),
        option("--ckpt", type=CKPT_PATH, help="a checkpoint instead of --variant"),
        option(
            "--dataset",
            default="digits",
            type=NAME,
            help="images to train and extract on (a registered dataset)",
        ),
        SPLIT,
        data(download=False),
        option(
            "--n-images", type=A.count(), default=5000, help="a seeded subset of this many images"
        ),
        option(
            "--stages",
            default=",".join(stage_names()),
            type=A.Items(what="stage names"),
            help=f"comma-separated, from {','.join(stage_names())}",
        ),
        option("--batch-size", type=A.count(), help="training batch (default: the variant's)"),
        option("--warmup", type=A.whole(), default=3, help="untimed calls first"),
        option("--iters", type=A.count(), default=10, help="calls per timed window"),
        option(
            "--repeats",
            type=A.count(),
            default=3,
            help="timed windows (the median is reported, min and max beside it)",
        ),
        option(
            "--workers",
            type=A.whole(),
            default=2,
            help="DataLoader workers of the reference loop (pytorch/examples: 2)",
        ),
        option(
            "--svm-n",
            type=A.whole(100),
            default=1000,
            help="training samples of the timed SVM solve (enough for every class to appear)",
        ),
        FAST,
        option(
            "--ladder",
            action="store_true",
            help="also time our step with each fast-path option added in turn (eager, "
            "fused Adam, channels_last, and on CUDA bf16, torch.compile, CUDA graphs)",
        ),
        run("results/throughput", "feature"),
    )
    compare = command(
        "compare",
        "deltas between two result sets (or two variants in one) with noise-aware verdicts; "
        "exit 1 on a gated regression",
        option("base", type=A.Existing(), help="the baseline: a results folder or rows JSON file"),
        option(
            "new",
            nargs="?",
            type=A.Existing(),
            help="the candidate: a results folder or rows JSON file",
        ),
        option(
            "--variants",
            nargs=2,
            type=NAME,
            metavar=("BASE_VARIANT", "NEW_VARIANT"),
            help="compare two variants within BASE",
        ),
        option(
            "--alpha",
            type=A.Number(float, 0, 0.5, open_low=True),
            default=0.05,
            help="significance level of the noise test (0 would call every change noise)",
        ),
        summary("also"),
    )
    released = command(
        "import-released",
        "import the paper authors' released Theano weights (dcgan_code models/)",
        option(
            "folder",
            type=A.Existing("folder"),
            help="a released model folder, e.g."
            " dcgan_code/models/svhn_unsup_all_conv_dcgan_100z_gaussian_lr_0.0005_64mb",
        ),
        option("--out", required=True, type=A.NewFile(".pt"), help="the checkpoint file to write"),
        FORCE,
    )
    check_data = command(
        "data",
        "what data is there: each dataset split a run or probe needs, found (checked) or missing"
        " (with how to get it); exit 1 when something is missing",
        DATA_ROOT,
        option(
            "--datasets",
            type=A.Items(what="dataset names"),
            help="training data to check (default, with --protocols unset: every dataset that"
            " needs a data root, and every protocol's)",
        ),
        option("--protocols", type=A.Items(what="protocol names"), help="probe protocols to check"),
        option(
            "--download",
            action="store_true",
            help="let torchvision fetch what it can (CIFAR-10, SVHN) into the data root",
        ),
    )
    return throughput, compare, released, check_data
