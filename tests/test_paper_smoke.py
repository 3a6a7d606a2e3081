"""The paper's route proven small: `--suite paper --scale smoke` runs every cell the real paper
suite declares (imagenet32 and svhn32 training under the authors' alternating loop, cifar10-full,
cifar10-400, svhn-1000, the probe curve, fidelity with a non-standard Inception, throughput,
pytest-benchmark) on stand-in data in each dataset's own format, and writes Table 1 and Table 2.
"""

import json
import shutil

import pandas as pd
import pytest

from bench import cell_graph, run, standin, suites
from dcgan import checkpoint
from dcgan.quality import metrics

from .conftest import argv


def _matrix(s):
    return {
        (c.kind, c.variant, c.seed, c.protocol[0] if c.protocol else None)
        for c in cell_graph.cells(s)
    }


def test_the_smoke_scale_declares_exactly_the_paper_suites_cells(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_DATA_ROOT", str(tmp_path))
    full, smoke = suites.paper(), suites.paper(scale="smoke")
    assert _matrix(full) == _matrix(smoke)
    assert {c.kind for c in cell_graph.cells(smoke)} == {
        "train",
        "probe",
        "curve",
        "control",
        "fidelity",
        "throughput",
        "benchmarks",
        "baseline",
    }
    assert smoke.name == "paper-smoke" and "not a figure comparable with the paper's" in smoke.note
    with pytest.raises(Exception, match="the quick suite has the scale"):
        suites.quick(scale="smoke")


@pytest.mark.slow
def test_the_paper_suite_runs_end_to_end_at_smoke_scale(
    shared_data, tmp_path, monkeypatch, random_inception, capsys
):
    root = standin.build(shared_data, tmp_path / "data")
    monkeypatch.setenv("DCGAN_DATA_ROOT", str(root))
    out, runs = tmp_path / "results", tmp_path / "runs"
    args = argv(
        "--suite paper --scale smoke --runs {} --results {} --inception-weights {}",
        runs,
        out,
        random_inception,
    )
    assert run.main(args) == 0, capsys.readouterr().err
    report = out / "paper-smoke" / "report-current"

    # Table 1: the imagenet32 D (trained on the paper's crops) on both CIFAR-10 protocols, its
    # control, and the paper's rows; Table 2: the svhn32 D on svhn-1000, likewise
    t1 = pd.read_csv(report / "table1-cifar10.csv")
    t2 = pd.read_csv(report / "table2-svhn.csv")
    for table, variant, columns in (
        (t1, "imagenet32", ["Accuracy", "Accuracy (400 per class)"]),
        (t2, "svhn32", ["error rate"]),
    ):
        measured = table[table["model"].str.startswith(variant) & (table["source"] == "measured")]
        control = table[table["model"].str.startswith(variant) & (table["source"] == "control")]
        assert len(measured) == 1 and len(control) == 1
        for col in columns:
            assert 0 < float(measured[col].iloc[0]) < 100 and 0 < float(control[col].iloc[0]) < 100
        assert (table["source"] == "paper (quoted, not measured)").any()
        assert measured["note"].str.contains("smoke scale").all()
    # Table 1's baselines measured with the same probe: K-means and pixels on both protocols,
    # the K-means row naming the figure it is held against
    kmeans = "kmeans[K=16,patches=5000,iterations=5] (1-layer K-means, Coates, Lee & Ng 2011)"
    baseline = t1[t1["model"].isin([kmeans, "pixels"])].set_index("model")
    assert set(baseline.index) == {kmeans, "pixels"}
    assert (baseline["source"] == "measured").all()
    for col in ("Accuracy", "Accuracy (400 per class)"):
        assert baseline[col].between(0, 100, inclusive="neither").all()
    assert "published: " in baseline.loc[kmeans, "note"]

    records = {
        p.name: json.loads(p.read_text()) for p in (runs / "paper-smoke" / "cells").glob("*.json")
    }
    rows = [r for rec in records.values() for r in rec["rows"]]
    probes = [
        r for r in rows if r.get("source") == "measured" and "protocol" in r and "per_draw" in r
    ]
    assert {(r["variant"], r["protocol"]) for r in probes} == {
        (v, p)
        for v in ("imagenet32", "svhn32")
        for p in ("cifar10-full", "cifar10-400", "svhn-1000")
    }
    for r in probes:
        assert r["updates"] == "alternate" and "smoke scale" in r["note"]
        assert r["val_size"] == suites.PAPER_SMOKE_PROTOCOLS[r["protocol"]]["val_size"]
        if r["variant"] == "imagenet32":
            assert (
                r["train_dataset"] == "imagenet" and "the paper's recipe" in r["train_data_recipe"]
            )

    # the authors' loop: 60 steps give each network 30 updates
    for name in ("imagenet32", "svhn32"):
        state = checkpoint.load(
            checkpoint.latest(next(runs.joinpath("paper-smoke").glob(f"{name}*seed0")))
        )
        assert state["step"] == 60
        for opt in ("optD", "optG"):
            steps = {int(s["step"]) for s in state[opt]["state"].values()}
            assert steps == {30}, (name, opt, steps)

    # fidelity with random Inception weights: every metric computed, none called FID/IS/KID
    fid_rows = [r for r in rows if "inception_standard" in r]
    assert {r["metric"] for r in fid_rows} == {
        m.nonstandard for metric in metrics.REGISTRY.values() for m in metric.measures
    }
    assert all(r["value"] is not None for r in fid_rows) and not {"FID", "IS", "KID"} & {
        r["metric"] for r in fid_rows
    }

    stages = {
        (r["variant"], r["stage"])
        for r in rows
        if "items_per_s" in r and "stage" in r and "benchmark" not in r
    }
    assert stages == {(v, s) for v in ("imagenet32", "svhn32") for s in suites.throughput.names()}
    assert any("benchmark" in r for r in rows)
    # the curve: step 0 and 5 kept checkpoints
    assert len({r["step"] for r in rows if "images_seen" in r}) == 6

    # where only Imagenet32's batches exist, the suite trains on them and says they are not
    # the paper's crops
    shutil.rmtree(root / "train")
    assert run.main(args + ["--only", "kind=train"]) == 0
    squashed = [
        r
        for p in (runs / "paper-smoke" / "cells").glob("train__imagenet32*imagenet32*.json")
        for r in json.loads(p.read_text())["rows"]
    ]
    assert (
        len(squashed) == 1 and "squashed, not the paper's crops" in squashed[0]["train_data_recipe"]
    )
    assert (
        "squashed, not the paper's crops"
        in (out / "paper-smoke" / "report-current" / "report.md").read_text()
    )
