"""Where the code runs and with what: the device choice, the versions, and the provenance every
result row carries. Below every stage (it imports torch, errors and results only), so a stage
that needs a device never imports the trainer."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

import torch

from . import __version__, results
from .errors import UserError

PACKAGES = (
    "dcgan-bench",
    "torch",
    "torchvision",
    "numpy",
    "scikit-learn",
    "torch-fidelity",
    "pandas",
)


def no_cuda(name: str) -> UserError:
    return UserError(f"device {name!r} asked for, but CUDA is not available here; use --device cpu")


def pick_device(name: str) -> torch.device:
    """``auto`` (CUDA when there is one, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise UserError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise no_cuda(name)
    return device


def versions() -> dict:
    """The installed versions of what changes a number (None where absent), and Python's."""
    out = {}
    for pkg in PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    out["python"] = platform.python_version()
    return out


def provenance() -> dict:
    """The common part of every result row: when, which code (version and git revision), which
    versions of what it ran on."""
    return {
        "time": results.now(),
        "dcgan_bench": __version__,
        "git_revision": results.git_revision(),
        "versions": versions(),
    }
