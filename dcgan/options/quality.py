"""Options of `dcgan fidelity` and `dcgan memorisation`: the generative-quality commands,
declared as data (spec.py). The metrics are read from their registry when the parser is
built."""

from __future__ import annotations

from .. import argtypes as A
from .shared import CKPT_REQUIRED, IMAGES, NAME, SEED, SPLIT, data, run
from .spec import Command, command, option


def commands() -> tuple[Command, ...]:
    from ..quality import metrics

    fidelity = command(
        "fidelity",
        "IS, FID, KID and precision/recall of G's samples with torch-fidelity",
        CKPT_REQUIRED,
        option(
            "--dataset",
            required=True,
            type=NAME,
            help="the reference images (a registered dataset)",
        ),
        SPLIT,
        data(download=False),
        option("--n", type=A.count(), default=50000, help="generated samples (default 50000)"),
        option(
            "--n-real",
            type=A.count(),
            help="reference images: a seeded subset of this many (default: the whole split)",
        ),
        option(
            "--metrics",
            default=",".join(metrics.names()),
            type=A.Items(what="metric names"),
            help=f"comma-separated, from: {metrics.help_text()}",
        ),
        option(
            "--inception-weights",
            type=A.Existing("file"),
            help="Inception weights file (default: $DCGAN_INCEPTION_WEIGHTS or torch-fidelity's "
            "download location)",
        ),
        option(
            "--download",
            action="store_true",
            help="let torch-fidelity download the Inception weights and torchvision "
            "the dataset if missing",
        ),
        option("--batch-size", type=A.count(), default=64),
        option("--kid-subset-size", type=A.count(), default=1000),
        option(
            "--seed",
            type=A.SEED,
            default=2020,
            help="z draws (torch-fidelity's rng_seed) and the reference subset",
        ),
        run("results/fidelity", "statistics"),
    )
    memorisation = command(
        "memorisation",
        "nearest training images of G's samples, against held-out real images",
        CKPT_REQUIRED,
        option(
            "--dataset", required=True, type=NAME, help="G's training data (a registered dataset)"
        ),
        option("--split", default="train", type=NAME, help="the training split searched"),
        option(
            "--held-out-split",
            default="test",
            type=NAME,
            help="real images never trained on: the baseline",
        ),
        data(),
        option("--n", type=IMAGES, default=1000, help="generated samples"),
        option(
            "--n-held-out", type=A.count(), default=1000, help="held-out images (a seeded subset)"
        ),
        option("--k", type=A.count(1000), default=16, help="closest pairs shown in the image"),
        option("--pixels-only", action="store_true", help="skip the discriminator-feature space"),
        SEED,
        option(
            "--tag",
            action="append",
            metavar="KEY=VALUE",
            help="an extra column in the row written, e.g. --tag run=baseline (repeatable; a"
            " suite labels its rows so)",
        ),
        run("results/memorisation", "feature"),
    )
    return fidelity, memorisation
