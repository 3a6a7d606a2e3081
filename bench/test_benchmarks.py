"""pytest-benchmark timings of the throughput stages (the same work `dcgan throughput` times),
run by the quick suite into results/quick/benchmarks-*.json; outside the default test run.

    pytest bench/test_benchmarks.py --benchmark-enable --benchmark-json OUT.json
"""

import pytest
import torch

from bench import suites
from dcgan import data, throughput, variants

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
VARIANT = (suites.QUICK_MODEL[0], dict(suites.QUICK_MODEL[1]))  # the quick suite's model


@pytest.fixture(scope="module")
def images():
    root = data.resolve_root(None)
    if root is not None and (root / "cifar10_train.npz").exists():
        return data.subset(data.load("cifar10", "train", root), 2000, seed=0)
    return data.subset(data.load("digits", "train"), 2000, seed=0)


@pytest.mark.parametrize("name", throughput.STAGES)
def test_stage(benchmark, images, name):
    v = variants.get(VARIANT[0], **VARIANT[1])
    stage = throughput.make_stage(name, v, images, DEVICE, svm_n=500)
    outputs = []

    def call():
        out = stage.run()
        throughput.sync(DEVICE)  # time the work, not its launch
        outputs.append(out)
        return out

    rounds = 2 if name == "svm" else 8
    benchmark.pedantic(call, rounds=rounds, warmup_rounds=1 if name == "svm" else 3)
    benchmark.extra_info.update(
        {
            "items_per_call": stage.items,
            "unit": stage.unit,
            "flops_per_call": stage.flops,
            "device": str(DEVICE),
            "variant": v.name,
            "note": stage.note,
        }
    )
    # what was timed did the stage's work: its outputs, not the timings, are checked (one call
    # when benchmarking is disabled, as in the default test run)
    assert outputs
    if name == "train":  # our step reads its losses back every 10 steps, as the training loop does
        while not any(outputs) and len(outputs) < 20:
            outputs.append(stage.run())
    _check_output(name, outputs, stage, v)


def _check_output(name, outputs, stage, v):
    import math

    if name == "train":  # the losses it reads back every 10 steps (the training loop's cadence)
        stats = [o for o in outputs if o is not None]
        assert stats and all(
            math.isfinite(s["loss_d"]) and math.isfinite(s["loss_g"]) for s in stats
        )
    # (loss D, loss G, D(x), D(G(z)) before and after D's update) every step
    elif name == "train-reference":
        assert all(
            len(o) == 5 and all(math.isfinite(x) for x in o) and 0 <= o[2] <= 1 for o in outputs
        )
    elif name == "sample":
        assert all(
            o.dtype == torch.uint8
            and tuple(o.shape) == (stage.items, v.nc, v.image_size, v.image_size)
            for o in outputs
        )
    elif name == "features":
        assert all(
            tuple(o.shape) == (stage.items, v.feature_dim) and bool(torch.isfinite(o).all())
            for o in outputs
        )
    else:  # svm: one finite model per C of the paper's grid, one-vs-rest over the classes
        import numpy as np

        from dcgan import svm

        assert all(len(models) == len(svm.PAPER_GRID) for models in outputs)
        assert all(
            m.W.shape == (len(m.classes), v.feature_dim)
            and np.isfinite(m.W).all()
            and np.isfinite(m.objective).all()
            for models in outputs
            for m in models
        )
