"""What a training run is asked to do (TrainConfig), its settings checked before any work, the
data order every step's batch is rebuilt from, and TrainingStopped, the stop that says what was
kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..data import ImageSet
from ..errors import UserError
from ..step import EAGER, FastPath
from ..variants import Variant


class TrainingStopped(UserError):
    """Training stopped on purpose (interrupted, unhealthy); the message says what was kept."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class TrainConfig:
    variant: Variant
    out: Path
    steps: int
    dataset: str = "digits"
    split: str = "train"
    data_root: str | None = None
    data_options: dict = field(default_factory=dict)
    download: bool = False
    seed: int = 0
    ckpt_every: int = 500
    keep: int = 3  # newest checkpoints kept (0 keeps all)
    # checkpoints also written at these steps and never pruned (the probe curve's points)
    keep_steps: tuple[int, ...] = ()
    log_every: int = 10
    sample_n: int = 64
    # a sample sheet (fixed z) after these epochs, e.g. (1, 5) as in the paper
    sheet_epochs: tuple[int, ...] = ()
    resume: bool = False
    device: str = "auto"  # "auto": CUDA when available, else CPU
    # the CUDA fast path (bf16 autocast, channels_last, compile, fused Adam, CUDA graphs)
    fast: FastPath = EAGER
    # deterministic kernels (cuDNN): bit-exact resume on CUDA, at some speed
    deterministic: bool = False
    collapse_steps: int = 2000  # D(x)>0.99 and D(G(z))<0.01 this long stops the run; 0 disables
    progress: bool = True
    # images already in memory, in place of loading `dataset` by name
    images: ImageSet | None = None
    tensorboard: bool = True  # TensorBoard events in the run folder (dcgan/events.py)


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The data order of one epoch: a permutation drawn from its own generator, so any step's
    batch can be rebuilt from (seed, epoch) alone when a run resumes."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def check_settings(cfg: TrainConfig) -> None:
    """Counts of at least 1 and positive kept steps, before any data is loaded."""
    for name in ("steps", "ckpt_every", "log_every", "sample_n"):
        if getattr(cfg, name) < 1:
            raise UserError(
                f"--{name.replace('_', '-')} must be at least 1; got {getattr(cfg, name)}"
            )
    if any(s < 1 for s in cfg.keep_steps):
        raise UserError(
            f"--keep-steps must be positive steps; got {','.join(map(str, cfg.keep_steps))}"
        )
