"""Tidy rows -> pandas tables -> CSV, Markdown and an HTML report with pictures.

Tables are views of rows, never edited by hand: Table 1 (CIFAR-10) and Table 2 (SVHN) laid out
as in the paper with the measured rows beside the quoted ones, a generative-metrics table and a
throughput table. This module reads rows (plain dicts) and image files only; it imports no
other stage.
"""

from __future__ import annotations

import base64
import csv
import html
import math
import shutil
from pathlib import Path

import pandas as pd

from . import results


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


def generative_table(rows: list[dict]) -> pd.DataFrame:
    """One line per checkpoint and metric; rows that could not be computed say why."""
    rows = results.newest(rows, lambda r: (r.get("checkpoint"), r.get("metric")))
    out = [
        {
            "model": _model({**r, "weights": r.get("weights", "")}),
            "checkpoint": r.get("checkpoint"),
            "metric": r.get("metric"),
            "value": _num(r.get("value")),
            "std": _num(r.get("std")),
            "n_fake": r.get("n_fake"),
            "n_real": r.get("n_real"),
            "reference": r.get("reference"),
            "note": r.get("note") or "",
        }
        for r in rows
    ]
    return pd.DataFrame(out).reindex(
        columns=[
            "model",
            "checkpoint",
            "metric",
            "value",
            "std",
            "n_fake",
            "n_real",
            "reference",
            "note",
        ]
    )


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


def loss_curves(logs: dict[str, Path], out: Path) -> Path | None:
    """D and G losses over steps from each run's log.csv, one panel each, into a PNG."""
    logs = {k: Path(p) for k, p in logs.items() if Path(p).exists()}
    if not logs:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(logs), figsize=(5 * len(logs), 3.2), squeeze=False)
    for ax, (label, path) in zip(axes[0], logs.items(), strict=True):
        with open(path) as f:
            records = list(csv.DictReader(f))
        steps = [int(r["step"]) for r in records]
        for key in ("loss_d", "loss_g"):
            ax.plot(steps, [float(r[key]) for r in records], label=key)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("step")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


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


def curve_plot(rows: list[dict], out) -> Path | None:
    """Test accuracy against training step (images seen on the top axis), one line per run;
    step 0, the run's own random init, is the control point."""
    df = curve_table(list(rows))
    if df.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    per_image = None
    for (run, protocol, C), g in df.groupby(["run", "protocol", "C"], sort=False):
        g = g.sort_values("step")
        ax.plot(
            g["step"],
            g["test accuracy %"],
            marker="o",
            label=f"{run} ({protocol}, C = {C:g}, one draw)",
        )
        ax.scatter(
            g["step"][g["step"] == 0],
            g["test accuracy %"][g["step"] == 0],
            s=90,
            facecolors="none",
            edgecolors="k",
        )
        seen = g[g["step"] > 0]
        if len(seen):
            per_image = float(seen["images seen"].iloc[0]) / float(seen["step"].iloc[0])
    ax.set_xlabel("training step (circled: step 0, the run's random init)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if per_image:
        top = ax.secondary_xaxis(
            "top", functions=(lambda s: s * per_image, lambda n: n / per_image)
        )
        top.set_xlabel("images seen")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return Path(out)


# Picture bytes embedded in report.html; past this, pictures are linked to their copies beside
# it, so a suite with many models writes a page of a few MiB at most, not one per picture.
EMBED_BYTES = 1 << 20


def _img(path: Path, caption: str, embed: bool) -> str:
    # embedded: the report is one self-contained file; else the copy beside report.html
    if embed:
        src = "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()
    else:
        src = html.escape(Path(path).name)
    return (
        f'<figure><img src="{src}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def new_folder(parent, name: str) -> Path:
    """``parent/name-<stamp>``, a folder no earlier report used."""
    base = Path(parent) / f"{name}-{results.stamp()}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = Path(f"{base}-{k}")
    path.mkdir(parents=True)
    return path


def write(
    out_dir,
    title: str,
    probe=(),
    fidelity=(),
    throughput=(),
    images: dict[str, Path] | None = None,
    loss_logs: dict[str, Path] | None = None,
    notes: list[str] = (),
    headline: list[str] = (),
    curve=(),
    folder: Path | None = None,
    first: dict[str, tuple[str, pd.DataFrame]] | None = None,
) -> dict[str, Path]:
    """Every table with rows, as CSV and Markdown, plus report.md and report.html (the
    headline first, then tables, the probe curve, sample grids and other pictures, loss
    curves), into ``folder`` (default: a new folder under ``out_dir``). ``first``: tables of the
    caller's (name -> (caption, table)) shown before the paper's."""
    folder = folder or new_folder(out_dir, "report")
    folder.mkdir(parents=True, exist_ok=True)
    tables = {
        **(first or {}),
        "table1-cifar10": (
            "Table 1: CIFAR-10 classification with the discriminator's features (accuracy, %)",
            table1(list(probe)),
        ),
        "table2-svhn": (
            "Table 2: SVHN classification with 1000 labels (test error, %)",
            table2(list(probe)),
        ),
        "baselines": (
            "Baselines: other feature extractors through the same probe, draws and test images,"
            " beside their published figures",
            baseline_table(list(probe)),
        ),
        "generative": (
            "Generative metrics (torch-fidelity)",
            generative_table(list(fidelity)) if fidelity else pd.DataFrame(),
        ),
        "throughput": (
            "Throughput",
            throughput_table(list(throughput)) if throughput else pd.DataFrame(),
        ),
        "probe-curve": (
            "Probe curve: representation quality over training (one declared draw at a fixed C per"
            " point; "
            "step 0 = the run's random init)",
            curve_table(list(curve)) if curve else pd.DataFrame(),
        ),
    }
    written: dict[str, Path] = {}
    # the machine's own folders named, not spelled out (results.portable)
    roots = results.machine_roots()
    notes = results.portable(list(notes) + edge_notes(list(probe)), roots)
    headline = results.portable(list(headline), roots)
    tables = {
        name: (caption, df.map(lambda x: results.portable(x, roots)))
        for name, (caption, df) in tables.items()
    }
    md = (
        [f"# {title}", ""]
        + [f"**{h}**" for h in headline]
        + ([""] if headline else [])
        + [f"- {n}" for n in notes]
        + [""]
    )
    body = [f"<h1>{html.escape(title)}</h1>"] + [
        f"<p><b>{html.escape(h)}</b></p>" for h in headline
    ]
    body += ["<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"]
    for name, (caption, df) in tables.items():
        if df.empty or (
            name.startswith("table") and not (df["source"] != "paper (quoted, not measured)").any()
        ):
            continue  # a paper table with no measured row is left out rather than shown as if run
        df.to_csv(folder / f"{name}.csv", index=False)
        shown = display(df)
        text = shown.to_markdown(index=False, disable_numparse=True)  # cells as formatted here
        (folder / f"{name}.md").write_text(f"## {caption}\n\n{text}\n")
        written[name] = folder / f"{name}.csv"
        md += [f"## {caption}", "", text, ""]
        body += [
            f"<h2>{html.escape(caption)}</h2>",
            shown.to_html(index=False, escape=True, border=0),
        ]
    curves = loss_curves(loss_logs or {}, folder / "loss-curves.png")
    pictures = dict(images or {})
    probe_curve = curve_plot(list(curve), folder / "probe-curve.png") if curve else None
    if probe_curve:
        pictures = {"probe curve: test accuracy against training step": probe_curve, **pictures}
        written["probe_curve"] = probe_curve
    if curves:
        pictures = {"loss curves (D and G)": curves, **pictures}
        written["loss_curves"] = curves
    if pictures:
        body.append("<h2>Pictures</h2>")
        md += ["## Pictures", ""]
        embedded = 0
        for k, (caption, path) in enumerate(pictures.items()):
            if Path(path).exists():
                # a copy beside report.md, so the Markdown shows it wherever the folder goes
                local = (
                    Path(path)
                    if Path(path).parent == folder
                    else folder / f"picture-{k:02d}-{Path(path).name}"
                )
                if local != Path(path):
                    shutil.copyfile(path, local)
                size = local.stat().st_size
                embed = embedded + size <= EMBED_BYTES
                embedded += size if embed else 0
                body.append(_img(local, caption, embed))
                # brackets would end Markdown's alt text
                alt = caption.replace("[", "(").replace("]", ")")
                md += [f"### {caption}", "", f"![{alt}]({local.name})", ""]
    (folder / "report.md").write_text("\n".join(md) + "\n")
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:auto}"
        "table{border-collapse:collapse;font-size:13px}"
        "td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left}"
        "img{max-width:100%;image-rendering:pixelated}"
    )
    (folder / "report.html").write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )
    written.update(
        {"folder": folder, "markdown": folder / "report.md", "html": folder / "report.html"}
    )
    return written
