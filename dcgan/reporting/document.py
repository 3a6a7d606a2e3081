"""The report itself: every table as CSV and Markdown, then report.md and report.html (the
headline first, then the tables, the probe curve, sample grids and other pictures, loss curves),
written into a new folder, with the machine's own folders named, not spelled out."""

from __future__ import annotations

import base64
import html
import shutil
from pathlib import Path

import pandas as pd

from .. import results
from .plots import curve_plot, loss_curves
from .tables import (
    baseline_table,
    curve_table,
    display,
    edge_notes,
    generative_table,
    table1,
    table2,
    throughput_table,
)

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
