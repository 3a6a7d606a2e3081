"""Timing a stage: what a stage is (a zero-argument callable and what one call processes), the
device synchronised before each clock read, FLOPs counted from the layers, the datasheet peaks,
peak memory, and the measurement itself (median and spread of items/s over windows of calls)."""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

# Dense peak TFLOP/s from the vendors' datasheets, by a substring of torch.cuda.get_device_name():
# (fp32 without tensor cores, bf16 tensor cores). cuDNN may run fp32 convolutions as TF32, so an
# fp32 fraction above 1 is possible and means exactly that.
PEAK_TFLOPS = {
    "H200": (66.9, 989.4),
    "H100 PCIe": (51.2, 756.0),
    "H100": (66.9, 989.4),  # SXM
    "A100": (19.5, 312.0),
    "L40S": (91.6, 362.1),
    "L4": (30.3, 121.0),
    "A10": (31.2, 125.0),
    "RTX 4090": (82.6, 165.2),
    "V100": (15.7, None),
    "T4": (8.1, None),
}


@dataclass
class Stage:
    name: str
    run: Callable[[], object]  # one call: `items` images (or SVM training samples) processed
    items: int
    unit: str  # what `items` counts
    flops: float | None  # per call, counted from the layers; None where not counted
    precision: str
    note: str = ""


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def count_flops(fn: Callable[[], object]) -> float:
    """FLOPs of one call of ``fn`` (multiply-add = 2), forward and backward, as torch counts them
    for convolutions and matrix products (elementwise work is left out)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def peak_tflops(device: torch.device, precision: str) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, (fp32, bf16) in PEAK_TFLOPS.items():
        if key in name:
            return bf16 if precision == "bf16" else fp32
    return None


def peak_memory_mb(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(
            device
        ) / 2**20, "CUDA max_memory_allocated during the timed calls"
    # Linux reports ru_maxrss in KiB; it is the process's high-water mark, not this stage's alone
    return resource.getrusage(
        resource.RUSAGE_SELF
    ).ru_maxrss / 1024, "process peak RSS so far (high-water mark)"


def measure(
    stage: Stage, device: torch.device, warmup: int = 3, iters: int = 10, repeats: int = 3
) -> dict:
    """Median and spread of items/s over ``repeats`` windows of ``iters`` calls each, after
    ``warmup`` calls; the device is synchronised before each clock read."""
    for _ in range(warmup):
        stage.run()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iters):
            stage.run()
        sync(device)
        rates.append(stage.items * iters / (time.perf_counter() - t0))
    rate = statistics.median(rates)
    memory, memory_kind = peak_memory_mb(device)
    tflops = stage.flops / stage.items * rate / 1e12 if stage.flops else None
    peak = peak_tflops(device, stage.precision)
    return {
        "stage": stage.name,
        "items_per_s": rate,
        "items_per_s_min": min(rates),
        "items_per_s_max": max(rates),
        "unit": stage.unit,
        "items_per_call": stage.items,
        "calls_per_window": iters,
        "windows": repeats,
        "warmup_calls": warmup,
        "gflops_per_item": stage.flops / stage.items / 1e9 if stage.flops else None,
        "tflops_achieved": tflops,
        "peak_tflops": peak,
        "peak_fraction": tflops / peak if tflops and peak else None,
        "precision": stage.precision,
        "peak_memory_mb": memory,
        "memory_kind": memory_kind,
        "note": stage.note,
    }


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} threads)"
