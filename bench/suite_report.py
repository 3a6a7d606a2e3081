"""A suite's report from its cells' records: the headline (each trained D against its random-init
control on the same test draws), the ranking of training choices with `dcgan compare`'s verdict
against the suite's baseline, the tables, pictures and notes (dcgan/reporting/ writes them), and
the summary printed at the end of a run. Reads records only: runs nothing."""

from __future__ import annotations

import functools
import shutil
import sys
from pathlib import Path

from bench import runners, suites
from dcgan import protocols, results, variants
from dcgan.reporting import compare, document


def _rows(records: dict, cells, kind: str) -> list[dict]:
    return [r for c in cells if c.kind == kind and c.id in records for r in records[c.id]["rows"]]


def write_report(ctx: runners.Context, all_cells, records: dict):
    """The suite's one current report, ``RESULTS/<suite>/report-current/``: written whole into a new
    folder, then put in place of the previous one (which git history keeps, where results/ is
    committed); the rows files beside it only grow."""
    if not records:
        return None
    final = ctx.results / "report-current"
    fresh = document.new_folder(ctx.results, ".report-new")
    written = _write_report(ctx, all_cells, records, fresh)
    old = fresh.with_name(fresh.name.replace(".report-new", ".report-old"))
    if final.exists():
        final.rename(old)
    fresh.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return {k: final / Path(v).relative_to(fresh) for k, v in written.items()}


def _write_report(ctx: runners.Context, all_cells, records: dict, folder: Path):
    probe = (
        _rows(records, all_cells, "probe")
        + _rows(records, all_cells, "released-probe")
        + _rows(records, all_cells, "control")
        + _rows(records, all_cells, "baseline")
    )
    pictures, logs = {}, {}
    for c in all_cells:
        rec = records.get(c.id)
        if rec is None:
            continue
        for name, path in rec.get("artifacts", {}).items():
            if name == "log":
                logs[f"{c.label} on {c.dataset}, seed {c.seed}"] = Path(path)
            elif path and str(path).endswith(".png"):
                pictures[f"{name}: {c.label} on {c.dataset}, seed {c.seed}"] = Path(path)
    restored = sorted(r["restored_from"] for r in records.values() if "restored_from" in r)
    notes = [
        f"suite {ctx.suite.name}: {ctx.suite.description}",
        f"cells finished: {len(records)} of {len(all_cells)}; rows in {ctx.results}",
        *(
            [
                f"{len(restored)} of these cells finished where this machine has no record of"
                " them (another machine, or runs/ cleared): their rows are read back from"
                f" {ctx.results}/*.json ({restored[0]} ... {restored[-1]}); their sample"
                " pictures and loss curves are not here"
            ]
            if restored
            else []
        ),
        "measured rows beside the paper's (labelled quoted, never measured here); control = the"
        " same architecture, random init",
    ]
    # what each model was trained on and how: a deviation from the authors' recipe is said here
    # and in every row
    notes += list(
        dict.fromkeys(
            f"{c.label} trained on {c.dataset} ({suites.train_recipe(c.dataset)}),"
            f" updates={c.variant_obj().updates}"
            for c in all_cells
            if c.kind == "train"
        )
    )
    return document.write(
        ctx.results,
        f"dcgan-bench: the {ctx.suite.name} suite",
        probe=probe,
        fidelity=_rows(records, all_cells, "fidelity"),
        throughput=_rows(records, all_cells, "throughput"),
        images=pictures,
        loss_logs=logs,
        notes=notes,
        headline=headline(records, all_cells),
        curve=_rows(records, all_cells, "curve"),
        folder=folder,
        first=_ranking_table(ctx.suite, records, all_cells),
    )


def _pairs(records: dict, all_cells, kind: str):
    return [
        (c, r)
        for c in all_cells
        if c.kind == kind and c.id in records
        for r in records[c.id]["rows"]
    ]


def headline(records: dict, all_cells) -> list[str]:
    """The figures a reader wants first: each trained D against its random-init control on the
    same test draws, the gap and the paired test's p-value."""
    controls = {(c.label, r["protocol"]): r for c, r in _pairs(records, all_cells, "control")}
    lines = []
    for c, r in _pairs(records, all_cells, "probe") + _pairs(records, all_cells, "released-probe"):
        if results.kind_of(r) != results.MEASURED:
            continue
        control = controls.get((c.label, r["protocol"]))
        trained = (
            f"on {c.dataset}, seed {c.seed}" if c.kind == "probe" else "(the authors' training)"
        )
        figures = compare.against_control(r, control)
        line = f"{r['protocol']}: {c.label} {trained} ({r['weights']}): {figures}"
        lines.append(line + " (± 1.96 std over the test draws)")
    return lines


def ranking(records: dict, all_cells, baseline: str):
    """One line per model, ranked by its mean probe accuracy over seeds: the spread over seeds,
    its random-init control, the gap, KID where computed, and `dcgan compare`'s verdict against
    ``baseline`` (the same rows, the same bands and noise test); the paper's row beside them. A
    note says why KID is blank, and marks a choice that cannot change D (variants.same_training:
    g_ema alone), whose probe repeats the baseline's at a shared seed by construction."""
    import numpy as np
    import pandas as pd

    probes = [
        (c, r)
        for c, r in _pairs(records, all_cells, "probe")
        if results.kind_of(r) == results.MEASURED
    ]
    controls = {
        (c.label, r["protocol"]): r
        for c, r in _pairs(records, all_cells, "control")
        if r.get("value") is not None
    }
    kid, kid_missing = {}, {}
    for c, r in _pairs(records, all_cells, "fidelity"):
        if "KID" not in str(r.get("metric")):
            continue
        if r.get("value") is not None:
            kid.setdefault(c.label, []).append(float(r["value"]))
        else:  # the reason's head, e.g. "not computed: Inception weights missing"
            kid_missing[c.label] = ": ".join(str(r.get("note") or "").split(": ")[:2])
    by_model: dict[str, list[dict]] = {}
    for c, r in probes:
        by_model.setdefault(c.label, []).append(r)
    if len(by_model) < 2:
        return None
    variant_of = {c.label: c.variant_obj() for c, _ in probes}
    lines = []
    for label, rows in by_model.items():
        notes = []
        if label not in kid and label in kid_missing:
            notes.append(f"KID {kid_missing[label]} (the generative table says what to do)")
        if (
            label != baseline
            and baseline in variant_of
            and variants.same_training(variant_of[label], variant_of[baseline])
        ):
            changed = [
                f"{f}={getattr(variant_of[label], f)}"
                for f in variants.SAMPLING_ONLY_FIELDS
                if getattr(variant_of[label], f) != getattr(variant_of[baseline], f)
            ]
            notes.append(
                f"D trains exactly as {baseline}'s ({', '.join(changed)} acts on G's samples"
                " only): at a shared seed its probe repeats the baseline's; only KID tells them"
                " apart"
            )
        values = np.array([float(r["value"]) for r in rows])
        control = controls.get((label, rows[0]["protocol"]))
        verdict = "the baseline"
        if label != baseline and baseline in by_model:
            found = [v for v in compare.compare(by_model[baseline], rows) if v["kind"] == "probe"]
            v = found[0] if found else None
            p = "" if v is None or v["p_value"] is None else f", p = {v['p_value']:.2g}"
            verdict = (
                f"{v['verdict']} ({v['delta']:+.2f} points{p}; {v['noise']})"
                if v
                else "no shared measurement"
            )
        lines.append(
            {
                "model": label,
                "protocol": rows[0]["protocol"],
                "seeds": len(values),
                "probe accuracy %": values.mean(),
                "probe accuracy % ±": 1.96 * values.std() if len(values) > 1 else None,
                "random-init control %": control["value"] if control else None,
                "gap to control": values.mean() - control["value"] if control else None,
                "KID": float(np.mean(kid[label])) if label in kid else None,
                f"against {baseline}": verdict,
                "source": "measured",
                "note": "; ".join(notes),
            }
        )
    lines.sort(key=lambda d: -d["probe accuracy %"])
    for rank, line in enumerate(lines, 1):
        line["rank"] = rank
    protocol = lines[0]["protocol"]
    quoted = [
        {
            "model": r["variant"],
            "protocol": protocol,
            "probe accuracy %": r["value"],
            "probe accuracy % ±": r["ci95"],
            "source": "quoted from the paper (full-width imagenet32 features), not measured",
        }
        for r in protocols.quoted_rows(protocol, "test_accuracy_pct")
        if r["variant"].startswith("DCGAN")
    ]
    cols = [
        "rank",
        "model",
        "protocol",
        "seeds",
        "probe accuracy %",
        "probe accuracy % ±",
        "random-init control %",
        "gap to control",
        "KID",
        f"against {baseline}",
        "source",
        "note",
    ]
    return pd.DataFrame(lines + quoted).reindex(columns=cols)


def _ranking_table(suite, records: dict, all_cells) -> dict:
    if not suite.ranked_against:
        return {}
    df = ranking(records, all_cells, suite.ranked_against)
    caption = (
        "Training choices ranked by probe accuracy (mean over seeds, ± 1.96 std over seeds), each"
        " beside its random-init "
        f"control, with dcgan compare's verdict against {suite.ranked_against}"
    )
    return {} if df is None else {"ranking": (caption, df)}


def summary(records: dict, all_cells) -> None:
    for line in headline(records, all_cells):
        print(f"  {line}", file=sys.stderr)
    pairs = functools.partial(_pairs, records, all_cells)
    for c, r in pairs("curve"):
        print(
            f"  probe curve {c.label} step {r['step']}: {r['test_accuracy_pct']:.2f}%",
            file=sys.stderr,
        )
    for c, r in pairs("fidelity"):
        value = (
            "not computed"
            if r.get("value") is None
            else f"{r['value']:.4g} ± {r.get('std') or 0:.2g}"
        )
        print(f"  {r['metric']}: {c.label} seed {c.seed}: {value}", file=sys.stderr)
    for c, r in pairs("throughput"):
        ratio = (
            f" ({r['ratio_to_reference']:.2f}x the pytorch/examples-style loop)"
            if r.get("ratio_to_reference")
            else ""
        )
        print(
            f"  throughput {r['stage']}: {c.label}: {r['items_per_s']:.0f} {r['unit']}/s on"
            f" {r['device_name']}{ratio}",
            file=sys.stderr,
        )
