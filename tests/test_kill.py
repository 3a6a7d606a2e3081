"""kill -9 during training, at several points, one inside a checkpoint write: the newest
checkpoint left always loads, and `--resume` ends bit-identical to an uninterrupted run."""

import signal
import subprocess
import sys

import pytest
import torch

from dcgan import checkpoint

from .conftest import REPO, TINY_MODEL, argv

TRAIN = argv(
    "train {*} --device cpu --steps 30 --ckpt-every 10 --log-every 5 --no-progress", TINY_MODEL
)

# Runs `dcgan train` and kills its own process with SIGKILL at a chosen point: just before a
# training step ("step"), or halfway through writing a checkpoint's bytes ("save").
KILLER = r"""
import os, signal, sys
import torch
from dcgan import cli
from dcgan.training.loop import Trainer

mode, at = sys.argv[1], int(sys.argv[2])
if mode == "step":
    original_step = Trainer.train_step

    def train_step(self, real):
        if self.step == at:
            os.kill(os.getpid(), signal.SIGKILL)
        return original_step(self, real)

    Trainer.train_step = train_step
else:
    original_save = torch.save

    def save(obj, f, *a, **k):
        if isinstance(obj, dict) and obj.get("step") == at:
            f.write(b"PK\x03\x04 the first bytes of a checkpoint")
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return original_save(obj, f, *a, **k)

    torch.save = save
sys.exit(cli.main(sys.argv[3:]))
"""


def _train(out, *extra):
    done = subprocess.run(
        [sys.executable, "-m", "dcgan.cli", *TRAIN, "--out", str(out), *extra],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _weights(run_dir):
    state = checkpoint.load(checkpoint.latest(run_dir))
    return state["step"], {f"G.{k}": v for k, v in state["netG"].items()} | {
        f"D.{k}": v for k, v in state["netD"].items()
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "run"
    _train(out)
    return _weights(out)


@pytest.mark.parametrize(
    "mode,at,newest",
    [
        pytest.param("step", 15, 10, id="between checkpoints"),
        # about 12 s each: in the second test step (-m slow)
        pytest.param("step", 21, 20, id="just after a checkpoint", marks=pytest.mark.slow),
        pytest.param("save", 20, 10, id="inside a checkpoint write", marks=pytest.mark.slow),
        pytest.param(
            "save", 10, None, id="inside the first checkpoint write", marks=pytest.mark.slow
        ),
    ],
)
def test_a_killed_run_keeps_a_loadable_checkpoint_and_resumes_bit_identical(
    tmp_path, uninterrupted, mode, at, newest
):
    out = tmp_path / "run"
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, mode, str(at), *TRAIN, "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    steps = [s for s, _ in checkpoint.list_checkpoints(out)]
    assert (steps[-1] if steps else None) == newest
    if newest is not None:
        assert checkpoint.load(checkpoint.latest(out))["step"] == newest  # whole: it loads
    if mode == "save":
        # the killed write's temporary file, never renamed into place
        assert list(out.glob(".ckpt-*.tmp-*"))
    done = _train(out, "--resume")
    assert not list(out.glob(".ckpt-*.tmp-*"))
    step, weights = _weights(out)
    want_step, want = uninterrupted
    assert step == want_step == 30
    for k in want:
        assert torch.equal(weights[k], want[k]), k
    if mode == "save":
        assert "left by a checkpoint write that was killed" in done.stderr
