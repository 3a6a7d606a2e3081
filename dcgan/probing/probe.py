"""Fitting the paper's linear-probe protocols (protocols.py) on discriminator features: C
chosen on the validation split over a grid that grows past an edge, the test figure from fresh
draws (or the whole training set), every fit kept so an interrupted probe resumes.

Choices the protocol leaves open are recorded in every row: the shuffle function, the draw
seeds, whether test draws are fresh, where the BN statistics came from, the solver. Each run can
add a control: the same architecture randomly initialised, probed the same way (controls.py).
"""

from __future__ import annotations

import functools

import numpy as np

from .. import svm
from ..errors import UserError
from ..protocols import Protocol, draw
from .fit_cache import for_protocol
from .prepare import Prepared, prepare, rows_of


def _check_solver(solver: str) -> svm.Solver:
    if solver not in svm.SOLVERS:
        raise UserError(f"unknown solver {solver!r}; solvers: {', '.join(svm.SOLVERS)}")
    return svm.SOLVERS[solver]


def _fitter(solver: str, device, log):
    entry = _check_solver(solver)

    def fit_with_state(X, y, Cs, scratch):
        # where the features are (CUDA when there is one); a long fit saves its progress to
        # ``scratch`` (cifar10-full's), so it continues too (svm.SOLVERS says which do)
        return entry.fit(X, y, Cs, device=device, log=log, state=scratch)

    return fit_with_state


def _fit_draw(
    p: Prepared, per_class: int | None, fit_with_state, draw_seed: int, Cs, scratch
) -> dict:
    """One class-balanced draw from the pool fitted at every C of ``Cs``, scored on the
    validation and test splits."""
    idx = draw(p.pool_idx, p.y_train, per_class, draw_seed)
    models = fit_with_state(rows_of(p.f_train, idx), p.y_train[idx], Cs, scratch)
    return {
        "val_acc": svm.accuracies(models, p.f_val, p.y_val).tolist(),
        "test_acc": svm.accuracies(models, p.f_test, p.y_test).tolist(),
        "objective": [float(m.objective.sum()) for m in models],
    }


def _fresh_seed(seed: int, draw_index: int, C: float, draws: int) -> int:
    """A selection draw's seed when every C gets fresh draws: C itself (log10 C to a thousandth)
    picks a block of ``draws`` seeds, so a C's draws do not depend on the grid around it, differ
    from every other C's, and never meet the test draws (seeds from seed + 1000)."""
    place = int(round(1000 * (np.log10(C) + 12)))
    return seed + 100_000 + draws * place + draw_index


def ladder_steps(
    c: float, direction: int, n: int = 3, lo: float = 1e-7, hi: float = 1.0
) -> list[float]:
    """The next ``n`` values of the 1-2-5 ladder (..., 1e-4, 2e-4, 5e-4, 1e-3, ...) strictly
    below (direction -1) or above (+1) ``c``, within [lo, hi], nearest first."""
    ladder = [m * 10.0**e for e in range(-12, 4) for m in (1, 2, 5)]
    ladder = [float(f"{x:.0e}") for x in ladder if lo * (1 - 1e-9) <= x <= hi * (1 + 1e-9)]
    if direction < 0:
        return sorted((x for x in ladder if x < c * (1 - 1e-9)), reverse=True)[:n]
    return sorted(x for x in ladder if x > c * (1 + 1e-9))[:n]


def run(
    netD,
    protocol: Protocol,
    data_root=None,
    solver: str = "ours",
    grid=None,
    seed: int = 0,
    device="cpu",
    cache_dir=None,
    progress: bool = True,
    log=print,
    download: bool = False,
    extend: bool | None = None,
) -> dict:
    """Probe ``netD`` (BN population statistics estimated on the protocol's labelled pool)
    with ``protocol``. Returns a summary with the chosen C, the test figures and every draw.

    C is chosen on the validation split over ``grid`` (default: the protocol's). With
    ``extend`` (default: the protocol's ``extend_grid`` for its own grid; a grid given here is
    searched as given), while the chosen C sits on an edge of
    the grid searched so far, the grid grows past that edge by the next decade of 1-2-5 steps,
    within the protocol's ``grid_range``: a C chosen on the edge of a fixed grid only says
    the optimum lies beyond it, and biases the figure (PROTOCOL.md §5)."""
    if extend is None:
        extend = protocol.extend_grid and grid is None
    grid = sorted(protocol.grid if grid is None else grid)
    lo, hi = protocol.grid_range
    start = list(grid)
    # an unknown solver fails here, before any features
    fit_with_state = _fitter(solver, device, log)
    p = prepare(netD, protocol, data_root, device, cache_dir, progress, download, log)
    f_train, y_train, f_test = p.f_train, p.y_train, p.f_test
    rec_train, rec_test, t_features = p.rec_train, p.rec_test, p.seconds_features
    fits = for_protocol(p, protocol, solver, device, cache_dir)

    def fit_draw(draw_seed, Cs, scratch):
        return _fit_draw(p, protocol.per_class, fit_with_state, draw_seed, Cs, scratch)

    # choose C on the validation split; each chunk of C values is one fit per draw (the Gram
    # matrix is shared by the chunk's C), kept in the fit cache under the chunk's values
    # C -> per-draw (val error, test acc, objective)
    per_C: dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def select(chunk: list[float]) -> None:
        if protocol.fresh_draws_per_C:
            # the authors' SVHN script: fresh draws for every C (a fit per C and draw)
            for c in chunk:
                val, test, obj = (np.zeros(protocol.draws) for _ in range(3))
                for j in range(protocol.draws):
                    s = _fresh_seed(seed, j, c, protocol.draws)
                    out = fits.get(
                        {"fit": "select", "seed": s, "grid": [c]},
                        functools.partial(fit_draw, s, [c]),
                    )
                    val[j], test[j], obj[j] = (
                        1 - out["val_acc"][0],
                        out["test_acc"][0],
                        out["objective"][0],
                    )
                log(
                    f"  C = {c:g}: validation error over {protocol.draws} fresh draws"
                    f" {np.round(100 * val, 2).tolist()}"
                )
                per_C[c] = (val, test, obj)
            return
        val, test, obj = (np.zeros((protocol.draws, len(chunk))) for _ in range(3))
        for j in range(protocol.draws):
            out = fits.get(
                {"fit": "select", "seed": seed + j, "grid": list(chunk)},
                functools.partial(fit_draw, seed + j, chunk),
            )
            val[j], test[j], obj[j] = (
                1 - np.asarray(out["val_acc"]),
                out["test_acc"],
                out["objective"],
            )
            log(
                f"  draw {j + 1}/{protocol.draws}: validation error at C {chunk}:"
                f" {np.round(100 * val[j], 2).tolist()}"
                + (" (kept from an earlier run)" if out["kept"] else f" ({out['seconds']:.0f} s)")
            )
        for k, c in enumerate(chunk):
            per_C[c] = (val[:, k], test[:, k], obj[:, k])

    select(grid)
    while True:
        grid = sorted(per_C)
        val_err = np.stack([per_C[c][0] for c in grid], 1)
        best = int(np.argmin(val_err.mean(0)))
        edge = -1 if best == 0 else 1 if best == len(grid) - 1 else 0
        more = (
            ladder_steps(grid[0] if edge < 0 else grid[-1], edge, lo=lo, hi=hi)
            if extend and edge
            else []
        )
        if not more:
            break
        log(
            f"  C = {grid[best]:g} is on the grid's {'lower' if edge < 0 else 'upper'} edge:"
            f" extending it by {more}"
        )
        select(sorted(more))
    # for checking solvers against each other
    test_acc_per_C = np.stack([per_C[c][1] for c in grid], 1)
    objectives = np.stack([per_C[c][2] for c in grid], 1)
    C = float(grid[best])
    interior = 0 < best < len(grid) - 1

    if protocol.per_class is None:
        # all labels: the whole training set (pool and validation) fitted once with the chosen C
        # walked along the grid up to C, each C warm-started from the one before: from w = 0 at
        # a large C, Newton's active sets swing for dozens of steps (measured 24+ on 5,000 images
        # at C = 2e-2, against 4-5 per C on the walk)
        walk = list(grid[: best + 1])
        log(f"  fitting all {p.n_train} training images with C = {C:g} (warm-started along {walk})")
        out = fits.get(
            {"fit": "all", "C": C, "walk": walk},
            lambda scratch: {
                "test_acc": svm.accuracies(
                    fit_with_state(f_train, y_train, walk, scratch)[-1:], f_test, p.y_test
                ).tolist()
            },
        )
        test_acc = out["test_acc"]
        final_fit = (
            f"all {p.n_train} training images (pool + validation), C = {C:g},"
            " warm-started along the grid up to C"
        )
    else:
        # fresh draws with the chosen C, scored on the test split
        test_acc = []
        for j in range(protocol.test_draws):
            out = fits.get(
                {"fit": "test", "seed": seed + 1000 + j, "C": C},
                functools.partial(fit_draw, seed + 1000 + j, [C]),
            )
            test_acc += out["test_acc"]
        final_fit = (
            f"{protocol.test_draws} fresh draws of {protocol.per_class} per class from the pool,"
            f" C = {C:g}"
        )
    t_svm, kept = fits.seconds, fits.kept
    acc = np.asarray(test_acc)
    value = 100 * (acc if protocol.metric == "accuracy" else 1 - acc)
    return {
        "protocol": protocol.name,
        "metric": f"test_{protocol.metric}_pct",
        "value": float(value.mean()),
        "std": float(value.std()),
        "ci95": float(1.96 * value.std()),
        "per_draw": value.tolist(),
        "C": C,
        "grid": list(grid),
        "C_interior": interior,
        "grid_rule": (
            f"started at {start}, extended by 1-2-5 steps while C was on an edge, "
            f"within {lo:g}..{hi:g}"
            if extend
            else "fixed (not extended)"
        ),
        "val_error_pct_per_C": (100 * val_err.mean(0)).tolist(),
        "objective_per_C": objectives.mean(0).tolist(),
        "test_acc_pct_per_C": (100 * test_acc_per_C.mean(0)).tolist(),
        "draws": protocol.draws,
        "test_draws": protocol.test_draws,
        "per_class": protocol.per_class,
        "draw_seeds": (
            f"selection: fresh draws for every C (seed {seed} + 100000 + {protocol.draws} x"
            " round(1000 (log10 C + 12)) + draw)"
            if protocol.fresh_draws_per_C
            else f"selection {seed}..{seed + protocol.draws - 1}, the same draws for every C"
        )
        + f", test {seed + 1000}..{seed + 999 + protocol.test_draws} (numpy default_rng, fresh"
        " test draws)",
        "val_size": protocol.val_size,
        "split": f"sklearn.utils.shuffle(random_state={protocol.split_seed}); first"
        f" {protocol.val_size} validate",
        "features": rec_train["features"],
        "bn_stats": rec_train.get("bn_stats", ""),
        "fitted_on": rec_train["fitted_on"],
        "data_note": rec_train["data_note"],
        "standardised": rec_train.get("standardised", "no"),
        "feature_dim": rec_train["feature_dim"],
        "solver": solver,
        "dataset": protocol.dataset,
        "test_split": protocol.test_split,
        "n_test": len(p.y_test),
        "final_fit": final_fit,
        "seconds_features": t_features,
        # of which: fitting (or loading) an extractor's own state, and encoding the images
        "seconds_state": rec_train.get("seconds_state", 0.0) + rec_test.get("seconds_state", 0.0),
        "seconds_encode": rec_train.get("seconds_encode", 0.0)
        + rec_test.get("seconds_encode", 0.0),
        "seconds_svm": t_svm,
        "fits_kept": kept,
        "seconds_per_fit": fits.seconds_per_fit,
        "peak_rss_gib": peak_rss_gib(),
    }


def single_draw(
    netD,
    protocol: Protocol,
    C: float,
    draw_seed: int = 0,
    data_root=None,
    solver: str = "ours",
    device="cpu",
    cache_dir=None,
    progress: bool = True,
    log=print,
) -> dict:
    """A cheap, declared probe for comparing checkpoints of one run (the probe curve): one
    class-balanced draw of the protocol (its first selection draw by default) fitted at one
    fixed C, scored on the whole validation and test splits. Same features, BN statistics,
    solver and fit cache as ``run``; no C is chosen, so it is not the protocol's figure."""
    fit_with_state = _fitter(solver, device, log)
    p = prepare(netD, protocol, data_root, device, cache_dir, progress, False, log)
    fits = for_protocol(p, protocol, solver, device, cache_dir)
    out = fits.get(
        {"fit": "single", "seed": draw_seed, "C": C},
        functools.partial(_fit_draw, p, protocol.per_class, fit_with_state, draw_seed, [C]),
    )
    return {
        "protocol": protocol.name,
        "dataset": protocol.dataset,
        "per_class": protocol.per_class,
        "C": C,
        "draw_seed": draw_seed,
        "val_accuracy_pct": 100 * out["val_acc"][0],
        "test_accuracy_pct": 100 * out["test_acc"][0],
        "objective": out["objective"][0],
        "features": p.rec_train["features"],
        "bn_stats": p.rec_train.get("bn_stats", ""),
        "feature_dim": p.rec_train["feature_dim"],
        "solver": solver,
        "n_test": len(p.y_test),
        "seconds_features": p.seconds_features,
        "seconds_svm": fits.seconds,
        "fit_kept": bool(fits.kept),
    }


def peak_rss_gib() -> float | None:
    """The process's resident-memory high-water mark so far (features, solver and all), in GiB;
    None where the platform has no getrusage."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB
