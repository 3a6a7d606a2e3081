"""Options of `dcgan train` and `dcgan sample`. ``add`` declares them on the CLI's parser through
``command``."""

from __future__ import annotations

from .. import argtypes as A
from .shared import CKPT, CKPT_PATH, DEVICE, IMAGES, NAME, _data_options, _fast_options


def add(command) -> None:
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
