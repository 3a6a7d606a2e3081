"""The trainer: pytorch/examples' DCGAN loop, made resumable and safe to leave running for days.

- The dataset sits on the device as uint8 and each batch is converted there (x/127.5 - 1): no
  per-image Python work inside a step.
- Checkpoints (G, D, both optimisers, step, every RNG state, data order, settings) are written
  atomically every ``ckpt_every`` steps, at the end, and on SIGINT/SIGTERM; the last ``keep``
  are kept. ``resume`` continues bit-exactly on the CPU at the same thread count, and refuses a
  run whose variant, data or seed differ (identity.py).
- A fixed-z sample grid at every checkpoint; a CSV log; a progress bar with images/s and ETA.
- A NaN/inf loss or a collapsed discriminator stops the run; the last good checkpoint stays
  (health.py).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from .. import checkpoint, data, distributed, events, lock, nets, progress, runtime
from ..errors import UserError
from ..step import FastPath, TrainStep
from . import identity, run_folder
from .config import TrainConfig, TrainingStopped, check_settings, epoch_order
from .health import Health


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
        check_settings(cfg)
        group = distributed.from_env(cfg.device)  # one process unless started by torchrun
        if v.batch_size % group.world:
            raise UserError(
                f"the global batch {v.batch_size} does not split evenly over {group.world}"
                " processes; "
                f"choose a batch_size that is a multiple of it (--set batch_size=N)"
            )
        device = runtime.pick_device(distributed.device_for(group, cfg.device))
        cfg.fast.check(device, v, group.world)
        run_folder.check_out(self.out, cfg.resume)  # before any expensive work

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

        # everything that must match for a resumed run to continue the same training
        self.identity = identity.of_run(v, self.dataset, len(x), self.resized_from, cfg.seed)

        if cfg.deterministic:
            # CPU kernels here are deterministic already; cuDNN picks atomics-based ones
            # unless told not to
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        super().__init__(v, x, device, cfg.fast, cfg.seed, group)
        self.fixed_z = nets.sample_z(
            v, cfg.sample_n, torch.Generator().manual_seed(cfg.seed + 2)
        ).to(self.device)
        self.health = Health(v.loss, cfg.collapse_steps, self._kept)

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
        identity.refuse_if_differs(path, state, self.identity)
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
            run_folder.remove_killed_writes(self.out)
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
            run_folder.write_run_info(self.out, self.step, self.identity, self._run_info())
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
            run_folder.truncate_log(log_path, self.step)
        new_log = not log_path.exists()
        log_file = open(log_path, "a", newline="") if main else open(os.devnull, "w")
        # log.csv keeps its columns for every variant; an objective's extra terms (gradient
        # penalty, R1, rotation loss) go to the run's TensorBoard events
        log = csv.DictWriter(log_file, fieldnames=run_folder.LOG_FIELDS, extrasaction="ignore")
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
                        # raises before an unhealthy state is saved
                        self.health.check(self.step, stats)
                        # while D looks collapsed, periodic checkpoints pause so the
                        # last good one is not pruned
                        unhealthy = self.health.unhealthy
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

    def _run_info(self) -> dict:
        """This start's settings and machine, for its run-*.json."""
        config = {
            k: (str(x) if isinstance(x, Path) else x.to_dict() if isinstance(x, FastPath) else x)
            for k, x in vars(self.cfg).items()
            if k not in ("variant", "images")
        }
        return {
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
        }


def train(cfg: TrainConfig) -> dict:
    if not distributed.first_process():  # torchrun: the first process holds the folder
        return Trainer(cfg).run()
    with lock.hold(cfg.out):  # one writer per run folder (dcgan/lock.py)
        return Trainer(cfg).run()
