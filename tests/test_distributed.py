"""Two processes under torchrun with gloo on the CPU, against one process with the same global
batch. Without batch norm the two must agree to float rounding (the gradient of the global mean
loss is the average of the two halves' gradients); with BN each process normalises over its own
half, so only progress and the files are checked."""

import csv
import os
import subprocess
import sys

import pytest
import torch

from dcgan import checkpoint

from .conftest import argv

TRAIN = argv(
    "train --dataset digits --set ngf=8 --set ndf=8 --set batch_size=32 --device cpu --log-every 5"
    " --no-progress"
)


def run(out, steps, variant="dcgan32-nobn", procs=2, extra=()):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = argv(
        "{*} --variant {} --out {} --steps {} --ckpt-every 10 {*}",
        TRAIN,
        variant,
        out,
        steps,
        extra,
    )
    if procs == 1:
        cmd = [sys.executable, "-m", "dcgan.cli", *args]
    else:
        cmd = argv(
            "{} -m torch.distributed.run --standalone {} -m dcgan.cli {*}",
            sys.executable,
            f"--nproc_per_node={procs}",
            args,
        )
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def weights(run_dir):
    state = checkpoint.load(checkpoint.latest(run_dir))
    return state["step"], {**state["netG"], **{f"D.{k}": v for k, v in state["netD"].items()}}


def losses(run_dir):
    with open(run_dir / "log.csv") as f:
        return [(int(r["step"]), float(r["loss_d"]), float(r["loss_g"])) for r in csv.DictReader(f)]


@pytest.mark.slow  # about 40 s: two torchrun runs and a resume
def test_two_processes_match_one_with_the_same_global_batch_and_resume(tmp_path):
    one, two, resumed = tmp_path / "one", tmp_path / "two", tmp_path / "resumed"
    run(one, 20, procs=1)
    run(two, 20)
    # one writer: one checkpoint per save, one sample grid, one log row per logged step
    assert sorted(p.name for p in two.glob("ckpt-*.pt")) == ["ckpt-00000010.pt", "ckpt-00000020.pt"]
    assert sorted(p.name for p in two.glob("samples-*.png")) == [
        "samples-00000010.png",
        "samples-00000020.png",
    ]
    assert [s for s, _, _ in losses(two)] == [5, 10, 15, 20]
    step, w1 = weights(one)
    _, w2 = weights(two)
    assert step == 20
    # Stated tolerance. The losses: 1e-4 relative. The weights: the split mean differs from the
    # whole one by float rounding, and Adam divides each gradient by its own running scale, so a
    # weight whose gradient is near zero can move by up to lr (2e-4) the other way in a step: each
    # weight within 5 lr, and on average within 5e-5.
    diffs = torch.cat([(w2[k].float() - w1[k].float()).abs().reshape(-1) for k in w1])
    assert diffs.max() <= 5 * 2e-4 and diffs.mean() <= 5e-5
    for (s1, d1, g1), (s2, d2, g2) in zip(losses(one), losses(two), strict=True):
        assert s1 == s2 and d2 == pytest.approx(d1, rel=1e-4) and g2 == pytest.approx(g1, rel=1e-4)

    # interrupted at 10, resumed to 20 with two processes: the same as the uninterrupted
    # two-process run
    run(resumed, 10)
    run(resumed, 20, extra=["--resume"])
    _, w3 = weights(resumed)
    for k in w2:
        torch.testing.assert_close(w3[k], w2[k], rtol=0, atol=1e-6, msg=k)
    assert losses(resumed) == losses(two)


def test_with_batch_norm_two_processes_train_and_checkpoint_once(tmp_path):
    out = tmp_path / "bn"
    done = run(out, 10, variant="dcgan32")
    assert "x 2 processes" in done.stderr and done.stderr.count("trained dcgan32") == 1
    assert [p.name for p in out.glob("ckpt-*.pt")] == ["ckpt-00000010.pt"]
    step, w = weights(out)
    assert step == 10 and all(torch.isfinite(t.float()).all() for t in w.values())


def test_a_global_batch_that_does_not_split_is_refused(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = argv(
        "{} -m torch.distributed.run --standalone --nproc_per_node=2 -m dcgan.cli {*} --variant"
        " dcgan32 --set batch_size=33 --out {} --steps 2",
        sys.executable,
        TRAIN,
        tmp_path / "x",
    )
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "does not split evenly over 2 processes" in done.stderr


def test_the_authors_alternating_schedule_under_two_processes_matches_one(tmp_path):
    alternate = ["--set", "updates=alternate"]
    run(tmp_path / "one", 10, procs=1, extra=alternate)
    run(tmp_path / "two", 10, extra=alternate)
    for (s1, d1, g1), (s2, d2, g2) in zip(
        losses(tmp_path / "one"), losses(tmp_path / "two"), strict=True
    ):
        assert s1 == s2 and d2 == pytest.approx(d1, rel=1e-4) and g2 == pytest.approx(g1, rel=1e-4)
    _, w1 = weights(tmp_path / "one")
    _, w2 = weights(tmp_path / "two")
    diffs = torch.cat([(w2[k].float() - w1[k].float()).abs().reshape(-1) for k in w1])
    assert diffs.max() <= 5 * 2e-4
    assert checkpoint.load(checkpoint.latest(tmp_path / "two"))["variant"]["updates"] == "alternate"


@pytest.mark.slow  # about 18 s; the default run keeps the alternating and BN two-process tests
def test_the_training_choices_under_two_processes_match_one(tmp_path):
    # hinge loss, spectral norm and R1, the rotation task and G's moving average: every term is a
    # mean over the batch, so the average of the two halves' gradients is one process's (no BN here)
    choices = argv("--set loss=hinge --set d_reg=sn+r1 --set d_aux=rotation --set g_ema=0.9")
    run(tmp_path / "one", 10, procs=1, extra=choices)
    run(tmp_path / "two", 10, extra=choices)
    for (s1, d1, g1), (s2, d2, g2) in zip(
        losses(tmp_path / "one"), losses(tmp_path / "two"), strict=True
    ):
        assert s1 == s2 and d2 == pytest.approx(d1, rel=1e-4) and g2 == pytest.approx(g1, rel=1e-4)
    one, two = (checkpoint.load(checkpoint.latest(tmp_path / r)) for r in ("one", "two"))
    for net in ("netG", "netD", "netG_ema"):
        diffs = torch.cat(
            [(two[net][k].float() - one[net][k].float()).abs().reshape(-1) for k in one[net]]
        )
        assert diffs.max() <= 1e-3, net
