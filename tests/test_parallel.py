"""A suite's cells run concurrently (bench/parallel.py): two local workers, and submitit's local
executor, give the serial run's rows and report; a probe waits for its training; a cell claimed
by another process is run by nobody else; a dead worker leaves its cell to resume; concurrent
row writers lose nothing."""

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from bench import cell_graph, parallel, run, runners, suites
from dcgan import lock, results
from dcgan.errors import UserError

from .conftest import argv

# the choices suite at smoke scale, one model: 2 trainings (seeds), their probes and curves, one
# random-init control; seconds of work per cell on the built-in digits
ONLY = "variant=dcgan32"
SUITE = "choices-smoke"


def _bench(tmp, *extra) -> int:
    return run.main(
        argv(
            "--suite choices --scale smoke --only {} --runs {} --results {} {*}",
            ONLY,
            tmp / "runs",
            tmp / "results",
            list(extra),
        )
    )


def _figures(tmp) -> dict:
    """What the report shows: its Markdown (paths made relative), and every measured row's
    value by cell."""
    folder = tmp / "results" / SUITE
    report = (folder / "report-current" / "report.md").read_text().replace(str(tmp), "<tmp>")
    values = {}
    for path in folder.glob("*.json"):
        for r in json.loads(path.read_text()):
            key = (r["cell"], r.get("protocol"), r.get("step"), r.get("metric"))
            values[key] = r.get("value", r.get("test_accuracy_pct"))
    return {"report": report, "values": values}


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serial")
    assert _bench(tmp) == 0
    return _figures(tmp)


def test_two_local_workers_give_the_serial_runs_rows_and_report(tmp_path, serial, capsys):
    assert _bench(tmp_path, "--workers", "2") == 0
    err = capsys.readouterr().err
    assert "2 cell(s) at a time (local launcher)" in err
    # both workers were used, and each cell's output went to its own log
    assert "(worker 0;" in err and "(worker 1;" in err
    logs = sorted((tmp_path / "runs" / SUITE / "logs").glob("*.log"))
    assert len(logs) == 7 and all(p.read_text() for p in logs)
    parallel_run = _figures(tmp_path)
    assert parallel_run["values"] == serial["values"] and len(serial["values"]) >= 7
    assert parallel_run["report"] == serial["report"]
    # a probe started only once its training had finished
    for probe in ("probe/dcgan32[", "curve/dcgan32["):
        for seed in (0, 1):
            train_done = _line(err, f"train/dcgan32[ngf=8,ndf=8,batch_size=32]/digits/seed{seed}/")
            started = _line(err, f"{probe}ngf=8,ndf=8,batch_size=32]/digits/seed{seed}/", "started")
            assert train_done < started


def _line(err: str, cell: str, what: str = "done in") -> int:
    return next(i for i, line in enumerate(err.splitlines()) if cell in line and what in line)


@pytest.mark.slow
def test_submitits_local_executor_gives_the_serial_runs_rows_and_report(tmp_path, serial, capsys):
    pytest.importorskip("submitit")
    assert _bench(tmp_path, "--workers", "2", "--launcher", "submitit-local") == 0
    assert "(submitit-local launcher)" in capsys.readouterr().err
    # the jobs went through submitit: its pickled jobs and outputs are in RUNS/<suite>/submitit
    assert list((tmp_path / "runs" / SUITE / "submitit").glob("*_result.pkl"))
    assert _figures(tmp_path) == serial


def test_a_cell_claimed_elsewhere_is_run_by_nobody_else_and_resumes_later(tmp_path, capsys):
    suite = suites.choices("smoke")
    ctx = runners.Context(suite, tmp_path / "runs" / SUITE, tmp_path / "results" / SUITE)
    control = next(c for c in cell_graph.cells(suite) if c.kind == "control")
    claim = ctx.cell_file(control).with_suffix(".claim")
    # another process holds the control cell (this test's own lock: a worker is a process of
    # its own, so it is refused just as a second machine would be)
    with lock.claim(claim, f"cell {control.id}"):
        assert _bench(tmp_path, "--workers", "2") == 1
        err = capsys.readouterr().err
        assert f"cell {control.id} failed: cell {control.id} is being run by another process" in err
        assert not ctx.cell_file(control).exists()
        # in this process too
        with pytest.raises(UserError, match="is being run by another process"):
            runners.run_cell(ctx, control)
    assert not claim.exists()
    # released: the same command runs the control alone, the rest is reused
    assert _bench(tmp_path, "--workers", "2") == 0
    err = capsys.readouterr().err
    assert "6 of 7 chosen cells finished earlier: reused" in err
    assert f"[1/1] {control.id} started" in err and ctx.cell_file(control).exists()


def test_a_worker_that_dies_leaves_its_cell_to_resume(tmp_path):
    suite = suites.choices("smoke")
    ctx = runners.Context(suite, tmp_path / "runs", tmp_path / "results")
    control = next(c for c in cell_graph.cells(suite) if c.kind == "control")
    job = parallel.Job(suite, str(ctx.runs), str(ctx.results), None, control, str(tmp_path / "l"))
    worker = parallel._Worker(gpu=None)
    handle = worker.start(job)
    os.kill(worker.process.pid, signal.SIGKILL)  # killed while it starts (out of memory, say)
    while not handle.done():
        time.sleep(0.05)
    status = handle.result()
    assert status["status"] == "failed" and "killed by SIGKILL" in status["error"]
    assert not ctx.cell_file(control).exists()
    # the slot gets a new process; the cell runs whole
    handle = worker.start(job)
    _wait(handle)
    status = handle.result()
    worker.close()
    assert status["status"] == "done" and ctx.cell_file(control).exists()
    assert status["record"]["rows"][0]["value"] is not None


def _wait(handle, seconds: float = 120) -> bool:
    end = time.time() + seconds
    while not handle.done():
        assert time.time() < end, "the worker did not finish"
        time.sleep(0.05)
    return True


def test_each_worker_is_pinned_to_its_own_gpu_in_turn(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    gpus = parallel.visible_gpus()
    assert gpus == ["2", "5"]
    assert [parallel.pinned(slot, gpus) for slot in range(3)] == ["2", "5", "2"]
    assert parallel.pinned(0, []) is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert parallel.visible_gpus() == []


def test_a_measurement_waits_for_its_training_and_nothing_else():
    cells = cell_graph.cells(suites.choices("smoke"))
    for c in cells:
        needed = cell_graph.needs(c, cells)
        if c.kind in ("probe", "curve"):
            assert [(t.kind, t.variant, t.overrides, t.seed) for t in needed] == [
                ("train", c.variant, c.overrides, c.seed)
            ]
        else:
            assert needed == []


def _append(args) -> None:
    folder, worker = args
    for i in range(40):
        # the second writer's rows carry a column the first's do not: the CSV is widened
        # (rewritten) while the other appends
        row = {"worker": worker, "i": i, **({"extra": i} if worker == 1 else {})}
        fields = ["worker", "i"] + (["extra"] if worker == 1 else [])
        results.write_rows([row], folder, "rows", "rows.csv", fields)


def test_two_processes_appending_rows_lose_none(tmp_path):
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_append, [(str(tmp_path), 0), (str(tmp_path), 1)])
    table = pd.read_csv(tmp_path / "rows.csv")
    assert sorted(zip(table["worker"], table["i"], strict=True)) == sorted(
        (w, i) for w in (0, 1) for i in range(40)
    )
    assert list(table.columns) == ["worker", "i", "extra"]
    # one JSON file per write, none overwritten
    assert len(list(tmp_path.glob("rows-*.json"))) == 80
    assert not (Path(tmp_path) / lock.ROWS_LOCK).exists()
