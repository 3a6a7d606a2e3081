"""A suite's cells run concurrently: ``--workers N`` cells at a time, each in a process of its
own (``--launcher local``, pinned to its own GPU where there are GPUs) or as a Slurm job submitted
through submitit (``--launcher slurm``; ``submitit-local`` runs the same submitit route on this
machine, to try it out).

The cell graph is kept: a cell that measures a trained model starts once its train cell has
finished (cell_graph.needs). A cell is claimed by the process that runs it (runners.run_cell),
so two workers never run one cell, even ones started by two bench commands. A crashed worker or a
cancelled job leaves its cell unfinished (its record is written only when it finishes), and the
same command resumes it. Each cell's output goes to its own log, ``RUNS/<suite>/logs/<cell>.log``;
this process prints a line as each cell starts and as it ends, and the report is assembled from the
finished cells exactly as after a serial run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import cell_graph, runners
from bench.suite_types import Cell, Suite
from dcgan.errors import UserError
from dcgan.training.config import TrainingStopped

LAUNCHERS = ("local", "slurm", "submitit-local")


@dataclass(frozen=True)
class Job:
    """What a worker needs to run one cell: plain data, picklable (no open files, no functions)."""

    suite: Suite
    runs: str
    results: str
    released_dir: str | None
    cell: Cell
    log: str  # the cell's output goes here

    def context(self) -> runners.Context:
        return runners.Context(
            self.suite,
            Path(self.runs),
            Path(self.results),
            released_dir=Path(self.released_dir) if self.released_dir else None,
        )


def run_job(job: Job) -> dict:
    """In a worker: run one cell with its output in its log. Returns its status: "done" with
    the cell's record, "failed" with the error, or "stopped" (a signal) with the exit code the
    suite stops with."""
    started = time.time()
    with _output_to(job.log):
        try:
            record, _ = runners.run_cell(job.context(), job.cell)
            status = {"status": "done", "record": record}
        except TrainingStopped as e:
            kind = "stopped" if e.exit_code > 128 else "failed"
            status = {"status": kind, "error": str(e), "exit_code": e.exit_code}
        except UserError as e:
            status = {"status": "failed", "error": str(e)}
        except KeyboardInterrupt:
            status = {"status": "stopped", "error": "interrupted", "exit_code": 130}
        except Exception as e:  # a bug: its traceback in the cell's log, one line here
            traceback.print_exc()
            status = {"status": "failed", "error": f"crashed: {type(e).__name__}: {e}"}
        print(f"cell {job.cell.id}: {status['status']}", file=sys.stderr)
    return {**status, "seconds": time.time() - started}


@contextlib.contextmanager
def _output_to(log: str):
    """This process's output, C-level and subprocesses' included, appended to ``log`` for the
    block; then back where it was."""
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        with open(log, "a") as f:
            os.dup2(f.fileno(), 1)
            os.dup2(f.fileno(), 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def _worker_main(gpu: str | None, conn) -> None:
    """A local worker: pinned to its GPU before anything touches CUDA, then runs the cells it is
    sent one after another (as the serial run does in one process) until it is sent None."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    try:
        while (job := conn.recv()) is not None:
            conn.send(run_job(job))
    except (KeyboardInterrupt, EOFError, BrokenPipeError):
        pass  # the suite is stopping; the cell left unfinished resumes next time


class _Worker:
    """A local worker process (spawned: a fresh interpreter whose CUDA device is set before torch
    starts CUDA), kept for the next cell; a worker that died is replaced by a new one."""

    def __init__(self, gpu: str | None):
        self.gpu, self.process, self._status = gpu, None, None

    def start(self, job: Job) -> _Worker:
        if self.process is None or not self.process.is_alive():
            ctx = multiprocessing.get_context("spawn")
            self._conn, child = ctx.Pipe()
            self.process = ctx.Process(target=_worker_main, args=(self.gpu, child))
            self.process.start()
            child.close()
        self._status = None
        with contextlib.suppress(OSError):  # it died just now: result() says how
            self._conn.send(job)
        return self

    def done(self) -> bool:
        if self._status is None and self._conn.poll():
            try:
                self._status = self._conn.recv()
            except (EOFError, OSError):  # it died: result() says how
                pass
        return self._status is not None or not self.process.is_alive()

    def result(self) -> dict:
        if self.done() and self._status is not None:
            return self._status
        self.process.join()
        code = self.process.exitcode
        self.process = None
        how = f"killed by {signal.Signals(-code).name}" if code and code < 0 else f"code {code}"
        return {
            "status": "failed",
            "error": f"its worker process ended ({how}) before the cell finished (out of memory,"
            " or killed); run again to resume it",
        }

    def stop(self) -> None:
        if self.process is not None and self.process.is_alive():
            # training checkpoints and stops; other work ends now (it resumes from its records)
            os.kill(self.process.pid, signal.SIGTERM)

    def wait(self, seconds: float) -> None:
        end = time.time() + seconds
        while self.process is not None and not self.done() and time.time() < end:
            time.sleep(0.1)
        self.close()

    def close(self) -> None:
        if self.process is None:
            return
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self._conn.send(None)
            self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()


class _LocalWorkers:
    def __init__(self, n: int):
        gpus = visible_gpus()
        self.workers = [_Worker(pinned(slot, gpus)) for slot in range(n)]

    def start(self, job: Job, slot: int) -> _Worker:
        return self.workers[slot].start(job)

    def close(self) -> None:
        for w in self.workers:
            w.close()


class _SubmititWorkers:
    def __init__(self, executor):
        self.executor = executor

    def start(self, job: Job, slot: int) -> _Submitted:
        return _Submitted(self.executor, job)

    def close(self) -> None:
        pass


class _Submitted:
    """One cell as a submitit job (Slurm, or submitit's local executor)."""

    def __init__(self, executor, job: Job):
        self.job = executor.submit(run_job, job)

    def done(self) -> bool:
        return self.job.done()

    def result(self) -> dict:
        try:
            return self.job.result()
        except Exception as e:  # submitit's FailedJobError / UncompletedJobError: timed out, killed
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            return {
                "status": "failed",
                "error": f"job {self.job.job_id} ended before the cell finished ({first}); its"
                f" output: {self.job.paths.stderr}; run again to resume it",
            }

    def stop(self) -> None:
        self.job.cancel(check=False)

    def wait(self, seconds: float) -> None:
        pass  # cancelled: the scheduler ends the job


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES entries: the ones that variable
    lists where it is set, else every device torch sees (none on a CPU machine)."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g.strip() for g in listed.split(",") if g.strip() and g.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def pinned(slot: int, gpus: list[str]) -> str | None:
    """Worker ``slot``'s GPU: the GPUs in turn (several workers share one where there are more
    workers than GPUs); None on a machine without GPUs."""
    return gpus[slot % len(gpus)] if gpus else None


@dataclass(frozen=True)
class Launch:
    """How the cells are run: ``workers`` at a time, by ``launcher``; the Slurm job's resources."""

    workers: int = 1
    launcher: str = "local"
    partition: str | None = None
    minutes: int = 240
    gpus: int = 1
    cpus: int = 8

    def check(self) -> None:
        """A launcher that cannot start is named now, before any work."""
        if self.launcher == "slurm" and shutil.which("sbatch") is None:
            raise UserError(
                "--launcher slurm submits with Slurm's sbatch, which is not on PATH here; run"
                " the command on the cluster's login node, or use --launcher local"
            )
        if self.launcher != "local":
            try:
                import submitit  # noqa: F401
            except ImportError:
                raise UserError(
                    f"--launcher {self.launcher} needs submitit; pip install submitit (a declared"
                    " dependency of dcgan-bench)"
                ) from None

    def workers_for(self, ctx: runners.Context):
        """The workers: ``start(job, slot)`` starts a cell and returns its handle (``done``,
        ``result``, ``stop``, ``wait``); ``close()`` ends them."""
        if self.launcher == "local":
            return _LocalWorkers(self.workers)
        import submitit

        # the job's python imports bench/ as this one does (Slurm passes the environment on)
        root = str(Path(__file__).resolve().parent.parent)
        paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if root not in paths:
            os.environ["PYTHONPATH"] = os.pathsep.join([root, *filter(None, paths)])
        cluster = "slurm" if self.launcher == "slurm" else "local"
        executor = submitit.AutoExecutor(folder=ctx.runs / "submitit", cluster=cluster)
        params = {
            "timeout_min": self.minutes,
            # submitit's local executor gives every job the first GPUs: none on a CPU machine
            "gpus_per_node": self.gpus if cluster == "slurm" or visible_gpus() else 0,
            "cpus_per_task": self.cpus,
            "name": f"dcgan-bench-{ctx.suite.name}",
        }
        if self.partition:
            params["slurm_partition"] = self.partition
        executor.update_parameters(**params)
        return _SubmititWorkers(executor)

    @property
    def poll_s(self) -> float:
        return 0.2 if self.launcher == "local" else 2.0


def log_path(ctx: runners.Context, c: Cell) -> Path:
    return ctx.runs / "logs" / ctx.cell_file(c).with_suffix(".log").name


def run_cells(
    ctx: runners.Context,
    all_cells: list[Cell],
    chosen: list[Cell],
    launch: Launch,
    say: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
) -> tuple[dict, list[str], int | None]:
    """Run the chosen cells ``launch.workers`` at a time. Returns (the records of the cells
    computed now, the ids of the cells that failed, the exit code a signal stopped the suite
    with, else None). A cell finished earlier is left for the report to read back."""
    workers = launch.workers_for(ctx)
    pending = [c for c in chosen if not ctx.cell_file(c).exists()]
    if len(pending) < len(chosen):
        say(f"{len(chosen) - len(pending)} of {len(chosen)} chosen cells finished earlier: reused")
    needs = {c.id: cell_graph.needs(c, all_cells) for c in pending}  # once, not at every poll
    records, failed, stop_code = {}, {}, None
    running: dict[int, tuple[Cell, object, float]] = {}  # worker slot -> cell, handle, start
    total, started_n = len(pending), 0
    restore = _on_sigterm()
    try:
        while (pending and stop_code is None) or running:
            for c in list(pending):
                if stop_code is not None or len(running) >= launch.workers:
                    break
                deps = needs[c.id]
                broken = [d.id for d in deps if d.id in failed]
                if broken:
                    pending.remove(c)
                    failed[c.id] = f"not run: {broken[0]} failed"
                    say(f"bench: cell {c.id} not run: the cell it needs failed ({broken[0]})")
                    continue
                if any(d in pending or d in _cells(running) for d in deps):
                    continue  # its training is still to come
                pending.remove(c)
                slot = min(set(range(launch.workers)) - set(running))
                job = Job(
                    ctx.suite,
                    str(ctx.runs),
                    str(ctx.results),
                    str(ctx.released_dir) if ctx.released_dir else None,
                    c,
                    str(log_path(ctx, c)),
                )
                handle = workers.start(job, slot)
                started_n += 1
                running[slot] = (c, handle, time.time())
                say(f"[{started_n}/{total}] {c.id} started (worker {slot}; log {job.log})")
            time.sleep(launch.poll_s)
            for slot, (c, handle, t0) in list(running.items()):
                if not handle.done():
                    continue
                del running[slot]
                status = handle.result()
                if status["status"] == "done":
                    records[c.id] = status["record"]
                    say(f"{c.id} done in {time.time() - t0:.0f} s")
                    continue
                failed[c.id] = status["error"]
                say(f"bench: cell {c.id} failed: {status['error']} (log {log_path(ctx, c)})")
                if status["status"] == "stopped":
                    stop_code = status.get("exit_code", 130)
    except (KeyboardInterrupt, _Terminated) as e:
        code = e.code if isinstance(e, _Terminated) else 130
        say(f"bench: stopped by a signal; stopping {len(running)} running cell(s)")
        for _, handle, _ in running.values():
            handle.stop()
        for _, handle, _ in running.values():
            handle.wait(120)
        return records, list(failed), code
    finally:
        workers.close()
        restore()
    return records, list(failed), stop_code


class _Terminated(Exception):
    def __init__(self, code: int):
        self.code = code


def _on_sigterm() -> Callable[[], None]:
    """SIGTERM (a Slurm time limit, `kill`) stops the run as Ctrl-C does: the workers are told
    to stop, so no worker outlives this process. Returns the function restoring the handler."""

    def handler(signum, frame):
        raise _Terminated(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: the caller owns signals
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous)


def _cells(running: dict) -> list[Cell]:
    return [c for c, _, _ in running.values()]
