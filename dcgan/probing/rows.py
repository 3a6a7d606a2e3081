"""The probe's rows on disk and on the terminal: the CSV columns, one JSON file per run beside
one CSV that only grows, and the table printed for a person."""

from __future__ import annotations

from pathlib import Path

from .. import results

ROW_FIELDS = [
    "time",
    "protocol",
    "variant",
    "weights",
    "source",
    "kind",
    "metric",
    "value",
    "std",
    "ci95",
    "C",
    "C_interior",
    "grid",
    "draws",
    "test_draws",
    "per_class",
    "val_size",
    "split",
    "draw_seeds",
    "features",
    "bn_stats",
    "fitted_on",
    "standardised",
    "feature_dim",
    "anchor",
    "note",
    "solver",
    "dataset",
    "n_test",
    "device",
    "checkpoint",
    "final_fit",
    "dcgan_bench",
    "git_revision",
    "seconds_features",
    "seconds_svm",
    "fits_kept",
    "peak_rss_gib",
]


def write_rows(rows: list[dict], out_dir) -> tuple[Path, Path]:
    """One JSON file per run, and one CSV (probe-rows.csv) that only ever grows."""
    names = "+".join(dict.fromkeys(r["protocol"] for r in rows))
    return results.write_rows(rows, out_dir, f"probe-{names}", "probe-rows.csv", ROW_FIELDS)


def table(rows: list[dict]):
    """The rows as a pandas table for the terminal: measured and quoted side by side."""
    import pandas as pd

    df = pd.DataFrame(rows)
    cols = [
        c
        for c in (
            "protocol",
            "variant",
            "weights",
            "source",
            "metric",
            "value",
            "std",
            "ci95",
            "C",
            "draws",
            "test_draws",
        )
        if c in df
    ]
    return df[cols]
