"""Tidy rows -> pandas tables: Table 1 (CIFAR-10) and Table 2 (SVHN) laid out as in the paper
with the measured rows beside the quoted ones, the baselines beside their published figures,
the generative-metrics, throughput and probe-curve tables, and their display form (a value and
its spread as one "v ± s" cell). Tables are views of rows, never edited by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .. import results


def _num(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _pm(value, spread, digits: int = 2) -> str:
    value, spread = _num(value), _num(spread)
    if value is None:
        return ""
    return f"{value:.{digits}f}" + (f" ± {spread:.{digits}f}" if spread is not None else "")


def _model(row: dict) -> str:
    """How a row's model is named in a table: the paper's method name for quoted rows; variant,
    seed and weights for measured ones."""
    if results.kind_of(row) == results.QUOTED:
        return str(row["variant"])
    seed = f" seed {row['seed']}" if row.get("seed") not in (None, "") else ""
    weights = f" ({row['weights']})" if row.get("weights") else ""
    return f"{row['variant']}{seed}{weights}"


def _kind(row: dict) -> str:
    """How a table's source column names the row's kind; a baseline extractor is measured like
    a D (the baselines table shows it beside its published figure)."""
    return {
        results.QUOTED: "paper (quoted, not measured)",
        results.NOT_MEASURED: "not measured",  # a cell whose files were missing: it says which
        results.CONTROL: "control",
    }.get(results.kind_of(row), "measured")


def probe_table(rows: list[dict], columns: dict[str, str], extra_dim: bool = True) -> pd.DataFrame:
    """One line per model; for each protocol in ``columns`` (protocol -> column title) the mean
    and its spread (1.96 std where measured, the paper's ± where quoted)."""
    rows = results.newest(
        [r for r in rows if r.get("protocol") in columns], lambda r: (_model(r), r["protocol"])
    )
    lines: dict[str, dict] = {}
    notes: dict[str, dict[str, list[str]]] = {}  # model -> note -> the columns it explains
    for r in rows:
        line = lines.setdefault(_model(r), {"model": _model(r), "source": _kind(r)})
        title = columns[r["protocol"]]
        line[title] = _num(r.get("value"))
        line[f"{title} ±"] = _num(r.get("ci95"))
        if extra_dim and _num(r.get("feature_dim")) is not None:
            line["max # of features units"] = int(float(r["feature_dim"]))
        if r.get("note"):  # why a cell is empty, e.g. which file is missing
            notes.setdefault(_model(r), {}).setdefault(r["note"], []).append(title)
        if _kind(r) == "measured":
            line["source"] = "measured"
    for model, said in notes.items():  # a reason shared by several columns is said once
        lines[model]["note"] = "; ".join(f"{', '.join(t)}: {note}" for note, t in said.items())
    order = {
        "measured": 0,
        "not measured": 0,
        "control": 1,
        "paper (quoted, not measured)": 3,
    }
    df = pd.DataFrame(sorted(lines.values(), key=lambda d: order[d["source"]]))
    cols = (
        ["model"]
        + [c for t in columns.values() for c in (t, f"{t} ±")]
        + (["max # of features units"] if extra_dim else [])
        + ["source"]
    )
    return df.reindex(columns=cols + (["note"] if "note" in df else []))


def table1(rows: list[dict]) -> pd.DataFrame:
    """The paper's Table 1: CIFAR-10 accuracy with the full training set and with 400 per class."""
    return probe_table(
        rows, {"cifar10-full": "Accuracy", "cifar10-400": "Accuracy (400 per class)"}
    )


def table2(rows: list[dict]) -> pd.DataFrame:
    """The paper's Table 2: SVHN test error with 1000 labels."""
    return probe_table(rows, {"svhn-1000": "error rate"}, extra_dim=False)


def baseline_table(rows: list[dict]) -> pd.DataFrame:
    """Other feature extractors through the same probe (Table 1's baselines), one line per
    extractor and protocol: the measured figure, where C landed, the time it took, and the
    published figure it is held against, with the deviations a reader must weigh."""
    rows = results.newest(
        # another extractor (K-means, pixels) through the same probe: measured like a D
        [r for r in rows if results.kind_of(r) == results.BASELINE],
        lambda r: (_model(r), r["protocol"]),
    )
    out = []
    for r in rows:
        grid = r.get("grid") or []
        out.append(
            {
                "model": _model(r),
                "protocol": r["protocol"],
                "measured": _pm(r.get("value"), r.get("ci95")),
                "test draws": r.get("test_draws"),
                "features": r.get("feature_dim"),
                "C": r.get("C"),
                "C interior": r.get("C_interior"),
                "grid searched": f"{min(grid):g} .. {max(grid):g}" if grid else "",
                "seconds (features, fits)": f"{_num(r.get('seconds_features')) or 0:.0f},"
                f" {_num(r.get('seconds_svm')) or 0:.0f}",
                "published (not measured here)": r.get("anchor") or "none",
                "note": r.get("note", ""),
            }
        )
    return pd.DataFrame(out)


# the fidelity row's fields the generative table shows, in order (after the model, before a note)
GENERATIVE_FIELDS = ("checkpoint", "metric", "value", "std", "n_fake", "n_real", "reference")


def generative_table(rows: list[dict]) -> pd.DataFrame:
    """One line per checkpoint and metric; rows that could not be computed say why."""
    rows = results.newest(rows, lambda r: (r.get("checkpoint"), r.get("metric")))
    out = [
        {
            "model": _model({**r, "weights": r.get("weights", "")}),
            **{k: _num(r.get(k)) if k in ("value", "std") else r.get(k) for k in GENERATIVE_FIELDS},
            "note": r.get("note") or "",
        }
        for r in rows
    ]
    return pd.DataFrame(out).reindex(columns=["model", *GENERATIVE_FIELDS, "note"])


def throughput_table(rows: list[dict]) -> pd.DataFrame:
    rows = results.newest(
        rows,
        lambda r: (r.get("variant"), r.get("device_name"), r.get("stage"), r.get("batch_size")),
    )
    out = []
    for r in rows:
        fraction = _num(r.get("peak_fraction"))
        out.append(
            {
                "variant": r.get("variant"),
                "device": r.get("device_name"),
                "stage": r.get("stage"),
                "items/s": _num(r.get("items_per_s")),
                "min": _num(r.get("items_per_s_min")),
                "max": _num(r.get("items_per_s_max")),
                "unit": r.get("unit"),
                "× reference": _num(r.get("ratio_to_reference")),
                "× eager": _num(r.get("ratio_to_eager")),
                "GFLOP/item": _num(r.get("gflops_per_item")),
                "TFLOP/s": _num(r.get("tflops_achieved")),
                "% of peak": 100 * fraction if fraction is not None else None,
                "peak memory MiB": _num(r.get("peak_memory_mb")),
                "batch": r.get("batch_size"),
                "note": r.get("note", ""),
            }
        )
    return pd.DataFrame(out).reindex(
        columns=[
            "variant",
            "device",
            "stage",
            "items/s",
            "min",
            "max",
            "unit",
            "× reference",
            "× eager",
            "GFLOP/item",
            "TFLOP/s",
            "% of peak",
            "peak memory MiB",
            "batch",
            "note",
        ]
    )


def display(df: pd.DataFrame) -> pd.DataFrame:
    """For Markdown and HTML: a value and its "±" column become one "v ± s" cell; floats rounded."""
    out = pd.DataFrame(index=df.index)
    for col in df.columns:
        if col.endswith(" ±"):
            continue
        if f"{col} ±" in df.columns:
            out[col] = [_pm(v, s) for v, s in zip(df[col], df[f"{col} ±"], strict=True)]
        elif df[col].dtype.kind == "f":
            # e.g. feature counts beside empty cells
            whole = all(_num(v) is None or float(v).is_integer() for v in df[col])
            out[col] = [
                "" if _num(v) is None else (f"{int(v)}" if whole else _short(v)) for v in df[col]
            ]
        else:
            out[col] = df[col].fillna("")
    return out


def _short(v: float) -> str:
    # rates in thousands read better without exponents
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def edge_notes(rows: list[dict]) -> list[str]:
    """A line for every measured probe whose C was chosen on an edge of the grid it searched:
    its optimum may lie beyond, so its figure may be biased low."""
    out = []
    for r in results.newest(
        [
            r
            for r in rows
            if r.get("C_interior") is False and _kind(r) != "paper (quoted, not measured)"
        ],
        lambda r: (_model(r), r.get("protocol")),
    ):
        grid = r.get("grid") or []
        span = f" (grid searched {min(grid):g} to {max(grid):g})" if grid else ""
        out.append(
            f"EDGE: {_model(r)}, {r.get('protocol')}: C = {r.get('C'):g} is on the edge of the"
            f" grid searched{span}; "
            "the optimum may lie beyond it"
        )
    return out


def curve_table(rows: list[dict]) -> pd.DataFrame:
    """The probe curve's points: one line per run and step, newest measurement of each."""
    rows = results.newest(
        rows,
        lambda r: (r.get("run_dir"), r.get("protocol"), _num(r.get("C")), int(float(r["step"]))),
    )
    out = [
        {
            "run": Path(str(r.get("run_dir"))).name,
            "step": int(float(r["step"])),
            "images seen": int(float(r["images_seen"])),
            "weights": r.get("weights"),
            "protocol": r.get("protocol"),
            "C": _num(r.get("C")),
            "draw": r.get("draw_seed"),
            "test accuracy %": _num(r.get("test_accuracy_pct")),
        }
        for r in rows
    ]
    return pd.DataFrame(sorted(out, key=lambda d: (d["run"], d["step"]))).reindex(
        columns=[
            "run",
            "step",
            "images seen",
            "weights",
            "protocol",
            "C",
            "draw",
            "test accuracy %",
        ]
    )
