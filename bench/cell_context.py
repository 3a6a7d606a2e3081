"""What every suite cell's runner shares: the ``Context`` (the suite, where runs and rows go, the
log), the suite's own columns every row carries, and the finished training a cell measures."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.suite_types import Cell, Suite, train_recipe
from dcgan import checkpoint, runtime
from dcgan.errors import UserError


@dataclass
class Context:
    suite: Suite
    runs: Path  # run folders and the cell cache
    results: Path  # rows and reports
    # the released suite: where the authors' model folders are (default: <data root>/released)
    released_dir: Path | None = None
    log: Callable[[str], None] = field(default=lambda m: print(m, file=sys.stderr))

    def run_dir(self, c: Cell) -> Path:
        return self.runs / f"{c.label}-{c.dataset}-seed{c.seed}".replace("/", "_")

    def cell_file(self, c: Cell) -> Path:
        return (
            self.runs
            / "cells"
            / (c.id.replace("/", "__").replace("[", "_").replace("]", "_") + ".json")
        )


# The suite's own columns, appended to each kind's CSV (the JSON rows carry more:
# versions, overrides)
SUITE_FIELDS = ["suite", "cell", "model", "seed", "train_dataset", "train_data_recipe", "updates"]


def suite_columns(ctx: Context, c: Cell) -> dict:
    return {
        "suite": ctx.suite.name,
        "cell": c.id,
        "model": c.label,
        "variant": c.variant,
        "variant_overrides": dict(c.overrides),
        "seed": c.seed,
        "train_dataset": c.dataset,
        "train_data_recipe": train_recipe(c.dataset),
        "updates": c.variant_obj().updates,
        **runtime.provenance(),
        **({"note": ctx.suite.note} if ctx.suite.note else {}),
    }


def finished(out: Path, steps: int | None) -> tuple[Path | None, str]:
    """The last checkpoint of a training in ``out`` that reached ``steps`` (None: any), else
    None and where the run stands. Named by step on disk: nothing is loaded to tell."""
    found = checkpoint.list_checkpoints(out)
    if not found:
        return None, "holds no checkpoint"
    if steps and found[-1][0] < steps:
        return None, f"stops at step {found[-1][0]} of {steps}"
    return found[-1][1], ""


def checkpoint_of(ctx: Context, c: Cell) -> Path:
    """The last checkpoint of the cell's finished training. A run that stopped early (killed,
    interrupted, unhealthy) keeps its checkpoint for resuming, never for measuring: a cell
    measured on it would stand in the tables for the suite's model at its full step count."""
    steps = dict(c.settings).get("steps") or ctx.suite.steps.get(c.dataset)
    last, where = finished(ctx.run_dir(c), steps)
    if last is None:
        raise UserError(
            f"{ctx.run_dir(c)} {where}: its train cell has not finished; run the suite again"
            " to resume it"
        )
    return last
