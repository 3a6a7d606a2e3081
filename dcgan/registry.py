"""One rule for every registry of the package (datasets, metrics, solvers, extractors, variants,
throughput stages, losses, regularisers, auxiliary tasks): an entry is added once, under its
name; a second entry of that name is refused, never silently put in place of the first."""

from __future__ import annotations


def add_entry(registry: dict, what: str, entry):
    """``entry`` into ``registry`` under ``entry.name``; a ValueError where the name is taken."""
    if entry.name in registry:
        raise ValueError(f"{what} {entry.name!r} is registered twice")
    registry[entry.name] = entry
    return entry
