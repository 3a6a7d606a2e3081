import json

import numpy as np
import pytest
import torch

from dcgan import cli, data, nets, throughput
from dcgan.step import FastPath
from dcgan.throughput import measuring

from .conftest import argv, tiny


@pytest.fixture(scope="module")
def digits():
    return data.subset(data.load("digits", "train"), 400, seed=0)


def test_conv_flops_are_counted_from_the_layer():
    conv = torch.nn.Conv2d(3, 8, 4, 2, 1, bias=False)
    x = torch.zeros(2, 3, 32, 32)
    # multiply-adds per output value: 3 * 4 * 4; outputs: 2 images x 8 x 16 x 16;
    # a multiply-add is 2 FLOPs
    assert measuring.count_flops(lambda: conv(x)) == 2 * (3 * 4 * 4) * (2 * 8 * 16 * 16)


def test_ours_and_the_reference_do_the_same_arithmetic(digits):
    v = tiny()
    ours = throughput.train_stage(v, digits, torch.device("cpu"))
    ref = throughput.reference_stage(v, digits, torch.device("cpu"), workers=0)
    # same networks, same step (D on real and fake, then G): the same convolution FLOPs
    assert ours.flops == pytest.approx(ref.flops, rel=1e-6)
    # forward + backward of a training step is several times one forward of G and of D
    netG, netD = nets.build(v, seed=0)
    z = nets.sample_z(v, v.batch_size)
    forward = measuring.count_flops(lambda: netD(netG(z)))
    assert 2 * forward < ours.flops < 6 * forward
    losses = ref.run()
    assert len(losses) == 5 and all(np.isfinite(losses))


def test_the_ratios_are_ours_over_the_references_on_known_rates(digits, monkeypatch):
    # fixed rates in place of the clock: our step 300 images/s, the reference loop 100, the
    # eager rung of the ladder 150; the ratios must be exactly 3 and 2
    rates = {"train": 300.0, "train-reference": 100.0, "train (eager fp32)": 150.0}

    def known(stage, device, warmup=3, iters=10, repeats=3):
        rate = rates.get(stage.name, 1.0)
        return {
            "stage": stage.name,
            "items_per_s": rate,
            "items_per_s_min": rate,
            "items_per_s_max": rate,
            "unit": stage.unit,
        }

    monkeypatch.setattr(throughput.command, "measure", known)
    rows = throughput.run(
        tiny(), digits, device="cpu", stages=("train", "train-reference"), workers=0, ladder=True
    )
    by = {r["stage"]: r for r in rows}
    assert by["train"]["ratio_to_reference"] == 3.0 and by["train"]["ratio_to_eager"] == 2.0
    assert (
        by["train (eager fp32)"]["ratio_to_eager"] == 1.0
        and "ratio_to_reference" not in by["train-reference"]
    )


def test_rows_for_every_stage_with_the_ratio(digits):
    v = tiny()
    rows = throughput.run(
        v, digits, device="cpu", warmup=1, iters=2, repeats=2, workers=0, svm_n=200
    )
    by = {r["stage"]: r for r in rows}
    assert list(by) == list(throughput.names())
    for r in rows:
        assert (
            r["items_per_s_min"] <= r["items_per_s"] <= r["items_per_s_max"]
            and r["items_per_s"] > 0
        )
        # no peak known for CPUs
        assert r["peak_memory_mb"] > 0 and r["device"] == "cpu" and r["peak_fraction"] is None
    assert "ratio_to_reference" in by["train"] and "ratio_to_reference" not in by["sample"]
    assert by["svm"]["unit"] == "training samples" and by["svm"]["gflops_per_item"] is None
    assert by["features"]["gflops_per_item"] > 0 and by["sample"]["tflops_achieved"] > 0


def test_the_command_writes_rows_and_refuses_unknown_stages(tmp_path, capsys):
    args = argv(
        "throughput --variant dcgan32 --set ngf=8 --set ndf=8 --batch-size 32 --n-images 300"
        " --stages train,sample --warmup 1 --iters 1 --repeats 1 --out-dir {} --device cpu"
        " --no-progress --json",
        tmp_path,
    )
    assert cli.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["stage"] for r in out["rows"]] == ["train", "sample"] and out["rows"][0][
        "batch_size"
    ] == 32
    assert (tmp_path / "throughput-rows.csv").read_text().count("\n") == 3
    assert cli.main([a if a != "train,sample" else "train,warp" for a in args]) == 1
    assert "unknown throughput stage(s) warp" in capsys.readouterr().err


def test_the_fast_path_ladder_on_the_cpu_skips_the_cuda_only_pieces(digits):
    rows = throughput.run(
        tiny(), digits, device="cpu", stages=("train",), warmup=1, iters=1, repeats=1, ladder=True
    )
    stages = [r["stage"] for r in rows]
    assert stages == [
        "train",
        "train (eager fp32)",
        "train (+ fused Adam)",
        "train (+ channels_last)",
    ]
    assert (
        rows[1]["ratio_to_eager"] == 1.0
        and rows[3]["note"] == "ours: fused Adam, channels_last, data resident on the device"
    )
    assert "ratio_to_reference" not in rows[0]  # no reference timed in this run


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_fast_path_ladder_on_cuda_times_every_piece(digits):
    rows = throughput.run(
        tiny(), digits, device="cuda", stages=("train",), warmup=2, iters=3, repeats=1, ladder=True
    )
    assert [r["stage"] for r in rows] == ["train"] + [
        f"train ({label})" for label, _ in throughput.LADDER
    ]
    assert rows[-1]["note"].endswith("torch.compile, CUDA graphs, data resident on the device")
    assert all(r["items_per_s"] > 0 and r["gflops_per_item"] > 0 for r in rows)


def test_fused_adam_takes_the_same_steps(digits):
    import dataclasses

    v = tiny()
    losses = []
    for fused in (False, True):
        stage = throughput.train_stage(
            dataclasses.replace(v),
            digits,
            torch.device("cpu"),
            FastPath(fused_adam=fused),
            log_every=1,
        )
        losses.append([stage.run() for _ in range(3)])
    for a, b in zip(*losses, strict=True):
        for k in a:
            assert b[k] == pytest.approx(a[k], rel=1e-4), k


def test_a_stage_is_one_entry_the_command_and_suites_take_it_from(
    digits, monkeypatch, tmp_path, capsys
):
    """Adding a throughput stage is one register(StageEntry(...)): the command's choices and
    help, the default stage list, the suites' stage lists and the benchmark file's check (which
    reads the entry) all follow it, with the entry's own timing policy."""
    from bench import suites
    from dcgan import cli
    from dcgan.throughput import stages

    monkeypatch.setattr(stages, "REGISTRY", dict(stages.REGISTRY))  # removed again after
    calls = []

    def zeros(ctx):
        def run():
            calls.append(1)
            return torch.zeros(8, device=ctx.device)

        return throughput.Stage("zeros", run, 8, "zeros", None, "fp32", "a throwaway stage")

    def check(outputs, stage, ctx):
        return None if all(o.shape == (8,) for o in outputs) else "not 8 zeros"

    throughput.register(
        throughput.StageEntry(
            "zeros", zeros, check, throughput.Timing(warmup=2, calls=3, windows=1)
        )
    )
    assert "zeros" in cli.build_parser().parse_args(
        ["throughput", "--variant", "dcgan32"]
    ).stages.split(",")
    assert "zeros" in suites.quick().throughput_stages
    rows = throughput.run(
        tiny(), digits, device="cpu", stages=("zeros",), warmup=0, iters=1, repeats=1
    )
    assert rows[0]["stage"] == "zeros" and rows[0]["unit"] == "zeros" and rows[0]["items_per_s"] > 0
    # the entry's timing, not the command's: 2 warm-up calls, then 1 window of 3
    assert (rows[0]["warmup_calls"], rows[0]["calls_per_window"], rows[0]["windows"]) == (2, 3, 1)
    assert len(calls) == 5
    ctx = throughput.context(tiny(), digits, "cpu")
    stage = throughput.make_stage("zeros", ctx)
    assert throughput.get("zeros").check([stage.run()], stage, ctx) is None
    with pytest.raises(ValueError, match="registered twice"):
        throughput.register(throughput.StageEntry("zeros", zeros, check))


def test_each_stage_checks_its_outputs(digits):
    """The checks the benchmark file applies: the real stages' outputs pass, wrong ones do not."""
    ctx = throughput.context(tiny(), digits, "cpu", workers=0, svm_n=200)
    for name in throughput.names():
        entry = throughput.get(name)
        stage = entry.make(ctx)
        outputs = [stage.run()]
        assert entry.check(outputs, stage, ctx) is None, name
    sample = throughput.get("sample")
    stage = sample.make(ctx)
    assert "not uint8 images" in sample.check([stage.run().float()], stage, ctx)
    features = throughput.get("features")
    stage = features.make(ctx)
    bad = stage.run()
    bad[0, 0] = float("nan")
    assert "not finite features" in features.check([bad], stage, ctx)
