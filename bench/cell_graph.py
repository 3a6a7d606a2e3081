"""A suite's cells: its matrix expanded in the order it runs (dependencies first), the cells a
run asks for (``--only``), and what each cell needs finished before it runs. How each cell runs,
and the record that makes a finished one final, is runners.py."""

from __future__ import annotations

import re

from bench.suite_types import Cell, Suite
from bench.suites import QUICK_MODEL
from dcgan import curve
from dcgan.errors import UserError


# Which (variant, dataset) pairs a suite trains: every pair, except where the suite names the
# one dataset a variant trains on (the paper trained imagenet32 on ImageNet and svhn32 on
# SVHN only).
def _pairs(s: Suite):
    only = dict(s.trains_on)
    for name, overrides in s.variants:
        for dataset in s.datasets:
            if only.get(name, dataset) == dataset:
                yield name, overrides, dataset


def cells(s: Suite) -> list[Cell]:
    """The suite's matrix, in the order it runs; dependencies come before what needs them."""
    if s.released:
        return _released_cells(s)
    out = []
    for name, overrides, dataset in _pairs(s):
        for seed in s.seeds:
            steps = s.steps[dataset]
            points = curve.curve_steps(steps, s.curve_points) if s.curve_points else ()
            out.append(
                Cell(
                    "train",
                    name,
                    overrides,
                    dataset,
                    seed,
                    settings=(("steps", steps), ("keep_steps", points)),
                )
            )
            for protocol in s.protocols:
                out.append(
                    Cell("probe", name, overrides, dataset, seed, protocol, (("steps", steps),))
                )
            if points:  # on the first protocol's split and sizes, one draw at a declared C
                first = s.protocols[0]
                out.append(
                    Cell(
                        "curve",
                        name,
                        overrides,
                        dataset,
                        seed,
                        (first[0], None, None, *first[3:]),
                        (("steps", steps), ("points", points), ("C", curve.CURVE_C[first[0]])),
                    )
                )
            if s.fidelity_metrics:
                weights = (("inception", s.inception_weights),) if s.inception_weights else ()
                out.append(
                    Cell(
                        "fidelity",
                        name,
                        overrides,
                        dataset,
                        seed,
                        settings=(
                            ("steps", steps),
                            ("metrics", s.fidelity_metrics),
                            ("n", s.fidelity_n),
                            *weights,
                        ),
                    )
                )
            if s.memorisation_n:
                out.append(
                    Cell(
                        "memorisation",
                        name,
                        overrides,
                        dataset,
                        seed,
                        settings=(("steps", steps), ("n", s.memorisation_n)),
                    )
                )
            if s.figures:
                out.append(
                    Cell("figures", name, overrides, dataset, seed, settings=(("steps", steps),))
                )
    seen = set()
    for name, overrides, _ in _pairs(s):
        for protocol in s.protocols:
            # a random-init control per architecture and protocol
            if (
                name,
                overrides,
                protocol,
            ) not in seen:
                seen.add((name, overrides, protocol))
                out.append(Cell("control", name, overrides, protocol=protocol, seed=0))
    for name, settings in s.baselines:
        for protocol in s.protocols:
            out.append(Cell("baseline", name, settings, protocol=protocol))
    for name, overrides, dataset in _pairs(s):
        if s.throughput_stages:
            out.append(
                Cell(
                    "throughput",
                    name,
                    overrides,
                    dataset,
                    settings=(("stages", s.throughput_stages), *s.throughput_options),
                )
            )
    if s.benchmarks:
        out.append(Cell("benchmarks", *QUICK_MODEL))
    return out


def _released_cells(s: Suite) -> list[Cell]:
    out = []
    for folder, variant, protocols in s.released:
        for p in protocols:
            out.append(
                Cell(
                    "released-probe",
                    variant,
                    dataset="released",
                    protocol=(p, None, None),
                    settings=(("folder", folder),),
                )
            )
    for _, variant, protocols in s.released:
        for p in protocols:
            out.append(Cell("control", variant, protocol=(p, None, None), seed=0))
    return out


def only_tokens(text: str) -> list[str]:
    """``--only``'s tokens: the text split at commas outside square brackets, because a cell
    id's overrides hold commas of their own (``dcgan32-r1[ngf=32,ndf=32,batch_size=64]``)."""
    return [t.strip() for t in re.split(r",(?![^\[]*\])", text) if t.strip()]


def select(all_cells: list[Cell], only: list[str]) -> list[Cell]:
    """The cells matching any token of ``only`` (``key=value`` on kind, variant, dataset, seed,
    protocol; or a substring of the cell's id; conditions joined by "+" must all hold, e.g.
    ``variant=dcgan32+seed=0``), with the training cells they need."""
    if not only:
        return all_cells

    def hit(fields: dict, cell_id: str, token: str) -> bool:
        k, sep, v = token.partition("=")
        # a word before "=" is a key; anything else (an id's "r1[ngf=32") is a substring
        if sep and re.fullmatch(r"\w+", k):
            if k not in fields:
                raise UserError(
                    f"--only {token!r}: unknown key {k!r}; use kind, variant, dataset, seed or"
                    " protocol"
                )
            return fields[k] == v
        return token in cell_id

    conditions = [t.split("+") for t in only]  # OR over tokens, AND over a token's parts

    def chosen_cell(c: Cell) -> bool:
        fields = c.fields()
        return any(all(hit(fields, c.id, part) for part in parts) for parts in conditions)

    chosen = [c for c in all_cells if chosen_cell(c)]
    if not chosen:
        raise UserError(
            f"--only {','.join(only)} matches no cell; the cells are:\n  "
            + "\n  ".join(c.id for c in all_cells)
        )
    needed = {t for c in chosen for t in needs(c, all_cells)}
    return [c for c in all_cells if c in chosen or c in needed]


# the kinds that measure a model the suite trains: each waits for its train cell
_ON_A_TRAINED_MODEL = ("probe", "curve", "fidelity", "memorisation", "figures")


def needs(c: Cell, all_cells: list[Cell]) -> list[Cell]:
    """The cells that must finish before ``c`` can run: the training of the model it measures
    (none for a cell that trains, measures a random init, a baseline or a released model)."""
    if c.kind not in _ON_A_TRAINED_MODEL:
        return []
    key = (c.variant, c.overrides, c.dataset, c.seed)
    return [
        t
        for t in all_cells
        if t.kind == "train" and (t.variant, t.overrides, t.dataset, t.seed) == key
    ]
