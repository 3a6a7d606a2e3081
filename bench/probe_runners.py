"""The suite cells that probe: a trained D (probe), its random-init control, another feature
extractor (baseline: Table 1's K-means, pixels), the authors' released models, and the probe
curve over a run's checkpoints. Each calls the library's probe (dcgan/probing/) and writes its
rows with the suite's columns."""

from __future__ import annotations

from pathlib import Path

from bench.cell_context import SUITE_FIELDS, Context, checkpoint_of, suite_columns
from bench.suite_types import Cell
from dcgan import checkpoint, curve, events, extractors, protocols, released, results, runtime
from dcgan.errors import UserError
from dcgan.probing import controls
from dcgan.probing import rows as probe_rows


def _protocol(c: Cell) -> protocols.Protocol:
    name, draws, test_draws, *other = c.protocol
    over = {k: v for k, v in (("draws", draws), ("test_draws", test_draws)) if v is not None}
    return protocols.get(name, **over, **dict(*other))


def _probe_d(ctx: Context, c: Cell, v, netD, label: str) -> list[dict]:
    """The library's probe of one D on the cell's protocol, without its control (a suite
    measures the control as a cell of its own)."""
    return controls.run_with_control(
        v,
        netD,
        _protocol(c),
        control=False,
        label=label,
        data_root=ctx.suite.data_root,
        log=ctx.log,
    )


def run_probe(ctx: Context, c: Cell) -> dict:
    ckpt = checkpoint_of(ctx, c)
    v, _, netD, _ = checkpoint.load_models(ckpt)
    step = checkpoint.load(ckpt)["step"]
    rows = _probe_d(ctx, c, v, netD, f"step {step}")
    for r in rows:
        if results.kind_of(r) == results.MEASURED:
            r.update({**suite_columns(ctx, c), "checkpoint": str(ckpt)})
            # the cell's figure beside the run's training curves in TensorBoard
            events.add_points(ckpt.parent, f"probe/{r['protocol']}", {step: r["value"]})
    _write_probe(rows, ctx)
    return {"rows": rows}


def _write_probe(rows: list[dict], ctx: Context) -> None:
    results.write_rows(
        rows,
        ctx.results,
        f"probe-{rows[0]['protocol']}",
        "probe-rows.csv",
        probe_rows.ROW_FIELDS + SUITE_FIELDS,
    )


def run_control(ctx: Context, c: Cell) -> dict:
    from dcgan import nets

    v = c.variant_obj()
    _, netD = nets.build(v, seed=c.seed)
    try:
        # a control only beside a model that can be probed (cifar10-full's control takes hours here)
        if ctx.suite.released:
            released.import_folder(_released_folder(ctx, c.variant))
        rows = [
            r
            for r in _probe_d(ctx, c, v, netD, f"random init (seed {c.seed})")
            if results.kind_of(r) == results.MEASURED
        ]
    except UserError as e:
        if not ctx.suite.released:  # elsewhere the suite's data was checked by its training cells
            raise
        ctx.log(f"{c.id}: not measured: {e}")
        return {"rows": _not_measured(c, f"random init (seed {c.seed})", e)[:1], "retry": True}
    for r in rows:
        # the init seed is in the weights label; no training seed, no training data
        r.update(
            {
                **suite_columns(ctx, c),
                "source": "measured (control)",
                "kind": results.CONTROL,
                "seed": None,
                "train_dataset": None,
            }
        )
    _write_probe(rows, ctx)
    return {"rows": rows}


def run_baseline(ctx: Context, c: Cell) -> dict:
    """Another feature extractor (Table 1's K-means network, pixels) through the cell's protocol:
    the same probe, draws and test images as the suite's Ds; its row names the published
    figure it is held against."""
    extractor = extractors.resolve(c.variant, c.extractor_settings())
    rows = [
        r
        for r in controls.run_extractor(
            extractor, _protocol(c), data_root=ctx.suite.data_root, log=ctx.log
        )
        if results.kind_of(r) == results.MEASURED
    ]
    for r in rows:
        r.update(
            {
                **runtime.provenance(),
                "suite": ctx.suite.name,
                "cell": c.id,
                "model": extractor.label,
                "source": "measured (baseline)",
                "kind": results.BASELINE,
                "note": "; ".join(n for n in (r.get("note"), ctx.suite.note) if n),
            }
        )
    _write_probe(rows, ctx)
    return {"rows": rows}


def _not_measured(c: Cell, weights: str, why: UserError) -> list[dict]:
    """A table cell that says why it is empty (a missing folder, shard or dataset), with the
    paper's rows beside it as usual."""
    name = c.protocol[0]
    metric = "test_error_pct" if protocols.get(name).metric == "error" else "test_accuracy_pct"
    return [
        {
            "variant": c.variant,
            "weights": weights,
            "source": "not measured",
            "kind": results.NOT_MEASURED,
            "protocol": name,
            "metric": metric,
            "value": None,
            "note": f"not measured: {why}",
        }
    ] + protocols.quoted_rows(name, metric)


def _released_folder(ctx: Context, variant: str) -> Path:
    """The folder of ``variant``'s released model; a one-line error where it is missing."""
    name = next(folder for folder, v, _ in ctx.suite.released if v == variant)
    root = ctx.released_dir or (
        Path(ctx.suite.data_root) / "released" if ctx.suite.data_root else None
    )
    if root is None or not (root / name).is_dir():
        raise UserError(
            f"the released model folder {root / name if root else name} is missing: copy"
            " dcgan_code's "
            f"models/{name} there, or pass --released DIR"
        )
    return root / name


def run_released_probe(ctx: Context, c: Cell) -> dict:
    """The authors' released model (imported exactly) probed with the cell's protocol; where
    its folder, a shard or the dataset is missing, a row that says which file."""
    name = dict(c.settings)["folder"]
    weights = f"authors' released weights ({name})"
    try:
        ckpt, _ = released.import_to(
            _released_folder(ctx, c.variant), ctx.runs / "released" / f"{c.variant}.pt", force=True
        )
        v, _, netD, _ = checkpoint.load_models(ckpt)
        rows = _probe_d(ctx, c, v, netD, weights)
    except UserError as e:
        ctx.log(f"{c.id}: not measured: {e}")
        # shown in this run's report, never appended to the rows files (no measurement happened);
        # the cell is tried again on the next run, when the files may be there
        return {"rows": _not_measured(c, weights, e), "retry": True}
    for r in rows:
        if results.kind_of(r) == results.MEASURED:
            r.update(
                {
                    **suite_columns(ctx, c),
                    "checkpoint": str(ckpt),
                    "seed": None,
                    "train_dataset": "the authors' (not trained here)",
                }
            )
    _write_probe(rows, ctx)
    return {"rows": rows}


def run_curve(ctx: Context, c: Cell) -> dict:
    """The probe curve of the cell's run: step 0 (its random init) and the kept checkpoints."""
    checkpoint_of(ctx, c)  # the whole run, not the points an interrupted one has reached
    s = dict(c.settings)
    rows = curve.run(
        ctx.run_dir(c),
        protocol=_protocol(c),
        C=s["C"],
        steps=s["points"],
        data_root=ctx.suite.data_root,
        log=ctx.log,
    )
    common = suite_columns(ctx, c)
    for r in rows:
        r.update({k: common[k] for k in SUITE_FIELDS + ["versions", "note"] if k in common})
    results.write_rows(
        rows, ctx.results, "probe-curve", "probe-curve-rows.csv", curve.ROW_FIELDS + SUITE_FIELDS
    )
    return {"rows": rows}
