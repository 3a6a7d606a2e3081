"""One writer per output folder (dcgan/lock.py): two `dcgan train` processes into one --out, a
lock left by a killed process taken over, nested holds, and no empty folder left by a failure."""

import os
import signal
import subprocess
import sys
import time

import pytest

from dcgan import cli, lock
from dcgan.errors import UserError

from .conftest import REPO, TINY_MODEL

TINY = [*TINY_MODEL, "--no-progress"]


def _wait_for_holder(folder, proc, timeout=120):
    path = folder / lock.NAME
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("the first writer never took the lock")


def test_two_train_processes_into_one_folder(tmp_path, capsys):
    run = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "dcgan.cli", "train", *TINY, "--steps", "1000000"]
        + ["--ckpt-every", "2", "--out", str(run)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        holder = _wait_for_holder(run, first)
        assert holder == first.pid
        # the second writer: refused in one line naming the first's PID, its folder untouched
        code = cli.main(["train", *TINY, "--steps", "4", "--out", str(run), "--resume"])
        err = capsys.readouterr().err
        assert code == 1
        assert f"--out {run} is being written by another process (PID {first.pid})" in err
        assert len([line for line in err.splitlines() if "error" in line]) == 1
        assert first.poll() is None  # the first runs on
        while not list(run.glob("ckpt-*.pt")):
            time.sleep(0.1)
    finally:
        first.send_signal(signal.SIGKILL)  # killed: no chance to release anything itself
        first.wait()
    assert (run / lock.NAME).exists()  # the stale file stays; its flock went with the process
    # the next writer takes it over and resumes the run
    code = cli.main(["train", *TINY, "--steps", "8", "--ckpt-every", "4", "--out", str(run)])
    assert code == 1 and "already holds a run" in capsys.readouterr().err
    code = cli.main(["train", *TINY, "--steps", "8", "--out", str(run), "--resume"])
    assert code == 0, capsys.readouterr().err
    assert (run / "ckpt-00000008.pt").exists() and not (run / lock.NAME).exists()


def test_a_second_holder_in_another_process_is_refused(tmp_path):
    folder = tmp_path / "rows"
    code = "import sys, time; from dcgan import lock\nwith lock.hold(sys.argv[1]):\n"
    code += "    print('held', flush=True); time.sleep(60)"
    other = subprocess.Popen(
        [sys.executable, "-c", code, str(folder)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert other.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=rf"PID {other.pid}\)"):
            with lock.hold(folder, "--out-dir"):
                pass
    finally:
        other.kill()
        other.wait()
    with lock.hold(folder):  # taken over once the holder is gone
        assert (folder / lock.NAME).read_text().strip() == str(os.getpid())


def test_nested_holds_in_one_process_share_the_lock(tmp_path):
    with lock.hold(tmp_path / "a") as a:
        with lock.hold(tmp_path / "a"):
            (a / "rows.csv").write_text("x\n")
        assert (a / lock.NAME).exists()  # the outer hold still holds
    assert not (a / lock.NAME).exists() and (a / "rows.csv").exists()


def test_a_failed_hold_leaves_no_folder_it_made(tmp_path):
    with pytest.raises(RuntimeError):
        with lock.hold(tmp_path / "new" / "deeper"):
            raise RuntimeError("the command failed")
    assert not (tmp_path / "new").exists()
    (tmp_path / "kept").mkdir()
    with lock.hold(tmp_path / "kept"):
        pass
    assert (tmp_path / "kept").is_dir()  # not ours to remove


def test_a_failed_command_removes_the_out_folder_it_made(tmp_path, capsys):
    out = tmp_path / "new" / "rows"
    code = cli.main(
        ["probe", "--random-init", "dcgan32", "--protocol", "nope"] + ["--out-dir", str(out)]
    )
    assert code == 1 and "unknown protocol 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
