"""Throughput: images/s of a training step (ours, and a reference loop with pytorch/examples'
semantics timed in the same run), of G sampling, of D feature extraction and of the SVM solve;
FLOPs per image counted from the layers (torch.utils.flop_counter), achieved FLOP/s and, on
known GPUs, the fraction of peak; peak memory.

Each stage is a zero-argument callable plus what one call processes, so the command
(`dcgan throughput`) and the pytest-benchmark files in bench/ time the very same work.

- ``measuring``: a Stage, timing it, FLOPs, peaks and memory;
- ``reference_loop``: pytorch/examples' loop, timed beside ours;
- ``stages``: the stages' registry (each entry: how it is built, timed and checked);
- ``command``: `dcgan throughput`'s work.

Each module imports only those above it here (and the package's lower layers: data, features,
nets, step, svm, checkpoint, results, runtime).
"""

from .command import LADDER, ROW_FIELDS, TABLE_COLUMNS, benchmark, run
from .measuring import Stage, measure, sync
from .reference_loop import reference_stage
from .stages import (
    REGISTRY,
    StageContext,
    StageEntry,
    Timing,
    context,
    get,
    make_stage,
    names,
    register,
    train_stage,
)

__all__ = [
    "LADDER",
    "REGISTRY",
    "ROW_FIELDS",
    "TABLE_COLUMNS",
    "Stage",
    "StageContext",
    "StageEntry",
    "Timing",
    "benchmark",
    "context",
    "get",
    "make_stage",
    "measure",
    "names",
    "reference_stage",
    "register",
    "run",
    "sync",
    "train_stage",
]
