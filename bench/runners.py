"""How each kind of suite cell runs, and the record that makes a finished cell final: its rows
are kept on disk when it finishes, so a finished cell is never recomputed and an interrupted
suite resumes where it stopped. The cells that train, score samples (fidelity, memorisation),
time (throughput, benchmarks) and draw figures are here; those that probe are
probe_runners.py; what they share (the context, the suite's columns) is cell_context.py. What a
suite declares is suites.py, the cells it expands into cell_graph.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench import probe_runners
from bench.cell_context import (  # noqa: F401  (Context and SUITE_FIELDS: read through here)
    SUITE_FIELDS,
    Context,
    checkpoint_of,
    finished,
    suite_columns,
)
from bench.suite_types import Cell
from dcgan import (
    atomic,
    lock,
    paper_figures,
    results,
    throughput,
)
from dcgan.errors import UserError
from dcgan.quality import fidelity, memorisation
from dcgan.training.config import TrainConfig
from dcgan.training.loop import train


def run_train(ctx: Context, c: Cell) -> dict:
    settings = dict(c.settings)
    out, steps = ctx.run_dir(c), settings["steps"]
    last, _ = finished(out, steps)
    if last is not None:
        result = {"checkpoint": str(last), "reused": True}
    else:  # a new run, or the continuation of an interrupted one
        cfg = TrainConfig(
            c.variant_obj(),
            out,
            steps=steps,
            dataset=c.dataset,
            data_root=ctx.suite.data_root,
            seed=c.seed,
            ckpt_every=max(100, steps // 20),
            keep_steps=tuple(settings.get("keep_steps", ())),
            resume=True,
        )
        result = train(cfg)
    row = {
        **suite_columns(ctx, c),
        "kind": "train",
        "steps": steps,
        "checkpoint": str(result["checkpoint"]),
        "images_per_s": result.get("images_per_s"),
        "run_dir": str(out),
    }
    return {
        "rows": [row],
        "artifacts": {
            "samples": str(out / f"samples-{steps:08d}.png"),
            "log": str(out / "log.csv"),
        },
    }


def run_fidelity(ctx: Context, c: Cell) -> dict:
    """`dcgan fidelity`'s own work (fidelity.score_checkpoint) with the suite's columns; with the
    standard Inception only: where it is missing, a row that says so instead."""
    ckpt = checkpoint_of(ctx, c)
    s = dict(c.settings)
    common = {**suite_columns(ctx, c), "checkpoint": str(ckpt), "reference": f"{c.dataset}/train"}
    fields = ("note", *SUITE_FIELDS)
    try:
        weights = fidelity.resolve_weights(s.get("inception"))
    except UserError as e:
        rows = [
            {**common, "metric": m, "value": None, "std": None, "note": f"not computed: {e}"}
            for m in ("KID",)
            if "kid" in s["metrics"]
        ] or [{**common, "metric": "FID", "value": None, "note": f"not computed: {e}"}]
        results.write_rows(
            rows, ctx.results, "fidelity", "fidelity-rows.csv", fidelity.ROW_FIELDS + list(fields)
        )
        return {"rows": rows}
    result = fidelity.score_checkpoint(
        ckpt,
        c.dataset,
        data_root=ctx.suite.data_root,
        n=s["n"],
        n_real=s["n"],
        metrics=s["metrics"],
        inception_weights=weights,
        kid_subset_size=min(1000, s["n"] // 5),
        subset_seed=0,  # the suites' reference subset since they were written
        out_dir=ctx.results,
        device="auto",  # where the suite runs: hours for 50k on the CPU of a GPU box
        extra=common,
        extra_fields=fields,
    )
    return {"rows": result["rows"]}


def run_memorisation(ctx: Context, c: Cell) -> dict:
    """The memorisation check (its rows and closest pairs in results/), with the suite's
    columns in its CSV row too."""
    n = dict(c.settings)["n"]
    common = suite_columns(ctx, c)
    result = memorisation.run(
        checkpoint_of(ctx, c),
        c.dataset,
        n=n,
        n_held_out=n,
        data_root=ctx.suite.data_root,
        out_dir=ctx.results,
        tags={k: common[k] for k in SUITE_FIELDS},
        progress=False,
    )
    for line in memorisation.describe(result["row"]):
        ctx.log(line)
    row = {**result["row"], **common}
    return {
        "rows": [row],
        "artifacts": {
            "closest pairs (pixels)": row["pixels_closest_pairs_png"],
            "closest pairs (D features)": row.get("features_closest_pairs_png"),
        },
    }


def run_throughput(ctx: Context, c: Cell) -> dict:
    """`dcgan throughput`'s own work (random-init nets of the cell's model, 5,000 of its training
    images), its rows carrying the suite's columns."""
    options = dict(c.settings)
    result = throughput.benchmark(
        c.variant_obj(),
        dataset=c.dataset,
        data_root=ctx.suite.data_root,
        n_images=5000,
        out_dir=ctx.results,
        extra={**suite_columns(ctx, c), "dataset": c.dataset},
        extra_fields=tuple(SUITE_FIELDS),
        stages=options.pop("stages"),
        log=ctx.log,
        **options,
    )
    return {"rows": result["rows"]}


def run_benchmarks(ctx: Context, c: Cell) -> dict:
    """bench/test_benchmarks.py under pytest-benchmark, its JSON beside the suite's rows."""
    out = ctx.results / f"benchmarks-{results.stamp()}.json"
    ctx.results.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(Path(__file__).with_name("test_benchmarks.py")),
        "-q",
        "-p",
        "no:cacheprovider",
        "--benchmark-enable",
        f"--benchmark-json={out}",
    ]
    env = {
        **os.environ,
        **({"DCGAN_DATA_ROOT": ctx.suite.data_root} if ctx.suite.data_root else {}),
    }
    # its output is passed on (not inherited: the caller's stderr may have no file descriptor, e.g.
    # under pytest or Jupyter)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    print(proc.stdout + proc.stderr, file=sys.stderr)
    if proc.returncode != 0:
        raise UserError(f"the pytest-benchmark run failed: {' '.join(cmd)}")
    report = json.loads(out.read_text())
    rows = [
        {
            **suite_columns(ctx, c),
            "stage": b["params"]["name"],
            "benchmark": b["fullname"],
            "median_s": b["stats"]["median"],
            "items_per_call": b["extra_info"]["items_per_call"],
            "items_per_s": b["extra_info"]["items_per_call"] / b["stats"]["median"],
            "unit": b["extra_info"]["unit"],
            "device_name": f"{b['extra_info']['device']} (pytest-benchmark)",
        }
        for b in report["benchmarks"]
    ]
    return {"rows": rows, "artifacts": {"pytest-benchmark json": str(out)}}


def run_figures(ctx: Context, c: Cell) -> dict:
    """A latent walk and a numbered sample sheet of the trained G."""
    ckpt = str(checkpoint_of(ctx, c))
    folder = ctx.results / f"figures-{results.stamp()}-{c.label}-seed{c.seed}".replace("/", "_")
    walk = paper_figures.walk(ckpt, folder / "walk", log=ctx.log)
    sheet = paper_figures.arithmetic(ckpt, folder / "sheet", n=100, log=ctx.log)
    row = {**suite_columns(ctx, c), "kind": "figures", "checkpoint": ckpt, "folder": str(folder)}
    return {
        "rows": [row],
        "artifacts": {"latent walk": walk["png"], "numbered sample sheet": sheet["sheet"]},
    }


RUNNERS: dict[str, Callable[[Context, Cell], dict]] = {
    "train": run_train,
    "probe": probe_runners.run_probe,
    "released-probe": probe_runners.run_released_probe,
    "curve": probe_runners.run_curve,
    "control": probe_runners.run_control,
    "baseline": probe_runners.run_baseline,
    "fidelity": run_fidelity,
    "memorisation": run_memorisation,
    "throughput": run_throughput,
    "benchmarks": run_benchmarks,
    "figures": run_figures,
}


def run_cell(ctx: Context, c: Cell) -> tuple[dict, bool]:
    """(the cell's record, whether it was computed now). A finished cell is read back, never
    recomputed; its record is written atomically only when the cell has finished; a torn
    record is computed again. A cell still to compute is claimed first (lock.claim): a second
    process asking for a cell another is running (a suite's workers, a Slurm job left from an
    earlier run) is refused in one line instead of running it twice. Reading a finished record
    (the report reads every one) needs no claim."""
    path = ctx.cell_file(c)
    claim = (
        contextlib.nullcontext()
        if path.exists()
        else lock.claim(path.with_suffix(".claim"), f"cell {c.id}")
    )
    with claim:
        # read under the claim: a worker that finished the cell a moment ago has written it
        record, kept = atomic.json_record(
            path,
            lambda: {"cell": c.id, **RUNNERS[c.kind](ctx, c), "finished": results.now()},
            indent=1,
            default=str,
        )
    if record.get("retry"):  # what could not be measured (missing files) is tried again next time
        path.unlink(missing_ok=True)
    return record, not kept


# The kinds whose record's rows are exactly the rows JSON their runner writes to results/ (one
# file per measurement, each row naming its cell): these can be read back from results/ alone.
ROWS_IN_RESULTS = (
    "probe",
    "released-probe",
    "control",
    "baseline",
    "curve",
    "fidelity",
    "throughput",
)


def earlier_records(ctx: Context, all_cells: list[Cell]) -> dict[str, dict]:
    """Records of the suite's cells rebuilt from the rows JSON files in RESULTS/<suite>/, newest
    per cell: what was measured on another machine, or before runs/ was cleared, and committed.
    They serve the report only (so continuing a suite elsewhere keeps it whole); a cell is still
    measured again wherever this machine has no record of it. A file that cannot be read, or
    whose rows name no cell or more than one, is passed over."""
    wanted = {c.id for c in all_cells if c.kind in ROWS_IN_RESULTS}
    found: dict[str, tuple[tuple, dict]] = {}
    for path in ctx.results.glob("*.json"):
        order = results.written_order(path)
        if order is None:
            continue
        try:
            rows = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            continue
        ids = {r["cell"] for r in rows if r.get("cell")}
        if len(ids) != 1 or (cell := ids.pop()) not in wanted:
            continue
        if cell not in found or order > found[cell][0]:
            found[cell] = (order, {"cell": cell, "rows": rows, "restored_from": path.name})
    return {cell: record for cell, (_, record) in found.items()}
