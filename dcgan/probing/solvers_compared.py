"""Our SVM solver against scikit-learn's LinearSVC on the same protocol, cached features and
draws (`dcgan probe --compare-sklearn`): the speed ratio of the SVM work and their agreement at
every C."""

from __future__ import annotations

import numpy as np

from ..protocols import Protocol
from .probe import peak_rss_gib, run


def compare_solvers(netD, protocol: Protocol, **kw) -> dict:
    """The same protocol, on the same cached features and draws, with our solver and with
    scikit-learn's LinearSVC: the speed ratio of the SVM work and their agreement at every C."""
    ours = run(netD, protocol, solver="ours", **kw)
    ref = run(netD, protocol, solver="sklearn", **kw)
    rel = np.abs(np.subtract(ours["objective_per_C"], ref["objective_per_C"])) / np.abs(
        ref["objective_per_C"]
    )
    acc = np.abs(np.subtract(ours["test_acc_pct_per_C"], ref["test_acc_pct_per_C"]))
    return {
        "protocol": protocol.name,
        "draws": protocol.draws,
        "test_draws": protocol.test_draws,
        "grid": ours["grid"],
        "feature_dim": ours["feature_dim"],
        "seconds_ours": ours["seconds_svm"],
        "seconds_sklearn": ref["seconds_svm"],
        "speed_ratio": ref["seconds_svm"] / ours["seconds_svm"],
        # each fit's seconds (a selection draw over the grid, or a test draw at the chosen
        # C): where the ratio comes from
        "seconds_per_fit_ours": ours["seconds_per_fit"],
        "seconds_per_fit_sklearn": ref["seconds_per_fit"],
        "objective_ours_per_C": ours["objective_per_C"],
        "objective_sklearn_per_C": ref["objective_per_C"],
        "objective_rel_diff_per_C": rel.tolist(),
        "max_objective_rel_diff": float(rel.max()),
        "test_acc_ours_per_C": ours["test_acc_pct_per_C"],
        "test_acc_sklearn_per_C": ref["test_acc_pct_per_C"],
        "max_test_acc_diff_points": float(acc.max()),
        "C_ours": ours["C"],
        "C_sklearn": ref["C"],
        "value_ours": ours["value"],
        "value_sklearn": ref["value"],
        "metric": ours["metric"],
        # seconds are each fit's own, measured when it ran; fits kept from an interrupted earlier
        # run of the same command count with the seconds they took then
        "fits_kept_ours": ours["fits_kept"],
        "fits_kept_sklearn": ref["fits_kept"],
        "peak_rss_gib": peak_rss_gib(),
    }


def describe_comparison(r: dict) -> str:
    """One line for a person: the speed ratio and the agreement of ``compare_solvers``' result."""
    kept = ""
    if r["fits_kept_ours"] or r["fits_kept_sklearn"]:
        kept = (
            f" ({r['fits_kept_ours']} + {r['fits_kept_sklearn']} fits kept from an interrupted"
            " earlier run, with their own seconds)"
        )
    return (
        f"{r['protocol']}, {r['draws']} draw(s) x {len(r['grid'])} C + {r['test_draws']} test"
        f" draw(s), {r['feature_dim']} dims: ours {r['seconds_ours']:.1f} s, scikit-learn"
        f" {r['seconds_sklearn']:.1f} s, ratio {r['speed_ratio']:.1f}x; objective within"
        f" {r['max_objective_rel_diff']:.1e} relative, test accuracy within"
        f" {r['max_test_acc_diff_points']:.2f} points at every C{kept}; written to {r['json']}"
    )
