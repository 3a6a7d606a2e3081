"""A run folder's files besides its checkpoints: the folder checked before any work (new, or one
of ours to resume), what a killed checkpoint write left removed, one run-*.json per start, and
log.csv cut back to the checkpoint a run resumes from."""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

from .. import atomic, checkpoint, lock
from ..errors import UserError, check_writable_dir
from ..step import STAT_FIELDS

LOG_FIELDS = ["step", "epoch", *STAT_FIELDS, "images_per_s", "elapsed_s"]


def check_out(out: Path, resume: bool) -> None:
    """A new run needs an absent or empty folder; --resume needs one of ours (or an empty one);
    either way it must be a folder we can write to. Checked before any data is loaded."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder; choose a folder for the run")
    # our own transient files (the lock, a killed write's temporary, a write test) do not count
    entries = (
        sorted(p.name for p in out.iterdir() if not lock.transient(p.name)) if out.is_dir() else []
    )
    has_ckpt = checkpoint.latest(out) is not None
    ours = has_ckpt or any(n.startswith("run-") and n.endswith(".json") for n in entries)
    if entries and not resume:
        if has_ckpt:
            raise UserError(
                f"{out} already holds a run ({checkpoint.latest(out).name}); pass --resume to"
                " continue it, or choose another --out"
            )
        raise UserError(
            f"--out {out} is not empty"
            f" ({', '.join(entries[:4])}{', ...' if len(entries) > 4 else ''}); "
            "a new run needs a new or empty folder: choose another --out"
        )
    if entries and resume and not ours:
        raise UserError(
            f"--out {out} holds no dcgan-bench run (no ckpt-*.pt or run-*.json; it has"
            f" {', '.join(entries[:4])}); "
            "--resume continues a run of ours: choose another --out"
        )
    check_writable_dir(out, f"cannot write the run to --out {out}")


def truncate_log(path: Path, step: int) -> None:
    """On resume, drop log rows past the checkpoint, so the log reads as one uninterrupted run."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    kept = [r for r in rows if int(r["step"]) <= step]
    if len(kept) == len(rows):
        return
    with atomic.replacing(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        w.writeheader()
        w.writerows(kept)


def remove_killed_writes(out: Path) -> None:
    """What a checkpoint write killed before its rename left; the checkpoints are whole."""
    for stale in out.glob(".ckpt-*.tmp-*"):
        stale.unlink(missing_ok=True)
        print(
            f"note: removed {stale.name}, left by a checkpoint write that was killed",
            file=sys.stderr,
        )


def write_run_info(out: Path, step: int, identity: dict, info: dict) -> Path:
    """This start's record, run-<step>.json: the run's identity, ``info`` (settings, machine),
    the step it started at and the time. Every start keeps its own, even two from one step."""
    record = {
        **identity,
        **info,
        "started_at_step": step,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path, k = out / f"run-{step:08d}.json", 1
    while path.exists():
        k += 1
        path = out / f"run-{step:08d}-{k}.json"
    path.write_text(json.dumps(record, indent=1, default=str))
    return path
