import csv
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from dcgan import checkpoint, nets, variants
from dcgan import step as step_module
from dcgan.errors import UserError
from dcgan.step import FastPath
from dcgan.training.config import TrainConfig, TrainingStopped
from dcgan.training.loop import Trainer, train

from .conftest import REPO, TINY_MODEL, argv, tiny

# the CPU: bit-exact resume is checked there (CUDA needs --deterministic, tested below)
TINY_ARGS = ["train", *TINY_MODEL, "--device", "cpu"]


def _cfg(out, steps, variant=None, **kw):
    fast = FastPath(
        **{
            k: kw.pop(k)
            for k in ("amp", "channels_last", "compile", "fused_adam", "cuda_graphs")
            if k in kw
        }
    )
    return TrainConfig(
        variant or tiny(),
        out,
        steps=steps,
        progress=False,
        fast=fast,
        **{"ckpt_every": 10, "log_every": 5, "device": "cpu", **kw},
    )


def _same_params(a, b):
    sa, sb = checkpoint.load(a), checkpoint.load(b)
    return all(torch.equal(sa[n][k], sb[n][k]) for n in ("netG", "netD") for k in sa[n])


def test_resume_gives_the_same_weights_as_one_run(tmp_path):
    one = train(_cfg(tmp_path / "one", 60))
    train(_cfg(tmp_path / "two", 30))
    resumed = train(_cfg(tmp_path / "two", 60, resume=True))
    assert resumed["steps_this_run"] == 30
    assert _same_params(one["checkpoint"], resumed["checkpoint"])
    s1, s2 = checkpoint.load(one["checkpoint"]), checkpoint.load(resumed["checkpoint"])
    assert all(
        torch.equal(s1["optD"]["state"][k]["exp_avg"], s2["optD"]["state"][k]["exp_avg"])
        for k in s1["optD"]["state"]
    )
    # the log of the resumed run reads as one run
    rows = list(csv.DictReader(open(tmp_path / "two" / "log.csv")))
    assert [int(r["step"]) for r in rows] == list(range(5, 61, 5))
    # and a different seed really gives different weights (the comparison can fail)
    other = train(_cfg(tmp_path / "seed1", 60, seed=1))
    assert not _same_params(one["checkpoint"], other["checkpoint"])


def _run_cli(args, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "dcgan.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)]
)
def test_interrupted_run_checkpoints_and_resumes_exactly(tmp_path, sig):
    common = TINY_ARGS + argv("--steps 150 --ckpt-every 1000 --log-every 1 --no-progress")
    p = _run_cli(common + ["--out", str(tmp_path / "cut")])
    log = tmp_path / "cut" / "log.csv"
    deadline = time.time() + 120
    while (
        time.time() < deadline
        and p.poll() is None
        and (not log.exists() or len(log.read_text().splitlines()) < 20)
    ):
        time.sleep(0.05)
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 128 + sig, err
    assert "continue with --resume" in err and "Traceback" not in err
    steps = [s for s, _ in checkpoint.list_checkpoints(tmp_path / "cut")]
    assert len(steps) == 1 and 20 <= steps[0] < 150, steps  # checkpointed where it stopped
    q = _run_cli(common + ["--out", str(tmp_path / "cut"), "--resume"])
    r = _run_cli(common + ["--out", str(tmp_path / "whole")])
    assert q.wait(timeout=300) == 0 and r.wait(timeout=300) == 0
    assert _same_params(checkpoint.latest(tmp_path / "cut"), checkpoint.latest(tmp_path / "whole"))


def test_resume_refuses_a_different_run(tmp_path):
    train(_cfg(tmp_path / "run", 10))
    with pytest.raises(UserError, match=r"the run differs \(variant.ngf: 8 in the run, 16 now\)"):
        Trainer(
            TrainConfig(
                tiny(ngf=16), tmp_path / "run", steps=20, resume=True, progress=False, device="cpu"
            )
        ).run()
    np.savez(tmp_path / "other.npz", x=np.zeros((64, 32, 32, 3), np.uint8))
    with pytest.raises(UserError, match=r"data.dataset: 'digits' in the run, 'npz' now"):
        Trainer(
            TrainConfig(
                tiny(),
                tmp_path / "run",
                steps=20,
                resume=True,
                progress=False,
                dataset="npz",
                data_root=str(tmp_path / "other.npz"),
                device="cpu",
            )
        ).run()
    with pytest.raises(UserError, match="seed: 0 in the run, 5 now"):
        Trainer(_cfg(tmp_path / "run", 20, resume=True, seed=5)).run()


def test_existing_run_is_never_overwritten(tmp_path):
    first = train(_cfg(tmp_path / "run", 10))
    before = (tmp_path / "run" / "ckpt-00000010.pt").read_bytes()
    with pytest.raises(UserError, match="already holds a run.*pass --resume"):
        train(_cfg(tmp_path / "run", 10))
    assert (tmp_path / "run" / "ckpt-00000010.pt").read_bytes() == before
    with pytest.raises(UserError, match="already at step 10"):
        train(_cfg(tmp_path / "run", 10, resume=True))
    assert first["steps"] == 10


def test_checkpoints_samples_log_and_pruning(tmp_path):
    result = train(_cfg(tmp_path / "run", 45, keep=2, sample_n=16))
    assert [s for s, _ in checkpoint.list_checkpoints(tmp_path / "run")] == [40, 45]
    state = torch.load(result["checkpoint"], weights_only=True)  # plain weights-only load works
    assert state["step"] == 45 and state["variant"]["ngf"] == 8 and state["bn_stats"] == "running"
    assert (
        set(state["rng"]) >= {"torch_cpu", "noise"}
        and state["data_order"]["steps_per_epoch"] == 1500 // 32
    )
    from PIL import Image

    grid = Image.open(tmp_path / "run" / "samples-00000045.png")
    assert grid.size == (4 * 34 + 2, 4 * 34 + 2)  # 4 x 4 images of 32 px with 2 px padding
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    assert len(rows) == 9 and all(float(r["images_per_s"]) > 0 for r in rows)
    assert {"loss_d", "loss_g", "d_x", "d_g_z1", "d_g_z2", "grad_norm_d", "grad_norm_g"} <= set(
        rows[0]
    )
    assert result["images_per_s"] > 0
    v, netG, netD, _ = checkpoint.load_models(tmp_path / "run")
    assert v == tiny() and not netG.training
    a = nets.generate(netG, nets.sample_z(v, 4, torch.Generator().manual_seed(0)))
    b = nets.generate(netG, nets.sample_z(v, 4, torch.Generator().manual_seed(0)))
    assert torch.equal(a, b)


def test_the_authors_alternating_schedule_updates_one_network_per_step(tmp_path):
    """updates="alternate" (the authors' loop: G when n_updates is even, else D): one step moves
    only G, the next only D; two steps have moved both. Under "both" one step moves both."""

    def params(net):
        return [p.detach().clone() for p in net.parameters()]

    def moved(before, net):
        return any(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))

    for updates, expected in (
        ("alternate", [(True, False), (False, True)]),
        ("both", [(True, True), (True, True)]),
    ):
        trainer = Trainer(
            TrainConfig(
                tiny(updates=updates), tmp_path / updates, steps=2, progress=False, device="cpu"
            )
        )
        order = torch.arange(len(trainer.x))
        for step, (g_moves, d_moves) in enumerate(expected):
            g, d = params(trainer.netG), params(trainer.netD)
            trainer.step = step
            stats = trainer.train_step(trainer.batch(step, order))
            assert (moved(g, trainer.netG), moved(d, trainer.netD)) == (g_moves, d_moves), (
                updates,
                step,
            )
            assert all(torch.isfinite(v) for v in stats.values())
    # after the pair, the log carries both networks' latest figures
    assert float(stats["loss_d"]) > 0 and float(stats["loss_g"]) > 0
    assert variants.get("imagenet32").updates == variants.get("svhn32").updates == "alternate"
    assert variants.get("dcgan32").updates == "both"
    with pytest.raises(UserError, match="updates='sometimes' is not one of both, alternate"):
        tiny(updates="sometimes")


def test_each_step_has_one_kind_the_graphs_are_keyed_on(tmp_path):
    """The kind of a step (which networks it updates) under each schedule and n_critic: what
    train_step runs, and what --cuda-graphs captures one graph per."""
    expected = {
        ("both", 1): ["dg"] * 6,
        ("both", 2): ["d", "dg"] * 3,
        ("alternate", 1): ["g", "d"] * 3,
        ("alternate", 2): ["g", "d", "d"] * 2,
    }
    for (updates, n_critic), kinds in expected.items():
        trainer = Trainer(
            _cfg(tmp_path / f"{updates}{n_critic}", 6, tiny(updates=updates, n_critic=n_critic))
        )
        assert [trainer.kind(s) for s in range(6)] == kinds, (updates, n_critic)
        # a step of kind "g" leaves D's figures as they were; "d" leaves G's
        order = torch.arange(len(trainer.x))
        for step, kind in enumerate(kinds):
            before = {k: v.clone() for k, v in trainer._last.items()}
            trainer.step = step
            stats = trainer.train_step(trainer.batch(step, order))
            kept = {"g": ("loss_d", "d_x"), "d": ("loss_g", "d_g_z2"), "dg": ()}[kind]
            assert all(torch.equal(stats[k], before[k]) for k in kept), (updates, step)
            assert all(
                not torch.equal(stats[k], before[k]) for k in ("loss_d", "loss_g") if k not in kept
            ), (updates, step)


def test_an_alternating_run_resumes_exactly(tmp_path):
    one = train(_cfg(tmp_path / "one", 15, variant=tiny(updates="alternate")))
    train(_cfg(tmp_path / "two", 5, variant=tiny(updates="alternate")))
    two = train(_cfg(tmp_path / "two", 15, variant=tiny(updates="alternate"), resume=True))
    assert _same_params(one["checkpoint"], two["checkpoint"])


def _poison(monkeypatch, from_step, **values):
    original = Trainer.train_step

    def step(self, real):
        stats = original(self, real)
        if self.step >= from_step:
            stats.update({k: torch.tensor(x) for k, x in values.items()})
        return stats

    monkeypatch.setattr(Trainer, "train_step", step)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    _poison(monkeypatch, 25, loss_d=float("nan"))
    with pytest.raises(
        TrainingStopped,
        match=r"step 30: loss_d became nan; the last good checkpoint is .*ckpt-00000020.pt",
    ):
        train(_cfg(tmp_path / "run", 100))
    assert [s for s, _ in checkpoint.list_checkpoints(tmp_path / "run")] == [10, 20]


def test_collapsed_discriminator_stops_the_run(tmp_path, monkeypatch):
    _poison(monkeypatch, 12, d_x=1.0, d_g_z1=0.0)
    with pytest.raises(
        TrainingStopped, match=r"discriminator collapsed .* since step 15.*ckpt-00000010.pt"
    ):
        train(_cfg(tmp_path / "run", 100, collapse_steps=10))
    assert [s for s, _ in checkpoint.list_checkpoints(tmp_path / "run")] == [10]


def test_a_run_that_diverges_without_nans_stops_naming_the_last_good_checkpoint(
    tmp_path, monkeypatch
):
    _poison(monkeypatch, 12, loss_g=1e17)
    with pytest.raises(
        TrainingStopped,
        match=r"diverged \(a loss above 1000 since step 15, now 1e\+17\).*ckpt-00000010.pt",
    ):
        train(_cfg(tmp_path / "run", 100))
    assert [s for s, _ in checkpoint.list_checkpoints(tmp_path / "run")] == [10]


def test_out_must_be_new_or_empty_and_resume_must_find_a_run_of_ours(tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "log.csv").write_text("step,notes\n1,my own file\n")
    for resume, phrase in (
        (False, "is not empty (log.csv); a new run needs a new or empty folder"),
        (True, "holds no dcgan-bench run (no ckpt-*.pt or run-*.json; it has log.csv)"),
    ):
        with pytest.raises(UserError, match=re.escape(phrase)):
            Trainer(_cfg(user, 5, resume=resume))
    assert (user / "log.csv").read_text() == "step,notes\n1,my own file\n" and sorted(
        p.name for p in user.iterdir()
    ) == ["log.csv"]
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(UserError, match="is a file, not a folder"):
        Trainer(_cfg(tmp_path / "a-file", 5))
    with pytest.raises(UserError, match="cannot write the run to --out"):
        Trainer(_cfg(tmp_path / "a-file" / "run", 5))


def test_resume_falls_back_past_a_corrupt_newest_checkpoint_and_cleans_up_a_killed_write(
    tmp_path, capsys
):
    one = train(_cfg(tmp_path / "one", 30))
    run_dir = tmp_path / "two"
    train(_cfg(run_dir, 20))
    newest = run_dir / "ckpt-00000020.pt"
    # as if the disk had lost its end
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    stale = run_dir / ".ckpt-00000030.pt.tmp-999.pt"  # a write killed before its rename
    stale.write_bytes(b"half")
    two = train(_cfg(run_dir, 30, resume=True))
    err = capsys.readouterr().err
    assert "skipping ckpt-00000020.pt (checkpoint" in err and "corrupt or truncated" in err
    assert not stale.exists() and "removed .ckpt-00000030.pt.tmp-999.pt" in err
    assert _same_params(one["checkpoint"], two["checkpoint"])  # resumed from step 10: the same run
    # every start keeps its own record, even two starts from the same step
    train(_cfg(run_dir, 40, resume=True))
    (run_dir / "ckpt-00000040.pt").unlink()
    train(_cfg(run_dir, 40, resume=True))
    assert sorted(p.name for p in run_dir.glob("run-*.json")) == sorted(
        ["run-00000000.json", "run-00000010.json", "run-00000030.json", "run-00000030-2.json"]
    )


def test_a_full_disk_during_a_checkpoint_write_is_one_line_and_the_earlier_checkpoints_stay(
    tmp_path, monkeypatch
):
    train(_cfg(tmp_path / "run", 10))
    original = torch.save

    def full_disk(obj, f, *a, **k):
        if isinstance(obj, dict) and obj.get("step") == 20:
            raise RuntimeError(
                "[enforce fail at inline_container.cc:672] . unexpected pos 3264 vs 3152\nmore C++"
                " detail"
            )
        return original(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(
        UserError,
        match=r"could not write checkpoint .*ckpt-00000020.pt \(\[enforce fail at"
        r" inline_container.cc:672\] "
        r"\. unexpected pos 3264 vs 3152\); free space .* the checkpoints written before it are"
        r" whole",
    ):
        train(_cfg(tmp_path / "run", 30, resume=True))
    assert [s for s, _ in checkpoint.list_checkpoints(tmp_path / "run")] == [
        10
    ] and checkpoint.load(tmp_path / "run" / "ckpt-00000010.pt")
    assert not list((tmp_path / "run").glob(".ckpt-*"))  # the temporary of the failed write is gone


def test_cpu_refuses_cuda_only_options(tmp_path):
    with pytest.raises(UserError, match="--amp bf16 is a CUDA option; drop --amp bf16 on the CPU"):
        Trainer(_cfg(tmp_path / "run", 1, amp="bf16", device="cpu"))
    with pytest.raises(UserError, match="--cuda-graphs is a CUDA option"):
        Trainer(_cfg(tmp_path / "run", 1, cuda_graphs=True, device="cpu"))
    # one message for all of them, before any data is loaded or a folder is made
    with pytest.raises(
        UserError, match="--amp bf16 and --compile and --cuda-graphs are CUDA options"
    ):
        Trainer(
            _cfg(
                tmp_path / "none" / "run",
                1,
                amp="bf16",
                compile=True,
                cuda_graphs=True,
                dataset="npz",
                data_root=tmp_path / "no",
            )
        )
    assert not (tmp_path / "none").exists()


def test_channels_last_option_trains_the_same(tmp_path):
    # the same computation in another memory layout: the same losses step by step (Adam's
    # sign-like first updates make weights a poor witness: a gradient near 0 may flip them)
    train(_cfg(tmp_path / "plain", 4, log_every=1))
    train(_cfg(tmp_path / "cl", 4, log_every=1, channels_last=True))
    a, b = (list(csv.DictReader(open(tmp_path / run / "log.csv"))) for run in ("plain", "cl"))
    assert len(a) == len(b) == 4
    for ra, rb in zip(a, b, strict=True):
        for key in ("loss_d", "loss_g"):
            assert float(ra[key]) == pytest.approx(float(rb[key]), rel=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_deterministic_cuda_resume_is_bit_exact(tmp_path):
    one = train(_cfg(tmp_path / "one", 40, device="cuda", deterministic=True))
    train(_cfg(tmp_path / "two", 20, device="cuda", deterministic=True))
    resumed = train(_cfg(tmp_path / "two", 40, device="cuda", deterministic=True, resume=True))
    assert _same_params(one["checkpoint"], resumed["checkpoint"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize(
    "schedule", [{}, {"updates": "alternate"}, {"n_critic": 2}], ids=["both", "alternate", "k2"]
)
def test_cuda_graphs_train_as_the_eager_step(tmp_path, monkeypatch, schedule):
    # the replayed graphs (one per kind of step) run the same computation as the eager step:
    # the same losses step by step, past the eager warm-up steps of every kind (fixed cuDNN
    # algorithms on both sides). The eager side never captures, so both use the capturable Adam
    # a graph needs (its bias correction on the device rounds differently from the plain
    # Adam's: 4e-4 in a gradient norm after one step).
    steps = 16  # alternate: 3 warm-up steps of each kind, then 5 replays of each graph
    variant = tiny(**schedule)
    cuda = dict(device="cuda", deterministic=True, log_every=1, cuda_graphs=True)
    graphs = train(_cfg(tmp_path / "graphs", steps, variant, **cuda))
    monkeypatch.setattr(step_module, "GRAPH_WARMUP", steps + 1)
    eager = train(_cfg(tmp_path / "eager", steps, variant, **cuda))
    sa, sb = (checkpoint.load(r["checkpoint"]) for r in (eager, graphs))
    for net in ("netG", "netD"):
        for k, t in sa[net].items():
            assert torch.allclose(sb[net][k], t, rtol=1e-4, atol=1e-6), (net, k)
    a, b = (list(csv.DictReader(open(tmp_path / run / "log.csv"))) for run in ("eager", "graphs"))
    assert len(a) == len(b) == steps
    for ra, rb in zip(a, b, strict=True):
        for key in ("loss_d", "loss_g", "d_x", "grad_norm_d", "grad_norm_g"):
            assert float(rb[key]) == pytest.approx(float(ra[key]), rel=1e-5), (ra["step"], key)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("updates", ["both", "alternate"])
def test_cuda_graphs_resume_is_bit_exact(tmp_path, updates):
    v = tiny(updates=updates)
    kw = {"device": "cuda", "deterministic": True, "cuda_graphs": True}
    one = train(_cfg(tmp_path / "one", 40, v, **kw))
    train(_cfg(tmp_path / "two", 20, v, **kw))
    resumed = train(_cfg(tmp_path / "two", 40, v, resume=True, **kw))
    assert resumed["steps_this_run"] == 20
    assert _same_params(one["checkpoint"], resumed["checkpoint"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize(
    "options",
    [
        {"amp": "bf16", "channels_last": True},
        {
            "amp": "bf16",
            "channels_last": True,
            "fused_adam": True,
            "compile": True,
            "cuda_graphs": True,
        },
    ],
)
def test_cuda_fast_options_train(tmp_path, options):
    result = train(_cfg(tmp_path / "run", 20, device="cuda", **options))
    assert result["device"].startswith("cuda") and result["steps"] == 20
    state = checkpoint.load(result["checkpoint"])
    assert all(torch.isfinite(t).all() for t in state["netG"].values())
    # the weights moved from their initialisation
    init_g, _ = nets.build(tiny(), seed=0)
    assert not all(
        torch.equal(t.cpu(), init_g.state_dict()[k])
        for k, t in state["netG"].items()
        if t.is_floating_point()
    )


def test_too_small_dataset(tmp_path):
    with pytest.raises(UserError, match="fewer than one batch of 4000"):
        Trainer(TrainConfig(tiny(batch_size=4000), tmp_path / "run", steps=1, progress=False))
