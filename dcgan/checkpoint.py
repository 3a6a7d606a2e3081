"""Save (atomically) and load (weights_only) a run's state.

``load_models(path) -> (variant, netG, netD, info)`` is the one entry every later stage uses,
so nothing downstream imports the trainer.

A checkpoint is a dict of plain Python values and tensors, so ``torch.load(weights_only=True)``
reads it: the variant as a dict, both nets' and optimisers' state dicts, the step, every RNG
state, the data order and the run's settings. ``bn_stats`` records which BatchNorm statistics
the nets must use: "running" (trained here: the running statistics are real) or "none"
(imported weights without running statistics: sample with batch statistics and estimate
population statistics before extracting features).
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import torch

from . import atomic, nets, variants
from .errors import UserError

FORMAT = "dcgan-bench-checkpoint/1"
_NAME = re.compile(r"^ckpt-(\d+)\.pt$")


def checkpoint_name(step: int) -> str:
    return f"ckpt-{step:08d}.pt"


def save(state: dict, path: str | os.PathLike) -> Path:
    """Write ``state`` to ``path`` atomically: a temporary file in the same folder, flushed to
    disk, then renamed over the target, so a crash never leaves a half-written checkpoint."""
    path = Path(path)
    try:
        with atomic.replacing(path) as tmp, open(tmp, "wb") as f:
            torch.save({"format": FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
    except (OSError, RuntimeError) as e:  # a full disk reaches us as torch's C++ "enforce fail"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(
            f"could not write checkpoint {path} ({first}); free space or choose another --out: "
            "the checkpoints written before it are whole"
        ) from None
    return path


def load(path: str | os.PathLike, map_location="cpu") -> dict:
    """Read a checkpoint with ``weights_only=True``; a missing, truncated or foreign file is a
    one-line ``UserError``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist; pass the path of a ckpt-*.pt file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(
            f"checkpoint {path} is corrupt or truncated ({first}); use an earlier ckpt-*.pt of the"
            " run or retrain"
        ) from None
    except Exception as e:  # weights_only refuses anything but tensors and plain values
        raise UserError(
            f"checkpoint {path} holds objects a weights-only load refuses ({type(e).__name__}); it"
            " was not written by dcgan-bench"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(f"{path} is not a dcgan-bench checkpoint (expected format {FORMAT})")
    return state


def list_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """(step, path) of the run's checkpoints, oldest first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in run_dir.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def latest(run_dir: str | os.PathLike) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def prune(run_dir: str | os.PathLike, keep: int, protect=()) -> None:
    """Delete all but the newest ``keep`` checkpoints (``keep <= 0`` keeps all); the steps in
    ``protect`` (e.g. the probe curve's points) are never deleted."""
    if keep <= 0:
        return
    for step, path in list_checkpoints(run_dir)[:-keep]:
        if step not in protect:
            path.unlink(missing_ok=True)


def resolve(path: str | os.PathLike) -> Path:
    """A checkpoint file, or a run folder meaning its newest checkpoint."""
    path = Path(path)
    if path.is_dir():
        newest = latest(path)
        if newest is None:
            raise UserError(f"run folder {path} holds no ckpt-*.pt checkpoint")
        return newest
    return path


def load_models(
    path: str | os.PathLike, device="cpu"
) -> tuple[variants.Variant, nets.Generator, nets.Discriminator, dict]:
    """checkpoint -> (variant, netG, netD, state). The nets are in eval mode on ``device``."""
    path = resolve(path)
    state = load(path)
    v = variants.from_dict(state["variant"])
    # the saved weights replace the initial ones (and spectral norms' u, v)
    netG, netD = nets.build(v)
    try:
        # with g_ema on, G is the moving average: what sampling, fidelity and figures use
        netG.load_state_dict(state.get("netG_ema", state["netG"]))
        netD.load_state_dict(state["netD"])
    except (RuntimeError, KeyError) as e:
        first = str(e).strip().splitlines()[0]
        raise UserError(
            f"checkpoint {path}: the weights do not fit variant {v.name!r} ({first})"
        ) from None
    if state.get("bn_stats") == "none":
        # imported weights: the BN buffers are placeholders, so drop them; BN then normalises
        # with each batch's statistics even in eval mode, as the authors' code ran, and nothing
        # can silently use zero/one statistics
        for net in (netG, netD):
            for m in net.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.track_running_stats = False
                    m.running_mean = m.running_var = m.num_batches_tracked = None
    return v, netG.to(device).eval(), netD.to(device).eval(), state
