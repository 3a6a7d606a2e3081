"""The trainer: pytorch/examples' DCGAN loop, made resumable and safe to leave running for days.

- The dataset sits on the device as uint8 and each batch is converted there (x/127.5 - 1): no
  per-image Python work inside a step.
- Checkpoints (G, D, both optimisers, step, every RNG state, data order, settings) are written
  atomically every ``ckpt_every`` steps, at the end, and on SIGINT/SIGTERM; the last ``keep``
  are kept. ``resume`` continues bit-exactly on the CPU at the same thread count, and refuses a
  run whose variant, data or seed differ.
- A fixed-z sample grid at every checkpoint; a CSV log; a progress bar with images/s and ETA.
- A NaN/inf loss or a collapsed discriminator stops the run; the last good checkpoint stays.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import (
    atomic,
    checkpoint,
    data,
    distributed,
    events,
    lock,
    nets,
    progress,
    runtime,
    variants,
)
from .data import ImageSet
from .errors import UserError, check_writable_dir
from .step import EAGER, STAT_FIELDS, FastPath, TrainStep
from .variants import Variant

# A BCE-with-logits loss stays within tens in a healthy run (even a collapsed one); one above
# DIVERGED_LOSS for DIVERGED_STEPS steps means the logits have blown up: the run is stopped.
DIVERGED_LOSS = 1e3
DIVERGED_STEPS = 50
LOG_FIELDS = ["step", "epoch", *STAT_FIELDS, "images_per_s", "elapsed_s"]


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


@contextmanager
def _stop_signals():
    """SIGINT/SIGTERM set a flag; the loop checkpoints and stops at the end of the step."""
    caught: list[int] = []
    handler = lambda signum, frame: caught.append(signum)  # noqa: E731
    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: no handlers, the caller owns signals
        pass
    try:
        yield caught
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Trainer(TrainStep):
    """The loop around a TrainStep: data, checkpoints, resume, samples, the log, health checks."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        v = cfg.variant
        self.out = Path(cfg.out)
        self.events = events.RunEvents(self.out, enabled=False)  # run() opens the real one
        for name in ("steps", "ckpt_every", "log_every", "sample_n"):
            if getattr(cfg, name) < 1:
                raise UserError(
                    f"--{name.replace('_', '-')} must be at least 1; got {getattr(cfg, name)}"
                )
        if any(s < 1 for s in cfg.keep_steps):
            raise UserError(
                f"--keep-steps must be positive steps; got {','.join(map(str, cfg.keep_steps))}"
            )
        group = distributed.from_env(cfg.device)  # one process unless started by torchrun
        if v.batch_size % group.world:
            raise UserError(
                f"the global batch {v.batch_size} does not split evenly over {group.world}"
                " processes; "
                f"choose a batch_size that is a multiple of it (--set batch_size=N)"
            )
        device = runtime.pick_device(distributed.device_for(group, cfg.device))
        cfg.fast.check(device, v, group.world)
        _check_out(self.out, cfg.resume)  # before any expensive work

        if not group.main:
            group.barrier()  # the first process loads first, building any decoding cache once
        self.dataset = (
            cfg.images
            if cfg.images is not None
            else data.load(
                cfg.dataset, cfg.split, cfg.data_root, download=cfg.download, **cfg.data_options
            )
        )
        if group.main:
            group.barrier()
        x = self.dataset.x
        self.resized_from = None
        if self.dataset.image_size != v.image_size:
            self.resized_from = self.dataset.image_size
            x = data.resize_images(x, v.image_size)
        if len(x) < v.batch_size:
            raise UserError(
                f"{self.dataset.name}/{self.dataset.split} has {len(x)} images, fewer than one"
                f" batch of {v.batch_size}; lower batch_size (--set batch_size=N)"
            )

        # Everything that must match for a resumed run to continue the same training.
        self.identity = {
            "variant": v.to_dict(),
            "data": {
                "dataset": self.dataset.name,
                "split": self.dataset.split,
                "fingerprint": self.dataset.fingerprint(),
                "n": len(x),
                "image_size": v.image_size,
                "resized_from": self.resized_from,
            },
            "seed": cfg.seed,
        }

        if cfg.deterministic:
            # CPU kernels here are deterministic already; cuDNN picks atomics-based ones
            # unless told not to
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        super().__init__(v, x, device, cfg.fast, cfg.seed, group)
        self.fixed_z = nets.sample_z(
            v, cfg.sample_n, torch.Generator().manual_seed(cfg.seed + 2)
        ).to(self.device)
        self.collapse_since: int | None = None
        self.diverged_since: int | None = None

    # --- state ---------------------------------------------------------------------------------
    def state(self) -> dict:
        rng = {"torch_cpu": torch.get_rng_state(), "noise": self.noise.get_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            **self.identity,
            "step": self.step,
            "netG": self.netG.state_dict(),
            "netD": self.netD.state_dict(),
            "optG": self.optG.state_dict(),
            "optD": self.optD.state_dict(),
            **({"netG_ema": self.netG_ema.state_dict()} if self.netG_ema is not None else {}),
            "rng": rng,
            "data_order": {
                "rule": "randperm(n) per epoch, generator seeded with seed * 1000003 + epoch",
                "epoch": self.step // self.steps_per_epoch,
                "index_in_epoch": self.step % self.steps_per_epoch,
                "steps_per_epoch": self.steps_per_epoch,
            },
            "bn_stats": "running",
            "versions": runtime.versions(),
        }

    def save_checkpoint(self) -> Path:
        path = self.out / checkpoint.checkpoint_name(self.step)
        if self.group.main:  # one writer; the others wait until the file is there
            checkpoint.save(self.state(), path)
            self.save_samples()
            checkpoint.prune(self.out, self.cfg.keep, protect=set(self.cfg.keep_steps))
        self.group.barrier()
        return path

    def _restore_newest_loadable(self) -> Path | None:
        """Restore the newest checkpoint that loads; a corrupt or truncated newer one is skipped,
        saying which and why (a run that differs is still refused)."""
        for _, path in reversed(checkpoint.list_checkpoints(self.out)):
            try:
                state = checkpoint.load(path)
            except UserError as e:
                print(
                    f"note: skipping {path.name} ({e}); resuming from the checkpoint before it",
                    file=sys.stderr,
                )
                continue
            self.restore(path, state)
            return path
        return None

    def restore(self, path: Path, state: dict | None = None) -> None:
        state = checkpoint.load(path) if state is None else state
        # a run saved before a variant field existed has that field's default
        state = (
            {**state, "variant": variants.from_dict(state["variant"]).to_dict()}
            if "variant" in state
            else state
        )
        differ = [k for k in self.identity if _canon(state.get(k)) != _canon(self.identity[k])]
        if differ:
            details = []
            for k in differ:
                old, new = state.get(k), self.identity[k]
                if isinstance(old, dict) and isinstance(new, dict):
                    keys = sorted(
                        kk
                        for kk in set(old) | set(new)
                        if _canon(old.get(kk)) != _canon(new.get(kk))
                    )
                    details += [
                        f"{k}.{kk}: {old.get(kk)!r} in the run, {new.get(kk)!r} now" for kk in keys
                    ]
                else:
                    details.append(f"{k}: {old!r} in the run, {new!r} now")
            raise UserError(
                f"refusing to resume {path}: the run differs ({'; '.join(details)}); use the run's"
                " own settings or a new --out"
            )
        self.netG.load_state_dict(state["netG"])
        self.netD.load_state_dict(state["netD"])
        self.optG.load_state_dict(state["optG"])
        self.optD.load_state_dict(state["optD"])
        if self.netG_ema is not None:
            self.netG_ema.load_state_dict(state["netG_ema"])
        torch.set_rng_state(state["rng"]["torch_cpu"])
        self.noise.set_state(state["rng"]["noise"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.step = int(state["step"])

    def save_samples(self, name: str | None = None) -> Path:
        from torchvision.utils import save_image

        # the average, where G has one
        fake = nets.generate(self.netG_ema or self.netG, self.fixed_z, "running")
        if name is None:
            self.events.samples(self.step, fake)
        path = self.out / (name or f"samples-{self.step:08d}.png")
        save_image(
            fake.float().cpu(),
            path,
            nrow=int(math.ceil(math.sqrt(len(fake)))),
            normalize=True,
            value_range=(-1, 1),
        )
        return path

    # --- health --------------------------------------------------------------------------------
    def check_health(self, stats: dict[str, float]) -> None:
        bad = [k for k in ("loss_d", "loss_g") if not math.isfinite(stats[k])]
        if bad:
            raise TrainingStopped(
                f"training stopped at step {self.step}: {' and '.join(bad)} became"
                f" {stats[bad[0]]}; "
                f"{self._kept()}; lower the learning rate (--set lr=...) and resume from it"
            )
        worst = max(stats["loss_d"], stats["loss_g"])
        # diverged without NaNs: logits blown up (e.g. a learning rate far too high)
        if worst > DIVERGED_LOSS:
            if self.diverged_since is None:
                self.diverged_since = self.step
            elif self.step - self.diverged_since >= DIVERGED_STEPS:
                raise TrainingStopped(
                    f"training stopped at step {self.step}: it diverged (a loss above"
                    f" {DIVERGED_LOSS:g} since step "
                    f"{self.diverged_since}, now {worst:.3g}); {self._kept()}; lower the learning"
                    " rate (--set lr=...)"
                )
        else:
            self.diverged_since = None
        # D(x) and D(G(z)) are probabilities for the paper's loss only (other losses'
        # scores are not)
        if (
            self.cfg.collapse_steps > 0
            and self.v.loss == "bce"
            and stats["d_x"] > 0.99
            and stats["d_g_z1"] < 0.01
        ):
            if self.collapse_since is None:
                self.collapse_since = self.step
            elif self.step - self.collapse_since >= self.cfg.collapse_steps:
                raise TrainingStopped(
                    f"training stopped at step {self.step}: the discriminator collapsed (D(x) >"
                    " 0.99 and D(G(z)) < 0.01 "
                    f"since step {self.collapse_since}, so G gets no useful gradient);"
                    f" {self._kept()}"
                )
        else:
            self.collapse_since = None

    def _kept(self) -> str:
        last = checkpoint.latest(self.out)
        return (
            f"the last good checkpoint is {last}" if last else "no checkpoint had been written yet"
        )

    # --- the loop ------------------------------------------------------------------------------
    def run(self) -> dict:
        cfg, v = self.cfg, self.v
        self.out.mkdir(parents=True, exist_ok=True)
        if self.group.main:
            # a write killed before its rename; the checkpoints are whole
            for stale in self.out.glob(".ckpt-*.tmp-*"):
                stale.unlink(missing_ok=True)
                print(
                    f"note: removed {stale.name}, left by a checkpoint write that was killed",
                    file=sys.stderr,
                )
        last = None
        if cfg.resume:
            last = self._restore_newest_loadable()
            if last is None:
                print(
                    f"note: {self.out} holds no checkpoint yet; starting a new run", file=sys.stderr
                )
        if self.step >= cfg.steps:
            raise UserError(
                f"{last} is already at step {self.step}; ask for more --steps than that to continue"
            )
        main = self.group.main  # only the first process writes files
        self.events = events.RunEvents(self.out, self.step, enabled=cfg.tensorboard and main)
        if main:
            self._write_run_info()
            self.events.settings(
                {
                    **dataclasses.asdict(v),
                    "dataset": self.dataset.name,
                    "split": self.dataset.split,
                    "seed": cfg.seed,
                    "steps": cfg.steps,
                    "processes": self.group.world,
                }
            )
        log_path = self.out / "log.csv"
        if main:
            _truncate_log(log_path, self.step)
        new_log = not log_path.exists()
        log_file = open(log_path, "a", newline="") if main else open(os.devnull, "w")
        # log.csv keeps its columns for every variant; an objective's extra terms (gradient
        # penalty, R1, rotation loss) go to the run's TensorBoard events
        log = csv.DictWriter(log_file, fieldnames=LOG_FIELDS, extrasaction="ignore")
        if new_log and main:
            log.writeheader()

        keep_steps = set(cfg.keep_steps)
        start_step, t_start = self.step, time.perf_counter()
        t_window, window_start = t_start, self.step
        speeds = []
        epoch, order = None, None
        bar = progress.bar(
            total=cfg.steps,
            initial=self.step,
            desc=f"train {v.name}",
            unit="step",
            disable=not (cfg.progress and main),
        )
        try:
            with _stop_signals() as caught:
                while self.step < cfg.steps:
                    if self.step // self.steps_per_epoch != epoch:
                        epoch = self.step // self.steps_per_epoch
                        # on the device, so a step's indices need no host-to-device
                        # copy (which waits for the GPU)
                        order = epoch_order(len(self.x), cfg.seed, epoch).to(self.device)
                    stats_t = self.run_step(self.step, order)
                    self.step += 1
                    bar.update(1)
                    # a signal reaching any process stops all of them at the same step
                    stop = self.group.any(bool(caught), self.device)
                    at_ckpt = (
                        self.step % cfg.ckpt_every == 0
                        or self.step == cfg.steps
                        or self.step in keep_steps
                    )
                    if self.step % cfg.log_every == 0 or at_ckpt or stop:
                        if self.device.type == "cuda":
                            torch.cuda.synchronize()
                        now = time.perf_counter()
                        speed = (
                            (self.step - window_start) * v.batch_size / max(now - t_window, 1e-9)
                        )
                        speeds.append(speed)
                        t_window, window_start = now, self.step
                        stats = {k: float(t) for k, t in self.group.mean(stats_t).items()}
                        log.writerow(
                            {
                                "step": self.step,
                                "epoch": round(self.step / self.steps_per_epoch, 4),
                                **{k: f"{x:.6g}" for k, x in stats.items()},
                                "images_per_s": f"{speed:.1f}",
                                "elapsed_s": f"{now - t_start:.2f}",
                            }
                        )
                        log_file.flush()
                        self.events.training(
                            self.step,
                            stats,
                            {
                                "D": self.optD.param_groups[0]["lr"],
                                "G": self.optG.param_groups[0]["lr"],
                            },
                            speed,
                        )
                        bar.set_postfix(
                            img_s=f"{speed:.0f}",
                            loss_d=f"{stats['loss_d']:.3f}",
                            loss_g=f"{stats['loss_g']:.3f}",
                            refresh=False,
                        )
                        self.check_health(stats)  # raises before an unhealthy state is saved
                        # while D looks collapsed, periodic checkpoints pause so the
                        # last good one is not pruned
                        unhealthy = (
                            self.collapse_since is not None or self.diverged_since is not None
                        )
                        if stop or (at_ckpt and (not unhealthy or self.step == cfg.steps)):
                            self.save_checkpoint()
                    if (
                        self.step % self.steps_per_epoch == 0
                        and self.step // self.steps_per_epoch in cfg.sheet_epochs
                        and main
                    ):
                        # the paper's "after 1 epoch / after 5 epochs" sheets, kept
                        # whatever checkpoints are pruned
                        self.save_samples(
                            f"sheet-epoch-{self.step // self.steps_per_epoch:03d}.png"
                        )
                    if stop:
                        # this process may not have been signalled itself
                        signum = caught[0] if caught else signal.SIGTERM
                        name = signal.Signals(signum).name
                        raise TrainingStopped(
                            f"{name} at step {self.step}: {self._kept()}; continue with --resume",
                            exit_code=128 + signum,
                        )
        finally:
            bar.close()
            log_file.close()
            self.events.close()
        final = checkpoint.latest(self.out)
        return {
            "run_dir": str(self.out),
            "checkpoint": str(final),
            "variant": v.name,
            "dataset": self.dataset.name,
            "split": self.dataset.split,
            "steps": self.step,
            "steps_this_run": self.step - start_step,
            "batch_size": v.batch_size,
            "device": str(self.device),
            "processes": self.group.world,
            "rank": self.group.rank,
            # the first window includes warm-up; the median of the rest is the steady speed
            "images_per_s": float(np.median(speeds[1:] if len(speeds) > 1 else speeds))
            if speeds
            else None,
            "seconds": time.perf_counter() - t_start,
        }

    def _write_run_info(self) -> None:
        config = {
            k: (str(x) if isinstance(x, Path) else x.to_dict() if isinstance(x, FastPath) else x)
            for k, x in vars(self.cfg).items()
            if k not in ("variant", "images")
        }
        info = {
            **self.identity,
            "config": config,
            "device": str(self.device),
            "threads": torch.get_num_threads(),
            "versions": runtime.versions(),
            "processes": self.group.world,
            "backend": "gloo"
            if self.device.type == "cpu"
            else "nccl"
            if self.group.active
            else None,
            "dataset_source": self.dataset.source,
            "started_at_step": self.step,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        path, k = self.out / f"run-{self.step:08d}.json", 1
        while path.exists():  # every start keeps its own record, even two starts from the same step
            k += 1
            path = self.out / f"run-{self.step:08d}-{k}.json"
        path.write_text(json.dumps(info, indent=1, default=str))


def _check_out(out: Path, resume: bool) -> None:
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


def _canon(x):
    """JSON-normal form, so tuples and lists (and floats/ints) compare as saved."""
    return json.loads(json.dumps(x, default=str))


def _truncate_log(path: Path, step: int) -> None:
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


def train(cfg: TrainConfig) -> dict:
    if not distributed.first_process():  # torchrun: the first process holds the folder
        return Trainer(cfg).run()
    with lock.hold(cfg.out):  # one writer per run folder (dcgan/lock.py)
        return Trainer(cfg).run()
