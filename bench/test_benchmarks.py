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


@pytest.mark.parametrize("name", throughput.names())
def test_stage(benchmark, images, name):
    v = variants.get(VARIANT[0], **VARIANT[1])
    ctx = throughput.context(v, images, DEVICE, svm_n=500)
    entry = throughput.get(name)
    stage = entry.make(ctx)
    outputs = []

    def call():
        out = stage.run()
        throughput.sync(DEVICE)  # time the work, not its launch
        outputs.append(out)
        return out

    timing = entry.timing
    benchmark.pedantic(call, rounds=timing.bench_rounds, warmup_rounds=timing.bench_warmup)
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
    # when benchmarking is disabled, as in the default test run), by the stage's own entry
    assert outputs
    problem = entry.check(outputs, stage, ctx)
    assert problem is None, f"{name}: {problem}"
