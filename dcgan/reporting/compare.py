"""Compare two result sets (or two variants within one): deltas with noise-aware verdicts.

A measurement is matched across the two sides by what it measures (protocol and metric, the
fidelity reference and metric, the throughput stage and device), never by variant, seed or time.
Its verdict weighs the change against two things: the band declared for the metric below (the
smallest change that matters) and the noise (a paired t-test over the draws when both sides
used the same draw seeds, else Welch's test over seeds or draws). Only a change beyond its band
that the noise cannot explain is a regression; a gated regression fails the comparison.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from scipy import stats

from .. import results
from ..errors import UserError
from ..quality import metrics
from ..quality.metrics import Band


def default_bands() -> dict[str, Band]:
    """Every gated measurement and its band: the probe's and throughput's here, the generative
    metrics' from their entries in quality/metrics.py (read when called, so a new entry counts)."""
    return {
        "test_accuracy_pct": Band(True, 1.0),  # probe accuracy: 1 point
        "test_error_pct": Band(False, 1.0),  # probe error: 1 point
        **metrics.bands(),
        # timings move with the machine and its load: reported, never gating
        "items_per_s": Band(True, 0.15, relative=True, gated=False),
    }


ALPHA = 0.05


def load(path) -> list[dict]:
    """Rows from a JSON file (a list of rows, or an object with a "rows" list), a rows CSV (e.g.
    results/quick/probe-rows.csv), or every JSON file under a folder; files of other shapes
    (e.g. solver comparisons) are skipped."""
    path = Path(path)
    if not path.exists():
        raise UserError(
            f"{path} does not exist; give a results folder (e.g. results/quick), a rows JSON"
            " file or a rows CSV"
        )
    if path.suffix.lower() == ".csv":
        return _csv_rows(path)
    files = sorted(path.rglob("*.json")) if path.is_dir() else [path]
    rows = []
    for f in files:
        try:
            content = json.loads(f.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise UserError(
                f"{f} is not readable JSON ({e}); remove it or give another result set"
            ) from None
        if isinstance(content, dict):
            content = content.get("rows")
        if isinstance(content, list):
            rows += [r for r in content if isinstance(r, dict)]
    if not rows:
        raise UserError(f"no result rows found in {path}; run a suite or a measuring command first")
    return rows


def _csv_rows(path: Path) -> list[dict]:
    """A rows CSV as rows: empty cells are missing values, numbers are numbers, JSON lists and
    objects (per-draw figures) are read back. The CSV keeps no per-draw figures where the
    command did not write them, so its verdicts can rest on the band alone."""
    import csv

    def cell(text: str):
        if text == "":
            return None
        if text[:1] in "[{":
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                return text
        try:
            return float(text)
        except ValueError:
            return text

    try:
        with open(path, newline="") as f:
            rows = [{k: cell(v or "") for k, v in r.items() if k} for r in csv.DictReader(f)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UserError(
            f"{path} is not a readable rows CSV ({e}); give another result set"
        ) from None
    if not rows:
        raise UserError(f"no result rows found in {path}; run a suite or a measuring command first")
    return rows


def key(row: dict) -> tuple | None:
    """What a row measures, or None for rows that measure nothing (quoted paper rows, rows that
    could not be computed)."""
    kind = results.kind_of(row)
    if kind == results.QUOTED or row.get("value", row.get("items_per_s")) is None:
        return None
    if "protocol" in row:
        return (
            "probe",
            row["protocol"],
            row["metric"],
            "control" if kind == results.CONTROL else "measured",
        )
    if "stage" in row:
        return ("throughput", row["stage"], row.get("device_name"), "items_per_s")
    if "metric" in row:
        return ("fidelity", row.get("reference"), row["metric"], "measured")
    return None


def _value(row: dict) -> float:
    return float(row["items_per_s"] if "stage" in row else row["value"])


def _newest_per_run(rows: list[dict]) -> list[dict]:
    """One row per (variant, seed, weights, checkpoint): each model once, newest measurement."""
    return results.newest(
        rows, lambda r: (r.get("variant"), r.get("seed"), r.get("weights"), r.get("checkpoint"))
    )


def _test(base: list[dict], new: list[dict]) -> tuple[float, float, float | None, str]:
    """(base mean, new mean, p-value or None, how the noise was judged)."""
    one_each = len(base) == 1 and len(new) == 1
    if one_each and base[0].get("per_draw") and new[0].get("per_draw"):
        a, b = np.asarray(base[0]["per_draw"], float), np.asarray(new[0]["per_draw"], float)
        if (
            len(a) == len(b)
            and len(a) > 1
            and base[0].get("draw_seeds") == new[0].get("draw_seeds")
        ):
            diff = b - a
            # the same shift on every draw: no noise at all
            if np.ptp(diff) <= 1e-9 * max(1.0, float(np.abs(diff).max())):
                p = 1.0 if abs(diff[0]) <= 1e-12 else 0.0
            else:
                p = float(stats.ttest_rel(b, a).pvalue)
            return a.mean(), b.mean(), _finite(p), f"paired t-test over {len(a)} shared draws"
        if len(a) > 1 and len(b) > 1:
            return _welch(a, b, "draws")
    a, b = np.array([_value(r) for r in base]), np.array([_value(r) for r in new])
    if len(a) > 1 and len(b) > 1:
        return _welch(a, b, "runs")
    return a.mean(), b.mean(), None, "no spread on both sides: band only"


def _welch(a: np.ndarray, b: np.ndarray, what: str) -> tuple[float, float, float, str]:
    """Welch's test of b against a (independent samples of ``what``: draws or runs)."""
    p = _finite(float(stats.ttest_ind(b, a, equal_var=False).pvalue))
    return a.mean(), b.mean(), p, f"Welch over {len(a)} and {len(b)} {what}"


def gap(control: dict, trained: dict) -> dict:
    """A trained model's probe row against its random-init control's: the means, the gap in
    points and the p-value of the noise test (paired over the draws when both used the same
    draw seeds, as the suites' controls do)."""
    mean_c, mean_t, p, how = _test([control], [trained])
    return {"trained": mean_t, "control": mean_c, "gap": mean_t - mean_c, "p_value": p, "test": how}


def against_control(trained: dict, control: dict | None) -> str:
    """A probe row's headline: its figure and, where its random-init control was measured on the
    same test draws, the control's, the gap and the noise test's p-value. The same words in the
    main job's report and under `dcgan probe`."""

    def figure(row: dict) -> str:
        spread = row.get("ci95")
        return f"{row['value']:.2f}%" + ("" if spread is None else f" ± {spread:.2f}")

    line = f"trained {figure(trained)}"
    if control is None or control.get("value") is None:
        return line
    g = gap(control, trained)
    p = "" if g["p_value"] is None else f", p = {g['p_value']:.2g} ({g['test']})"
    return line + f", random-init control {figure(control)}: gap {g['gap']:+.2f} points{p}"


def _finite(p: float) -> float:
    return 1.0 if math.isnan(p) else p  # identical constant samples: nothing to explain


def compare(
    base_rows: list[dict],
    new_rows: list[dict],
    alpha: float = ALPHA,
    bands: dict[str, Band] | None = None,
) -> list[dict]:
    """One verdict per measurement present on both sides (``bands``: default
    ``default_bands()``)."""
    bands = default_bands() if bands is None else bands
    groups: dict[tuple, tuple[list, list]] = {}
    for side, rows in ((0, base_rows), (1, new_rows)):
        for r in rows:
            k = key(r)
            if k is not None:
                groups.setdefault(k, ([], []))[side].append(r)
    out = []
    for k, (base, new) in sorted(groups.items(), key=lambda kv: str(kv[0])):
        if not base or not new:
            continue
        band = bands.get(k[2] if k[0] != "throughput" else "items_per_s")
        mean_a, mean_b, p, how = _test(_newest_per_run(base), _newest_per_run(new))
        delta = mean_b - mean_a
        if band is None:
            verdict, threshold = "no band declared", None
        else:
            threshold = band.tolerance * abs(mean_a) if band.relative else band.tolerance
            worse = -delta if band.higher_is_better else delta
            beyond, noise_explains = abs(delta) > threshold, p is not None and p >= alpha
            if not beyond:
                verdict = "no change (within band)"
            elif noise_explains:
                verdict = "no change (within noise)"
            else:
                verdict = "regression" if worse > 0 else "improvement"
        out.append(
            {
                "kind": k[0],
                "what": " / ".join(str(x) for x in k[1:] if x is not None),
                "base": mean_a,
                "new": mean_b,
                "delta": delta,
                "band": threshold,
                "p_value": p,
                "noise": how,
                "verdict": verdict,
                # the random-init control describes the architecture, not what training
                # did: reported, not gated
                "gated": bool(band and band.gated and k[-1] != "control"),
                "n_base": len(base),
                "n_new": len(new),
            }
        )
    return out


def failed(verdicts: list[dict]) -> list[dict]:
    return [v for v in verdicts if v["gated"] and v["verdict"] == "regression"]


def sides(base: str, new: str | None, variants: list[str] | None) -> tuple[list, list]:
    """The two sides `dcgan compare` is given: two result sets, or one set and two variants."""
    if variants and new:
        raise UserError(
            "give either two result sets (BASE NEW) or one with --variants BASE_VARIANT"
            " NEW_VARIANT, not both"
        )
    if variants:
        return split_by_variant(load(base), *variants)
    if not new:
        raise UserError(
            "give two result sets (dcgan compare BASE NEW) or one with --variants BASE_VARIANT"
            " NEW_VARIANT"
        )
    return load(base), load(new)


def split_by_variant(rows: list[dict], base: str, new: str) -> tuple[list[dict], list[dict]]:
    """Two variants within one result set: each side its own variant's rows, matched by the
    variant's name or by a suite's model label (name[overrides])."""
    a = [r for r in rows if base in (r.get("model"), r.get("variant"))]
    b = [r for r in rows if new in (r.get("model"), r.get("variant"))]
    for name, side in ((base, a), (new, b)):
        if not side:
            known = sorted(
                {str(r.get("model") or r.get("variant")) for r in rows if key(r) is not None}
            )
            raise UserError(
                f"no measured rows of variant {name!r} in this result set; it holds"
                f" {', '.join(known) or 'none'}"
            )
    return a, b


TABLE_COLUMNS = [
    "kind",
    "what",
    "base",
    "new",
    "delta",
    "band",
    "p_value",
    "verdict",
    "gated",
    "noise",
]


def table_text(verdicts: list[dict]) -> str:
    """The verdicts as the text table `dcgan compare` and the main job print."""
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        return pd.DataFrame(verdicts).reindex(columns=TABLE_COLUMNS).to_string(index=False)


def summary(verdicts: list[dict]) -> list[str]:
    """A line per gated regression, then the count: what a CI log should show."""
    bad = failed(verdicts)
    return [
        f"regression: {v['what']}: {v['base']:.4g} -> {v['new']:.4g} ({v['delta']:+.4g}; band"
        f" {v['band']:.4g}, {v['noise']})"
        for v in bad
    ] + [f"{len(bad)} gated regression(s) among {len(verdicts)} shared measurements"]


def judge(base_rows: list[dict], new_rows: list[dict], alpha: float = ALPHA) -> dict:
    """The gate, once for `dcgan compare` and the main job's `--compare`: the verdicts, the
    gated regressions and the exit code (1 on any); a compare that judges nothing fails."""
    verdicts = compare(base_rows, new_rows, alpha=alpha)
    if not verdicts:
        raise UserError(
            "the two sides share no measurement (same protocol and metric, fidelity reference or"
            " throughput stage)"
        )
    bad = failed(verdicts)
    return {"verdicts": verdicts, "regressions": len(bad), "exit_code": 1 if bad else 0}


SUMMARY_ENV = "GITHUB_STEP_SUMMARY"  # GitHub Actions shows what a job appends there


def markdown(verdicts: list[dict], title: str) -> str:
    """The verdicts as a CI job's summary: a headline saying whether the gate passed, one line
    per gated regression, then the whole table."""
    import pandas as pd

    bad = failed(verdicts)
    state = f"**{len(bad)} gated regression(s)**" if bad else "no gated regression"
    lines = [f"## {title}: {state} among {len(verdicts)} shared measurements", ""]
    lines += [f"- {line}" for line in summary(verdicts)[:-1]]
    table = pd.DataFrame(verdicts).reindex(columns=TABLE_COLUMNS)
    lines += ["", table.to_markdown(index=False, floatfmt=".4g"), ""]
    return "\n".join(lines)


def write_summary(verdicts: list[dict], path=None, title: str = "dcgan compare") -> list[str]:
    """The Markdown summary written to ``path`` (whole, replacing it) and appended to
    $GITHUB_STEP_SUMMARY when that is set; the paths written."""
    import os

    from .. import atomic

    text, written = markdown(verdicts, title), []
    if path:
        atomic.write_text(path, text)
        written.append(str(path))
    if os.environ.get(SUMMARY_ENV):
        with open(os.environ[SUMMARY_ENV], "a") as f:
            f.write(text)
        written.append(os.environ[SUMMARY_ENV])
    return written
