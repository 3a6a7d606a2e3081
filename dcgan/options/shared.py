"""The option groups several commands share (data, where rows go, the fast path, a figure's
checkpoint and output), and the checked types they use (argtypes.py)."""

import argparse

from .. import argtypes as A

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
