"""Data-parallel training under torchrun: gloo on the CPU, NCCL on GPUs.

What a global batch means does not change with the number of processes: every rank draws the
same global batch of indices and of z (same seeds, same generators) and takes its own
contiguous part, the gradients are averaged over ranks (so the loss is the mean over the global
batch, as in one process), and every rank applies the same Adam step. The one difference is
batch norm: each rank normalises over its own part of the batch (nn.SyncBatchNorm runs on GPUs
only), so networks with BN follow a slightly different trajectory than one process; networks
without BN match one process to float rounding.

Rank 0 alone writes checkpoints, samples and the log; the others wait for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from . import runtime


@dataclass(frozen=True)
class Group:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def part(self, x: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous share of a global batch along dim 0."""
        if not self.active:
            return x
        n = x.shape[0] // self.world
        return x[self.rank * n : (self.rank + 1) * n]

    def average_gradients(self, net: torch.nn.Module) -> None:
        """Gradients averaged over ranks, in one collective per network."""
        if not self.active:
            return
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    def mean(self, stats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Logged statistics averaged over ranks, so every rank sees (and acts on) the same."""
        if not self.active:
            return stats
        keys = sorted(stats)
        t = torch.stack([stats[k].float().reshape(()) for k in keys])
        dist.all_reduce(t)
        return dict(zip(keys, t / self.world, strict=True))

    def any(self, flag: bool, device) -> bool:
        """True on every rank when it is true on any (a stop signal reaching one process)."""
        if not self.active:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


def first_process() -> bool:
    """Whether this is torchrun's first process (or the only one), read from the environment
    without starting the process group: the one that writes a run's files and holds its lock."""
    return os.environ.get("RANK", "0") == "0"


def from_env(device: str) -> Group:
    """The process group torchrun describes in the environment (WORLD_SIZE, RANK, LOCAL_RANK),
    initialised once; a plain single process when there is none."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Group()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise runtime.no_cuda(device)
    if not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Group(rank, world, local_rank)


def device_for(group: Group, device: str) -> str:
    """Under torchrun on GPUs, each process its own GPU (LOCAL_RANK)."""
    if group.active and device in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{group.local_rank}"
    return device
