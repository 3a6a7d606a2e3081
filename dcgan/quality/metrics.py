"""The generative metrics, one entry each, as data: what ``--metrics`` takes (torch-fidelity's
switch of the same name), the result keys each number comes from, the name a row gets with the
standard Inception weights and with any other (never FID, IS or KID then), and the band
``dcgan compare`` judges a change by. fidelity.py, the CLI and reporting/compare.py read this
table, so a new metric is one ``register`` call. No torch here: the CLI and compare read it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError
from ..registry import add_entry


@dataclass(frozen=True)
class Band:
    higher_is_better: bool
    tolerance: float  # the smallest change that matters
    relative: bool = False  # tolerance as a fraction of the baseline's value
    gated: bool = True  # a regression beyond the band fails the comparison


@dataclass(frozen=True)
class Measure:
    """One number a metric yields, written as one row."""

    value_key: str  # torch-fidelity's result key of the value
    std_key: str | None  # ... of its spread, where it reports one
    standard: str  # the row's metric name with the standard Inception weights
    nonstandard: str  # ... with any other weights: a user never sees FID/IS/KID for those
    band: Band


@dataclass(frozen=True)
class Metric:
    name: str  # what --metrics takes, and torch-fidelity's calculate_metrics switch
    description: str
    measures: tuple[Measure, ...]


REGISTRY: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    return add_entry(REGISTRY, "metric", metric)


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def get(chosen) -> list[Metric]:
    """The metrics named in ``chosen``; an unknown name is one line naming the known ones."""
    chosen = list(chosen)
    unknown = sorted(set(chosen) - set(REGISTRY))
    if unknown:
        raise UserError(f"unknown metric(s) {', '.join(unknown)}; metrics: {', '.join(REGISTRY)}")
    return [REGISTRY[m] for m in chosen]


def bands() -> dict[str, Band]:
    """Each row name (standard and non-standard) -> its band."""
    return {
        name: m.band
        for metric in REGISTRY.values()
        for m in metric.measures
        for name in (m.standard, m.nonstandard)
    }


def help_text() -> str:
    return ", ".join(f"{m.name} ({m.description})" for m in REGISTRY.values())


register(
    Metric(
        "isc",
        "Inception Score",
        (
            Measure(
                "inception_score_mean",
                "inception_score_std",
                "IS",
                "inception-style score, non-standard weights (not IS)",
                Band(True, 0.25),
            ),
        ),
    )
)
register(
    Metric(
        "fid",
        "Frechet Inception Distance",
        (
            Measure(
                "frechet_inception_distance",
                None,
                "FID",
                "Frechet feature distance, non-standard weights (not FID)",
                Band(False, 2.0),
            ),
        ),
    )
)
register(
    Metric(
        "kid",
        "Kernel Inception Distance",
        (
            Measure(
                "kernel_inception_distance_mean",
                "kernel_inception_distance_std",
                "KID",
                "kernel feature distance, non-standard weights (not KID)",
                Band(False, 0.005),
            ),
        ),
    )
)
register(
    Metric(
        "prc",
        "precision and recall on Inception pool3 features",
        (
            Measure(
                "precision",
                None,
                "precision (Inception pool3)",
                "precision, non-standard features",
                Band(True, 0.02),
            ),
            Measure(
                "recall",
                None,
                "recall (Inception pool3)",
                "recall, non-standard features",
                Band(True, 0.02),
            ),
        ),
    )
)
