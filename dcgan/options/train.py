"""Options of `dcgan train` and `dcgan sample`, declared as data (spec.py)."""

from __future__ import annotations

from .. import argtypes as A
from .shared import (
    CKPT_REQUIRED,
    DEVICE_OPTION,
    FAST,
    FORCE,
    IMAGES,
    NAME,
    NO_PROGRESS,
    SAMPLING_BN,
    SEED,
    SPLIT,
    data,
    set_option,
)
from .spec import Command, command, option


def commands() -> tuple[Command, ...]:
    train = command(
        "train",
        "train a variant on a dataset (resumable)",
        option(
            "--variant",
            required=True,
            type=NAME,
            help="a registered variant (see `dcgan variants`)",
        ),
        set_option("override a variant field, e.g. --set ngf=32 (repeatable)"),
        option(
            "--dataset",
            default="digits",
            type=NAME,
            help="a registered dataset (see `dcgan datasets`); default: the built-in digits",
        ),
        SPLIT,
        data(),
        option(
            "--steps",
            type=A.count(),
            required=True,
            help="total steps of the run (a resumed run continues to this)",
        ),
        option(
            "--out",
            required=True,
            type=A.Folder(),
            help="run folder (checkpoints, samples, log.csv)",
        ),
        option(
            "--resume",
            action="store_true",
            help="continue the run in --out from its newest checkpoint",
        ),
        SEED,
        option("--ckpt-every", type=A.count(), default=500),
        option("--keep", type=A.whole(), default=3, help="newest checkpoints kept (0: all)"),
        option(
            "--keep-steps",
            type=A.Items(A.count(), "checkpoint steps"),
            help="comma-separated steps whose checkpoints are also written and never pruned "
            "(e.g. a probe curve's points: 250,500,1000,2000)",
        ),
        option("--log-every", type=A.count(), default=10),
        option("--sample-n", type=A.count(), default=64, help="images in the fixed-z sample grid"),
        option(
            "--sheet-epochs",
            type=A.Items(A.count(), "epochs"),
            help="comma-separated epochs after which a sample sheet (the fixed z) is kept, "
            "e.g. 1,5 as in the paper",
        ),
        DEVICE_OPTION,
        FAST,
        option(
            "--deterministic",
            action="store_true",
            help="deterministic cuDNN kernels: a resumed CUDA run equals an "
            "uninterrupted one bit for bit",
        ),
        option(
            "--collapse-steps",
            type=A.whole(),
            default=2000,
            help="stop when D has looked collapsed this many steps (0: never)",
        ),
        option(
            "--no-tensorboard",
            action="store_true",
            help="write no TensorBoard events (by default they go into the run folder:"
            " `tensorboard --logdir runs/`)",
        ),
        NO_PROGRESS,
    )
    sample = command(
        "sample",
        "draw samples from a checkpoint into a PNG grid",
        CKPT_REQUIRED,
        option("--n", type=IMAGES, default=100),
        SEED,
        option("--out", required=True, type=A.NewFile(".png"), help="PNG file"),
        SAMPLING_BN,
        FORCE,
    )
    return train, sample
