"""The main job (`tox -e bench`): run a suite's cells (cached: a finished cell is never
recomputed, an interrupted suite resumes), then write its report.

    python bench/run.py                       # quick: offline, 2-core CPU, 14-17 min cold cache
    python bench/run.py --suite paper         # Table 1 and 2 at full scale (a GPU, ImageNet, SVHN)
    python bench/run.py --suite paper --scale smoke   # every paper cell, toy sizes, stand-in data
    python bench/run.py --suite ablations --only variant=dcgan32-nobn,kind=throughput
    python bench/run.py --list                # the cells, and which are finished
    python bench/run.py --suite choices --workers 8   # 8 cells at a time (a GPU each); or
    python bench/run.py --suite choices --launcher slurm --workers 32   # Slurm jobs, submitit

Data: the quick suite uses the real CIFAR-10 under $DCGAN_DATA_ROOT (tox points it at
../shared/data), else the built-in digits, so a fresh machine with no network runs it too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import cell_graph, parallel, runners, suite_report, suites  # noqa: E402
from bench import options as bench_options  # noqa: E402
from dcgan import argtypes as A  # noqa: E402
from dcgan import (  # noqa: E402
    cache,
    data,
    lock,
    protocols,
    variants,
)
from dcgan.data import check as datacheck  # noqa: E402
from dcgan.errors import UserError  # noqa: E402
from dcgan.reporting import compare, document  # noqa: E402
from dcgan.training.config import TrainingStopped  # noqa: E402

_RESUME = "finished cells are kept: the same command resumes the suite"


def build_parser() -> argparse.ArgumentParser:
    """The main job's options (bench/options.py), checked as dcgan's are (dcgan/argtypes.py)."""
    # the docstring's first paragraph, whole (its first line alone stops mid-sentence)
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    for o in bench_options.declared():
        o.add_to(p)
    return A.explain(p)


_SLURM_OPTIONS = ("slurm_partition", "slurm_minutes", "slurm_gpus", "slurm_cpus")


def launch_of(args) -> parallel.Launch:
    """--workers, --launcher and the job's resources, checked: Slurm options only where jobs are
    submitted, and a launcher that cannot start named before any work."""
    given = {k: getattr(args, k) for k in _SLURM_OPTIONS if getattr(args, k) is not None}
    if given and args.launcher == "local":
        names = ", ".join("--" + k.replace("_", "-") for k in given)
        raise UserError(
            f"{names} set(s) a Slurm job's resources; add --launcher slurm (or submitit-local),"
            " or drop it"
        )
    launch = parallel.Launch(
        workers=args.workers,
        launcher=args.launcher,
        **{k.removeprefix("slurm_"): v for k, v in given.items()},
    )
    if not (args.list or args.check_data):
        launch.check()
    return launch


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cache.check_writable()  # the cells fill it: an unwritable $DCGAN_CACHE fails here
        candidate = None
        if args.summary and not args.compare:
            raise UserError("--summary writes --compare's verdicts; add --compare, or drop it")
        if args.candidate or args.compare:
            if args.suite != "quick" or not args.candidate:
                raise UserError("--candidate NAME and --compare go together, with the quick suite")
            over = {**dict(suites.QUICK_MODEL[1]), **variants.parse_overrides(args.candidate_set)}
            # unknown names and fields fail here, before any work
            variants.get(args.candidate, **over)
            candidate = (args.candidate, tuple(over.items()))
            if candidate == suites.QUICK_MODEL:
                raise UserError(
                    f"the candidate is the baseline itself ({args.candidate} with {over}); change"
                    " a field with --candidate-set"
                )
        if candidate:
            suite = suites.quick(candidate)
        # a suite's own scale unless another is asked for (a suite without it refuses, in one line)
        else:
            suite = (
                suites.SUITES[args.suite]()
                if args.scale == "full"
                else suites.SUITES[args.suite](scale=args.scale)
            )
        if args.inception_weights:
            if not Path(args.inception_weights).is_file():
                raise UserError(
                    f"--inception-weights {args.inception_weights} is not a file; give the path of"
                    " an Inception .pth"
                )
            suite = dataclasses.replace(
                suite, inception_weights=str(Path(args.inception_weights).resolve())
            )
        ctx = runners.Context(
            suite,
            Path(args.runs) / suite.name,
            Path(args.results) / suite.name,
            released_dir=Path(args.released) if args.released else None,
        )
        all_cells = cell_graph.cells(suite)
        chosen = cell_graph.select(all_cells, cell_graph.only_tokens(args.only))
        launch = launch_of(args)
    except UserError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return 1
    if args.list:
        earlier = runners.earlier_records(ctx, all_cells)
        try:
            for c in all_cells:
                # "in results": measured elsewhere (its rows are in results/), measured again if
                # chosen
                state = (
                    "finished"
                    if ctx.cell_file(c).exists()
                    else ("in results" if c.id in earlier else "to run")
                )
                print(f"{state:10s} {'*' if c in chosen else ' '} {c.id}", flush=True)
        except BrokenPipeError:  # `--list | head`: the reader has stopped reading, as it may
            # the rest goes nowhere, so the exit's own flush of stdout fails no more
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    # what data is there, before any work: the cells that cannot run are named now (a run
    # loads only what its unfinished cells read; --check-data checks every chosen cell's)
    todo = chosen if args.check_data else [c for c in chosen if not ctx.cell_file(c).exists()]
    rows, blocked = check_data(suite, todo)
    if args.check_data:
        print(datacheck.table(rows))
        for c in blocked:
            print(f"cannot run: {c.id}")
        return 1 if blocked else 0
    if blocked:
        gone = sorted({f"{r['dataset']}/{r['split']}" for r in rows if not r["found"]})
        print(
            f"bench: {len(blocked)} of {len(chosen)} cells cannot run with the data at hand"
            f" ({', '.join(gone)} missing; `--check-data` says how to get them); each will say"
            " so",
            file=sys.stderr,
        )
    # one suite run per runs and results folder at a time (dcgan/lock.py)
    try:
        with lock.hold(ctx.runs, "--runs"), lock.hold(ctx.results, "--results"):
            return run_suite(
                ctx,
                suite,
                all_cells,
                chosen,
                candidate if args.compare else None,
                args.summary,
                launch,
            )
    except UserError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return 1


def check_data(suite, cells) -> tuple[list[dict], list]:
    """The dataset splits ``cells`` read, checked (dcgan/data/check.py), and the cells that need
    one that is missing."""
    # a cell's dataset is the data it trains on, except the released suite's, which names the
    # authors' training ("released"): their models come from the released folders, not data
    wanted = datacheck.needs(
        list(dict.fromkeys(c.dataset for c in cells if c.dataset in data.names())),
        list(dict.fromkeys(c.protocol[0] for c in cells if c.protocol)),
    )
    rows = datacheck.check(wanted, suite.data_root)
    missing = {(r["dataset"], r["split"]) for r in rows if not r["found"]}
    missing_sets = {d for d, _ in missing}
    blocked = [
        c
        for c in cells
        if (c.dataset, "train") in missing
        or (c.protocol and protocols.get(c.protocol[0]).dataset in missing_sets)
    ]
    return rows, blocked


def run_suite(
    ctx: runners.Context,
    suite,
    all_cells,
    chosen,
    compare_with,
    summary_path: str | None = None,
    launch: parallel.Launch | None = None,
) -> int:
    """Run the chosen cells (one after another, or as ``launch`` says), write the report; with
    ``compare_with`` (a candidate model) judge it against the baseline."""
    t0, launch = time.time(), launch or parallel.Launch()
    print(
        f"suite {suite.name}: {suite.description}; {len(chosen)} of {len(all_cells)} cells",
        file=sys.stderr,
    )
    if launch.workers == 1 and launch.launcher == "local":
        records, failures, stopped = run_serially(ctx, chosen)
    else:
        print(
            f"{launch.workers} cell(s) at a time ({launch.launcher} launcher); each cell's output"
            f" in {ctx.runs / 'logs'}",
            file=sys.stderr,
        )
        records, failures, stopped = parallel.run_cells(ctx, all_cells, chosen, launch)
    if stopped is not None:
        print(f"bench: stopped; {_RESUME}", file=sys.stderr)
        return stopped
    # the report covers every finished cell of the suite, this run's and earlier ones
    for c in all_cells:
        if c.id not in records and ctx.cell_file(c).exists():
            records[c.id], _ = runners.run_cell(ctx, c)
    # and, read back from results/, the cells this machine has no record of (measured elsewhere)
    restored = {
        k: r for k, r in runners.earlier_records(ctx, all_cells).items() if k not in records
    }
    shown = {**records, **restored}
    written = suite_report.write_report(ctx, all_cells, shown)
    print(
        f"\nsuite {suite.name}: {len(records)} cells finished here, {len(restored)} more read back"
        f" from {ctx.results} for the report, {len(failures)} failed,"
        f" {time.time() - t0:.0f} s this run",
        file=sys.stderr,
    )
    suite_report.summary(shown, all_cells)
    if written:
        print(f"report: {written['html']} (tables as CSV and Markdown beside it)", file=sys.stderr)
    if failures:
        print("failed cells: " + ", ".join(failures), file=sys.stderr)
        return 1
    if compare_with:
        return compare_candidate(ctx, all_cells, records, compare_with, summary_path)
    return 0


def run_serially(ctx: runners.Context, chosen) -> tuple[dict, list[str], int | None]:
    """The chosen cells one after another in this process: (the records of the cells run,
    the ids of those that failed, the exit code a signal stopped the suite with, else None)."""
    records, failures = {}, []
    for i, c in enumerate(chosen, 1):
        finished = ctx.cell_file(c).exists()
        print(
            f"[{i}/{len(chosen)}] {c.id}{' (finished earlier: reused)' if finished else ''}",
            file=sys.stderr,
        )
        started = time.time()
        try:
            records[c.id], _ = runners.run_cell(ctx, c)
            if not finished:
                print(f"[{i}/{len(chosen)}] done in {time.time() - started:.0f} s", file=sys.stderr)
        except KeyboardInterrupt:
            print(f"bench: interrupted in {c.id}", file=sys.stderr)
            return records, failures, 130
        except UserError as e:
            if isinstance(e, TrainingStopped) and e.exit_code > 128:
                # a signal (Ctrl-C, SIGTERM) during training stops the suite, not just the cell
                print(f"bench: {c.id} stopped: {e}", file=sys.stderr)
                return records, failures, e.exit_code
            # the others can still run (a health stop included); the suite fails at the end
            print(f"bench: cell {c.id} failed: {e}", file=sys.stderr)
            failures.append(c.id)
    return records, failures, None


def compare_candidate(
    ctx: runners.Context, all_cells, records: dict, candidate, summary_path: str | None = None
) -> int:
    """The candidate's rows against the baseline's, both from this suite's cells, judged as
    `dcgan compare` judges them (exit 1 on a gated regression); the two row sets are kept
    beside the report."""

    folder = document.new_folder(ctx.results, "compare")
    sides = []
    for side, model in (("base", suites.QUICK_MODEL), ("new", candidate)):
        label = suites.Cell("train", *model).label
        rows = [
            r
            for c in all_cells
            if c.label == label and c.id in records and c.kind != "benchmarks"
            for r in records[c.id]["rows"]
        ]
        (folder / f"{side}.json").write_text(json.dumps(rows, indent=1, default=str))
        sides.append(rows)
        print(
            f"compare: {side} = {label} ({len(rows)} rows, {folder / f'{side}.json'})",
            file=sys.stderr,
        )
    try:
        result = compare.judge(*sides)
    except UserError as e:
        print(f"bench: error: the baseline and the candidate: {e}", file=sys.stderr)
        return 1
    print(compare.table_text(result["verdicts"]))
    for line in compare.summary(result["verdicts"]):
        print(line, file=sys.stderr)
    title = f"tox -e compare: {suites.Cell('train', *candidate).label} against the baseline"
    for path in compare.write_summary(result["verdicts"], summary_path, title):
        print(f"summary: {path}", file=sys.stderr)
    return result["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
