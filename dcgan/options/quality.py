"""Options of `dcgan fidelity` and `dcgan memorisation`: the generative-quality commands. ``add``
declares them on the CLI's parser through ``command``."""

from __future__ import annotations

from .. import argtypes as A
from .shared import CKPT, CKPT_PATH, IMAGES, NAME, _data_options, _run_options


def add(command) -> None:
    from ..quality import metrics

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
