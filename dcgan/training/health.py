"""A training run's health, checked at every log step: a NaN or infinite loss stops it at once; a
loss above DIVERGED_LOSS for DIVERGED_STEPS steps (logits blown up) stops it; under the paper's
loss, a collapsed discriminator (D(x) > 0.99 and D(G(z)) < 0.01 for ``collapse_steps`` steps)
stops it. Each stop names the last good checkpoint; while a run looks unhealthy the loop pauses
its periodic checkpoints, so that one is not pruned."""

from __future__ import annotations

import math
from collections.abc import Callable

from .. import objectives
from .config import TrainingStopped

# A BCE-with-logits loss stays within tens in a healthy run (even a collapsed one); one above
# DIVERGED_LOSS for DIVERGED_STEPS steps means the logits have blown up: the run is stopped.
DIVERGED_LOSS = 1e3
DIVERGED_STEPS = 50


class Health:
    def __init__(self, loss: str, collapse_steps: int, kept: Callable[[], str]):
        self.loss, self.collapse_steps = loss, collapse_steps
        self.kept = kept  # says which checkpoint is the last good one
        self.collapse_since: int | None = None
        self.diverged_since: int | None = None

    @property
    def unhealthy(self) -> bool:
        return self.collapse_since is not None or self.diverged_since is not None

    def check(self, step: int, stats: dict[str, float]) -> None:
        bad = [k for k in ("loss_d", "loss_g") if not math.isfinite(stats[k])]
        if bad:
            raise TrainingStopped(
                f"training stopped at step {step}: {' and '.join(bad)} became"
                f" {stats[bad[0]]}; "
                f"{self.kept()}; lower the learning rate (--set lr=...) and resume from it"
            )
        worst = max(stats["loss_d"], stats["loss_g"])
        # diverged without NaNs: logits blown up (e.g. a learning rate far too high)
        if worst > DIVERGED_LOSS:
            if self.diverged_since is None:
                self.diverged_since = step
            elif step - self.diverged_since >= DIVERGED_STEPS:
                raise TrainingStopped(
                    f"training stopped at step {step}: it diverged (a loss above"
                    f" {DIVERGED_LOSS:g} since step "
                    f"{self.diverged_since}, now {worst:.3g}); {self.kept()}; lower the learning"
                    " rate (--set lr=...)"
                )
        else:
            self.diverged_since = None
        # D(x) and D(G(z)) are probabilities for the paper's loss only (other losses'
        # scores are not)
        if (
            self.collapse_steps > 0
            and objectives.LOSSES[self.loss].probabilities
            and stats["d_x"] > 0.99
            and stats["d_g_z1"] < 0.01
        ):
            if self.collapse_since is None:
                self.collapse_since = step
            elif step - self.collapse_since >= self.collapse_steps:
                raise TrainingStopped(
                    f"training stopped at step {step}: the discriminator collapsed (D(x) >"
                    " 0.99 and D(G(z)) < 0.01 "
                    f"since step {self.collapse_since}, so G gets no useful gradient);"
                    f" {self.kept()}"
                )
        else:
            self.collapse_since = None
