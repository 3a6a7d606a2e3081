"""The option declarations several commands share (data, where rows go, the fast path, a
figure's checkpoint and output), and the checked types they use (argtypes.py)."""

from __future__ import annotations

from .. import argtypes as A
from .spec import Option, option

# the checked types of the options (dcgan/argtypes.py): every numeric option has its range, every
# list refuses empty, every output path is checked before the work
C_RANGE = A.Number(float, 1e-7, 1.0)  # the protocols' grid_range: beyond it the solver breaks down
IMAGES = A.count(100_000)  # images a figure command draws at once (memory, not taste)
NAME = A.Text("a non-empty name")


CKPT = "a ckpt-*.pt file or a run folder (its newest checkpoint)"
CKPT_PATH = A.Existing("path")
DEVICE = "auto (CUDA if available), cpu, cuda, cuda:1, ..."

# single options more than one command declares alike
CKPT_REQUIRED = option("--ckpt", required=True, type=CKPT_PATH, help=CKPT)
DATA_ROOT = option("--data-root", type=NAME, help="dataset root (default: $DCGAN_DATA_ROOT)")
DEVICE_OPTION = option("--device", default="auto", type=NAME, help=DEVICE)
FORCE = option("--force", action="store_true", help="overwrite --out")
NO_PROGRESS = option(
    "--no-progress",
    action="store_true",
    help="no progress bars and no progress messages on stderr (results still print)",
)
SEED = option("--seed", type=A.SEED, default=0)
SPLIT = option("--split", default="train", type=NAME)
SAMPLING_BN = option(
    "--bn-stats",
    choices=["running", "batch"],
    help="BN statistics for sampling (default: the checkpoint's)",
)


def set_option(help: str) -> Option:
    """`--set KEY=VALUE` (repeatable): a variant's fields or an extractor's settings."""
    return option("--set", action="append", metavar="KEY=VALUE", help=help)


def data(download: bool = True) -> tuple[Option, ...]:
    """Where the dataset is, its options, and (where the command may fetch it) --download."""
    fetch = option(
        "--download",
        action="store_true",
        help="let torchvision download the dataset if it is missing",
    )
    return (
        DATA_ROOT,
        option(
            "--data-opt",
            action="append",
            metavar="KEY=VALUE",
            help="a dataset option, e.g. x_key=x32 for npz",
        ),
    ) + ((fetch,) if download else ())


def run(out_dir: str, cache: str) -> tuple[Option, ...]:
    """Where rows go, the cache, the device and progress: the same for every measuring command."""
    return (
        option(
            "--out-dir",
            default=out_dir,
            type=A.Folder(),
            help="where the rows go (CSV appended, one JSON per run)",
        ),
        option(
            "--cache-dir",
            type=A.Folder(),
            help=f"{cache} cache (default: $DCGAN_CACHE or ~/.cache/dcgan-bench)",
        ),
        DEVICE_OPTION,
        NO_PROGRESS,
    )


def summary(when: str) -> Option:
    """`--summary PATH`: a compare's verdicts as Markdown for a CI job (dcgan compare, and the
    main job's --compare)."""
    return option(
        "--summary",
        metavar="PATH",
        type=A.NewFile(".md"),
        help=f"{when} write the verdicts as Markdown here (and append them to"
        " $GITHUB_STEP_SUMMARY when it is set), for a CI job's summary",
    )


# the fast path (dcgan.step.FastPath), for train and throughput alike
FAST = (
    option("--amp", default="off", choices=["off", "bf16"], help="bf16 autocast (CUDA only)"),
    option("--channels-last", action="store_true", help="channels_last memory format (for CUDA)"),
    option("--compile", action="store_true", help="torch.compile the nets (CUDA only)"),
    option("--fused-adam", action="store_true", help="torch's fused Adam kernels"),
    option(
        "--cuda-graphs",
        action="store_true",
        help="capture the whole step once as a CUDA graph and replay it (CUDA, one process)",
    ),
)


def figure(bn_stats: bool = True) -> tuple[Option, ...]:
    """A figure command's checkpoint, output folder, seed and scale."""
    return (
        CKPT_REQUIRED,
        option("--out", required=True, type=A.Folder(), help="output folder"),
        SEED,
        option(
            "--scale", type=A.count(16), default=3, help="pixel upscaling of the written images"
        ),
        option("--force", action="store_true", help="write into a folder that is not empty"),
    ) + ((SAMPLING_BN,) if bn_stats else ())
