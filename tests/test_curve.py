"""The probe curve (dcgan probe-curve): a declared one-draw probe of each checkpoint of a run,
step 0 being the run's own random init; the checkpoints it needs survive --keep."""

import json

import numpy as np
import pytest
import torch

from dcgan import checkpoint, cli, curve, nets, protocols
from dcgan.errors import UserError
from dcgan.probing import probe
from dcgan.reporting import document, tables
from dcgan.training.config import TrainConfig
from dcgan.training.loop import train

from .conftest import argv, tiny


def test_curve_steps_halve_back_from_the_end():
    assert curve.curve_steps(5000, 5) == (312, 625, 1250, 2500, 5000)
    assert curve.curve_steps(3, 5) == (1, 2, 3)  # short runs: no step twice, none below 1
    with pytest.raises(UserError, match="positive"):
        curve.curve_steps(0)


def test_keep_steps_are_written_and_survive_pruning(tmp_path):
    cfg = TrainConfig(
        tiny(),
        tmp_path / "run",
        steps=30,
        ckpt_every=10,
        keep=1,
        keep_steps=(3, 20),
        progress=False,
        device="cpu",
    )
    train(cfg)
    assert [s for s, _ in checkpoint.list_checkpoints(tmp_path / "run")] == [3, 20, 30]
    with pytest.raises(UserError, match="--keep-steps must be positive"):
        train(
            TrainConfig(
                tiny(), tmp_path / "bad", steps=5, keep_steps=(0,), progress=False, device="cpu"
            )
        )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("curve") / "run"
    train(
        TrainConfig(
            tiny(), out, steps=20, ckpt_every=10, keep=0, seed=3, progress=False, device="cpu"
        )
    )
    return out


def test_each_point_is_the_declared_single_draw_probe_and_step_0_is_the_runs_own_init(
    run_dir, tmp_path
):
    kw = dict(cache_dir=tmp_path / "cache", progress=False, log=lambda m: None)
    rows = curve.run(run_dir, protocol="digits-50", C=1e-3, **kw)
    assert [r["step"] for r in rows] == [0, 10, 20]
    assert [r["images_seen"] for r in rows] == [0, 320, 640]
    assert rows[0]["weights"].startswith("random init") and "seed 3" in rows[0]["weights"]
    assert all(
        r["C"] == 1e-3 and r["draw_seed"] == 0 and r["protocol"] == "digits-50" for r in rows
    )
    # each point equals the single-draw probe of that D, run directly
    _, _, netD, _ = checkpoint.load_models(run_dir / "ckpt-00000010.pt")
    direct = probe.single_draw(netD, protocols.get("digits-50"), 1e-3, **kw)
    assert rows[1]["test_accuracy_pct"] == direct["test_accuracy_pct"]
    # step 0 is exactly the weights the trainer started from (nets.build with the run's seed)
    _, init_D = nets.build(tiny(), seed=3)
    assert (
        rows[0]["test_accuracy_pct"]
        == probe.single_draw(init_D, protocols.get("digits-50"), 1e-3, **kw)["test_accuracy_pct"]
    )
    _, other_D = nets.build(tiny(), seed=4)
    assert not torch.equal(init_D.blocks["conv1"][0].weight, other_D.blocks["conv1"][0].weight)
    # the accuracy is that of the draw's fit on the test split: a real measurement in 0..100
    assert all(0 < r["test_accuracy_pct"] <= 100 for r in rows)
    only = curve.run(run_dir, protocol="digits-50", C=1e-3, steps=[20], **kw)
    assert [r["step"] for r in only] == [0, 20] and only[1]["test_accuracy_pct"] == rows[2][
        "test_accuracy_pct"
    ]


def test_single_draw_separates_separable_classes_and_not_shuffled_ones(monkeypatch, tmp_path):
    """Known answers through the same code: features that carry the label give ~100%, features
    with the labels shuffled give about chance."""
    from dcgan import data

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 60)
    x = np.zeros((600, 32, 32, 3), np.uint8)
    for c in range(10):  # one bright 8x8 block per class, in its own cell of the 4x4 pooling grid
        r, q = divmod(c, 4)
        x[y == c, 8 * r : 8 * r + 8, 8 * q : 8 * q + 8] = 200
    x = x + rng.integers(0, 20, x.shape, dtype=np.uint8)
    sets = {
        "train": data.ImageSet(x, y, "blobs", "train", "test"),
        "test": data.ImageSet(x[::2], y[::2], "blobs", "test", "test"),
    }
    monkeypatch.setattr(data, "load", lambda name, split, *a, **k: sets[split])
    protocol = protocols.Protocol("blobs", "blobs", 20, 1, 1, val_size=100)
    _, netD = nets.build(tiny(), seed=0)
    good = probe.single_draw(
        netD, protocol, 1e-1, cache_dir=tmp_path / "c1", progress=False, log=lambda m: None
    )
    assert good["test_accuracy_pct"] > 95
    shuffled = rng.permutation(y)
    sets = {
        "train": data.ImageSet(x, shuffled, "blobs2", "train", "test"),
        "test": data.ImageSet(x[::2], rng.permutation(y[::2]), "blobs2", "test", "test"),
    }
    bad = probe.single_draw(
        netD, protocol, 1e-1, cache_dir=tmp_path / "c2", progress=False, log=lambda m: None
    )
    assert bad["test_accuracy_pct"] < 30


def test_the_command_writes_rows_and_a_plot_and_refuses_what_it_cannot_probe(
    run_dir, tmp_path, capsys
):
    out = tmp_path / "results"
    code = cli.main(
        argv(
            "probe-curve --ckpt {} --protocol digits-50 --steps 10,20 --out-dir {} --cache-dir {}"
            " --no-progress --json",
            run_dir,
            out,
            tmp_path / "cache",
        )
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["step"] for r in result["rows"]] == [0, 10, 20]
    assert (out / "probe-curve-rows.csv").read_text().count("\n") == 4
    from PIL import Image

    assert Image.open(result["plot"]).size[0] > 300
    assert (
        cli.main(
            ["probe-curve", "--ckpt", str(run_dir), "--steps", "15", "--protocol", "digits-50"]
        )
        == 1
    )
    assert "no checkpoint at step(s) 15; it has 10, 20" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["probe-curve", "--ckpt", str(tmp_path / "nothing")])
    assert exit_.value.code == 2
    assert "argument --ckpt: must be an existing folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # refused while the command line is read
        cli.main(["probe-curve", "--ckpt", str(run_dir), "--C", "0"])
    assert exit_.value.code == 2
    assert "argument --C: must be a finite number in [1e-07, 1]" in capsys.readouterr().err


def test_the_report_shows_the_curve_table_and_plot_and_opens_with_the_headline(tmp_path):
    rows = [
        {
            "run_dir": "runs/a",
            "step": s,
            "images_seen": 64 * s,
            "weights": f"step {s}",
            "protocol": "cifar10-400",
            "C": 5e-4,
            "draw_seed": 0,
            "test_accuracy_pct": acc,
            "time": "2026-12-02T10:00:00+0000",
        }
        for s, acc in ((0, 45.0), (500, 49.5), (1000, 52.0))
    ]
    written = document.write(
        tmp_path,
        "quick",
        curve=rows,
        headline=["cifar10-400: trained 52.00%, control 45.00%: gap +7.00 points"],
    )
    md = written["markdown"].read_text()
    assert md.index("gap +7.00 points") < md.index("Probe curve")
    assert "| a     |   500 |" in md.replace("  ", " ") or "500" in md
    assert written["probe_curve"].exists() and "![probe curve" in md
    table = tables.curve_table(rows)
    assert table["test accuracy %"].tolist() == [45.0, 49.5, 52.0] and table[
        "images seen"
    ].tolist() == [0, 32000, 64000]
