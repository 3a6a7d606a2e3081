"""TensorBoard events inside a run folder (`tensorboard --logdir runs/`): what a GAN researcher
watches live. The trainer writes log.csv's statistics (both losses, an objective's extra terms
inside D's, D(x), D(G(z)), the gradient norms), the learning rates and images/s every
--log-every steps, the fixed-z sample grid at every
checkpoint and the run's settings; the probe curve adds its points, a suite's probe cell its
final figure, each at its training step, in the same run.

A resumed run continues the same curves: its writer purges what the run logged after the
checkpoint it restarts from (those steps are trained again), so no step appears twice and none
goes backwards. Under torchrun only the first process writes.
"""

from __future__ import annotations

from pathlib import Path

import torch

# log.csv's columns that are not training statistics
_NOT_STATS = ("step", "epoch", "images_per_s", "elapsed_s")


class RunEvents:
    """A run folder's event writer; every method is a no-op when ``enabled`` is False."""

    def __init__(self, folder, start_step: int = 0, enabled: bool = True):
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            # from a checkpoint at step N the run logs N+1.. again: hide the earlier events there
            self.writer = SummaryWriter(
                log_dir=str(Path(folder)), purge_step=start_step + 1 if start_step else None
            )

    def training(self, step: int, stats: dict[str, float], lrs: dict[str, float], speed: float):
        if self.writer is None:
            return
        for name, value in stats.items():
            if name not in _NOT_STATS:
                self.writer.add_scalar(f"train/{name}", value, step)
        for name, value in lrs.items():
            self.writer.add_scalar(f"lr/{name}", value, step)
        self.writer.add_scalar("speed/images_per_s", speed, step)

    def samples(self, step: int, grid: torch.Tensor) -> None:
        """``grid``: the fixed-z samples (N, C, H, W) in [-1, 1]."""
        if self.writer is None:
            return
        from torchvision.utils import make_grid

        nrow = max(1, int(len(grid) ** 0.5 + 0.5))
        image = make_grid(grid.float().cpu(), nrow=nrow, normalize=True, value_range=(-1, 1))
        self.writer.add_image("samples/fixed_z", image, step)

    def settings(self, settings: dict) -> None:
        """The run's settings as text and as hparams (numbers, strings and booleans only)."""
        if self.writer is None:
            return
        plain = {k: v for k, v in settings.items() if isinstance(v, int | float | str | bool)}
        lines = "\n".join(f"    {k} = {v}" for k, v in sorted(plain.items()))
        self.writer.add_text("run/settings", lines, 0)
        from torch.utils.tensorboard.summary import hparams

        for event in hparams(plain, {}):
            self.writer.file_writer.add_summary(event)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def add_points(folder, tag: str, points: dict[int, float]) -> None:
    """Figures measured later on a run's checkpoints (the probe curve, a suite's probe) as a
    curve of ``tag`` over training steps, into the run's own events."""
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(log_dir=str(Path(folder))) as writer:
        for step, value in sorted(points.items()):
            writer.add_scalar(tag, value, step)
