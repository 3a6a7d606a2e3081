"""Fitting the paper's linear-probe protocols (protocols.py) on discriminator features: C
chosen on the validation split over a grid that grows past an edge, the test figure from fresh
draws (or the whole training set), every fit kept so an interrupted probe resumes.

Choices the protocol leaves open are recorded in every row: the shuffle function, the draw
seeds, whether test draws are fresh, where the BN statistics came from, the solver. Each run can
add a control: the same architecture randomly initialised, probed the same way.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import (
    __version__,
    atomic,
    cache,
    checkpoint,
    data,
    extractors,
    features,
    nets,
    results,
    runtime,
    svm,
    variants,
)
from .errors import UserError, check_writable_dir, refuse_overwrite
from .protocols import (
    Protocol,
    draw,
    get,
    labelled_pool,
    protocol_for,
    quoted_rows,
    split,
)
from .protocols import split as split_pool  # where a parameter named split hides split


@dataclass
class _Prepared:
    """A protocol's features for one D, in memory: the training rows in the order
    [validation, pool], the test rows, and the records of where they came from."""

    f_train: np.ndarray
    y_train: np.ndarray
    f_test: np.ndarray
    y_test: np.ndarray
    n_val: int
    rec_train: dict
    rec_test: dict
    seconds_features: float
    n_train: int

    @property
    def pool_idx(self) -> np.ndarray:
        """The pool's positions in f_train, in the shuffled order: a draw picks the same images
        as ``draw(pool_idx, train.y, ...)`` on the dataset would."""
        return np.arange(self.n_val, len(self.f_train))

    @property
    def f_val(self) -> np.ndarray:
        return self.f_train[: self.n_val]

    @property
    def y_val(self) -> np.ndarray:
        return self.y_train[: self.n_val]


def standardise(f_train: np.ndarray, f_test: np.ndarray, n_val: int, eps: float) -> str:
    """In place: both splits' features as (f - mean) / sqrt(var + eps), mean and variance (n - 1,
    as MATLAB's var) over the pool rows ``f_train[n_val:]`` only (the K-means recipe's last
    step, Coates et al.'s ``trainXC_mean``, ``trainXC_sd``). Returns what it did, for the rows."""
    pool = f_train[n_val:]
    mean = pool.mean(0, dtype=np.float64)
    var = pool.var(0, dtype=np.float64, ddof=1)
    scale = (1.0 / np.sqrt(var + eps)).astype(np.float32)
    mean = mean.astype(np.float32)
    for f in (f_train, f_test):
        for i in range(0, len(f), 4096):  # in blocks: no second copy of 50,000 rows
            f[i : i + 4096] -= mean
            f[i : i + 4096] *= scale
    return f"(f - mean) / sqrt(var + {eps:g}) over the {len(pool)} pool images"


def data_note(images) -> str:
    """What a reader must know about where the images came from: an .npz whose own ``source``
    says it was re-encoded lossily (our CIFAR-10 copy: JPEG q75) is named as such, since it can
    cost a probe accuracy; else empty."""
    path = Path(str(images.source))
    if path.suffix != ".npz" or not path.is_file():
        return ""
    try:
        with np.load(path, allow_pickle=False) as z:
            said = str(z["source"]) if "source" in z.files else ""
    except (OSError, ValueError, KeyError):
        return ""
    if "jpeg" in said.lower() or "lossy" in said.lower():
        kind = "JPEG re-encoded" if "jpeg" in said.lower() else "lossily re-encoded"
        return f"this {images.name} copy is {kind} ({path.name}); it can cost accuracy"
    return ""


def _as_extractor(netD_or_extractor) -> extractors.Extractor:
    """An extractor as it is; a discriminator as the paper's D features."""
    if isinstance(netD_or_extractor, extractors.Extractor):
        return netD_or_extractor
    return extractors.discriminator(netD_or_extractor)


def _prepare(
    netD,
    protocol: Protocol,
    data_root,
    device,
    cache_dir,
    progress: bool,
    download: bool,
    log=print,
) -> _Prepared:
    train = data.load(protocol.dataset, "train", data_root, download=download)
    test = data.load(protocol.dataset, protocol.test_split, data_root, download=download)
    for images in (train, test):
        if images.y is None:  # scoring unlabelled images would report 0% as if measured
            raise UserError(
                f"{protocol.dataset}/{images.split} has no labels; a probe needs labelled train"
                " and test splits"
            )
    val_idx, pool_idx = split(len(train), protocol.val_size, protocol.split_seed)
    pool = labelled_pool(protocol, train)
    extractor = _as_extractor(netD)
    t0 = time.perf_counter()
    _, rec_train = extractor.cached_features(train, pool, cache_dir, device, progress, log)
    _, rec_test = extractor.cached_features(test, pool, cache_dir, device, progress, log)
    t_features = time.perf_counter() - t0
    # In memory once (one sequential read of each cache file: random row reads from a memmap
    # for every draw cost more than the fits), the training rows in the order [validation, pool]:
    # the validation and pool features are then views of one array, not copies, which keeps
    # cifar10-full (50,000 x 28672 float32, 5.7 GB) at one copy of its features.
    order = np.concatenate([val_idx, pool_idx])
    f_train = features.read_rows(rec_train["cache"], order)
    f_test = features.read_rows(rec_test["cache"])
    rec_train["data_note"] = data_note(train)
    if extractor.standardise_eps is not None:
        rec_train["standardised"] = standardise(
            f_train, f_test, len(val_idx), extractor.standardise_eps
        )
    return _Prepared(
        f_train,
        train.y[order],
        f_test,
        test.y,
        len(val_idx),
        rec_train,
        rec_test,
        t_features,
        len(train),
    )


def _fit_cache(p: _Prepared, protocol: Protocol, solver: str, device, cache_dir) -> FitCache:
    return FitCache(
        cache_dir,
        {
            "train_features": p.rec_train["key"],
            "test_features": p.rec_test["key"],
            # only where it applies: the D's fits keep the keys they had before extractors
            **(
                {"standardised": p.rec_train["standardised"]}
                if "standardised" in p.rec_train
                else {}
            ),
            "solver": solver,
            "val_size": protocol.val_size,
            "split_seed": protocol.split_seed,
            "per_class": protocol.per_class,
            "device": str(device),
            "code": __version__,
            "solver_code": svm.code_fingerprint(solver),
        },
    )


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
    p: _Prepared, per_class: int | None, fit_with_state, draw_seed: int, Cs, scratch
) -> dict:
    """One class-balanced draw from the pool fitted at every C of ``Cs``, scored on the
    validation and test splits."""
    idx = draw(p.pool_idx, p.y_train, per_class, draw_seed)
    models = fit_with_state(_rows(p.f_train, idx), p.y_train[idx], Cs, scratch)
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
    p = _prepare(netD, protocol, data_root, device, cache_dir, progress, download, log)
    f_train, y_train, f_test = p.f_train, p.y_train, p.f_test
    rec_train, rec_test, t_features = p.rec_train, p.rec_test, p.seconds_features
    fits = _fit_cache(p, protocol, solver, device, cache_dir)

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
        "peak_rss_gib": _peak_rss_gib(),
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
    p = _prepare(netD, protocol, data_root, device, cache_dir, progress, False, log)
    fits = _fit_cache(p, protocol, solver, device, cache_dir)
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


class FitCache:
    """Each finished fit's figures (accuracies, objectives, seconds; not its weights) on disk,
    keyed on the features, the solver and its code, the draw and the grid: an interrupted protocol
    resumes at
    the fit it was in (scikit-learn's 10 cifar10-400 draws take hours), and a rerun refits nothing.
    ``compute`` gets a scratch path where a long fit may save its own progress (our primal
    solver does, after every Newton step) and continue from it; the seconds an interrupted run
    (an exception, Ctrl-C) had spent are saved beside the scratch file and counted in, so a
    resumed fit reports its whole time (a killed process's seconds are lost). ``seconds`` sums
    the measured seconds of every fit, kept ones included; ``kept`` counts those."""

    def __init__(self, cache_dir, base: dict):
        self.dir = cache.root(cache_dir) / "probe-fits"
        self.base, self.seconds, self.kept = base, 0.0, 0
        self.seconds_per_fit: dict[str, float] = {}  # "select seed 0": seconds, in the order fitted

    def get(self, what: dict, compute) -> dict:
        path = self.dir / f"{cache.key({**self.base, **what})}.json"
        scratch = path.with_suffix(".partial.npz")  # where a long fit saves its progress

        # seconds of interrupted runs, while the scratch file holds their work
        spent = scratch.with_suffix(".seconds")

        def timed():
            self.dir.mkdir(parents=True, exist_ok=True)  # for the scratch file, before the record
            earlier = float(spent.read_text()) if scratch.exists() and spent.exists() else 0.0
            t = time.perf_counter()
            try:
                result = compute(scratch)
            except BaseException:
                if scratch.exists():
                    atomic.write_text(spent, repr(earlier + time.perf_counter() - t))
                raise
            return {**result, "seconds": earlier + time.perf_counter() - t, **what}

        out, kept = atomic.json_record(path, timed)
        scratch.unlink(missing_ok=True)
        spent.unlink(missing_ok=True)
        self.seconds += out["seconds"]
        self.seconds_per_fit[" ".join(f"{k} {v}" for k, v in what.items() if k != "grid")] = out[
            "seconds"
        ]
        self.kept += kept
        return {**out, "kept": kept}


def _peak_rss_gib() -> float | None:
    """The process's resident-memory high-water mark so far (features, solver and all), in GiB;
    None where the platform has no getrusage."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


def _rows(f: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """f[idx], as a view where idx is a run of consecutive rows (the whole pool), else a copy."""
    if len(idx) and idx[-1] - idx[0] + 1 == len(idx) and np.all(np.diff(idx) == 1):
        return f[idx[0] : idx[-1] + 1]
    return f[idx]


def run_with_control(
    variant,
    netD,
    protocol: Protocol,
    control: bool = True,
    control_seed: int = 0,
    label: str = "",
    **kw,
) -> list[dict]:
    """The measured row, the random-init control row (same architecture, same protocol), and the
    paper's rows, as tidy dicts carrying every setting that changes a number."""
    log = kw.get("log", print)
    common = {
        **runtime.provenance(),
        "variant": variant.name,
        "device": str(kw.get("device", "cpu")),
    }
    rows = []
    log(f"{protocol.name}: probing {label or variant.name}")
    rows.append(
        {
            **common,
            "weights": label or "checkpoint",
            "source": "measured",
            "kind": results.MEASURED,
            **run(netD, protocol, **kw),
        }
    )
    if control:
        _, random_D = nets.build(variant, seed=control_seed)
        log(f"{protocol.name}: probing the random-init control (seed {control_seed})")
        rows.append(
            {
                **common,
                "weights": f"random init (seed {control_seed})",
                "source": "measured (control)",
                "kind": results.CONTROL,
                **run(random_D, protocol, **kw),
            }
        )
    return rows + quoted_rows(protocol.name, rows[0]["metric"])


def run_extractor(extractor: extractors.Extractor, protocol: Protocol, **kw) -> list[dict]:
    """Any extractor (K-means, pixels, a user's module) through ``protocol``: its measured row,
    naming the published figure it should be held against where one exists, then the paper's
    rows. The same protocol, draws and test images as a D's probe."""
    log = kw.get("log", print)
    log(f"{protocol.name}: probing {extractor.label}")
    result = run(extractor, protocol, **kw)
    anchor = extractor.anchor(protocol.name)
    deviations = [
        "C chosen on the validation split (the published recipe fixes it)"
        if extractor.fixed_C is not None
        else "",
        result["data_note"],
        _training_images(protocol, result),
    ]
    row = {
        **runtime.provenance(),
        "variant": extractor.label,
        "device": str(kw.get("device", "cpu")),
        "weights": extractor.title,  # where its state was fitted is in "fitted_on"
        "source": "measured",
        "kind": results.MEASURED,
        **result,
        "anchor": anchor,
        "note": "; ".join(x for x in [f"published: {anchor}" if anchor else "", *deviations] if x),
    }
    return [row] + quoted_rows(protocol.name, row["metric"])


def _training_images(protocol: Protocol, result: dict) -> str:
    if protocol.per_class is None:
        return (
            f"C chosen with {result['val_size']} training images held out; the final fit uses"
            " all of them"
        )
    return ""


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
        "peak_rss_gib": _peak_rss_gib(),
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


def export_features(
    ckpt,
    dataset: str,
    out,
    split: str = "train",
    data_root=None,
    data_options: dict | None = None,
    bn_stats: str = "pool",
    bn_pool: str | None = None,
    batch_size: int = 500,
    float16: bool = False,
    cache_dir=None,
    device="auto",
    force: bool = False,
    progress: bool = True,
    extractor: str | None = None,
    sets: list[str] | None = None,
) -> dict:
    """The `dcgan features` command's work: D's features of a split into an .npy. BN statistics
    (``bn_stats="pool"``) come from ``bn_pool`` ("DATASET:SPLIT"), by default the labelled pool
    the probe uses for this dataset, so these are the very features `dcgan probe` fits.
    ``extractor``: another extractor's instead (``export_extractor``), a registered name or
    ``module.path:callable``, with ``sets`` as KEY=VALUE."""
    out = Path(out)
    refuse_overwrite(out, force)
    device = runtime.pick_device(device)
    if extractor is not None:
        if ckpt or bn_pool or bn_stats != "pool" or float16:
            raise UserError(
                "--features takes none of --ckpt, --bn-stats, --bn-pool, --float16 (they are"
                " the discriminator's)"
            )
        return export_extractor(
            extractors.resolve(extractor, sets),
            dataset,
            out,
            split,
            data_root,
            data_options,
            cache_dir,
            device,
            progress,
        )
    if sets:
        raise UserError("--set is for --features EXTRACTOR (e.g. --features kmeans --set K=400)")
    if not ckpt:
        raise UserError("give --ckpt CKPT (a D's features) or --features EXTRACTOR")
    v, _, netD, state = checkpoint.load_models(ckpt, device)
    if bn_stats == "running" and state.get("bn_stats") == "none":
        raise UserError(
            f"{ckpt} has no BN running statistics (imported weights); use --bn-stats pool"
        )
    opts = data_options or {}
    images = data.load(dataset, split, data_root, **opts)
    if images.image_size != v.image_size:
        raise UserError(
            f"{dataset}/{split} images are {images.image_size} px but {v.name} takes"
            f" {v.image_size} px"
        )
    pool = None
    protocol = protocol_for(dataset)
    if bn_stats == "pool" and bn_pool is None and protocol is not None:
        train = images if split == "train" else data.load(dataset, "train", data_root, **opts)
        pool = labelled_pool(protocol, train)
    elif bn_stats == "pool":
        pool_name, _, pool_split = (bn_pool or f"{dataset}:train").partition(":")
        pool = (
            images
            if (pool_name, pool_split or "train") == (dataset, split)
            else data.load(
                pool_name,
                pool_split or "train",
                data_root,
                **(opts if pool_name == dataset else {}),
            )
        )
    feats, record = features.cached_features(
        netD,
        images,
        pool,
        bn_stats,
        cache_dir,
        batch_size,
        device,
        np.float16 if float16 else np.float32,
        progress=progress,
    )
    with atomic.replacing(out) as tmp:
        np.save(tmp, np.asarray(feats))
    return {
        "out": str(out),
        "shape": list(feats.shape),
        "variant": v.name,
        "checkpoint": str(checkpoint.resolve(ckpt)),
        **record,
    }


def export_extractor(
    extractor: extractors.Extractor,
    dataset: str,
    out: Path,
    split: str,
    data_root,
    data_options: dict | None,
    cache_dir,
    device,
    progress: bool,
) -> dict:
    """An extractor's features of a split into an .npy, the very ones `dcgan probe` fits: fitted
    on the probe's unlabelled pool for the dataset (its train split where no protocol probes it)
    and, where the extractor's recipe standardises, standardised over that pool."""
    opts = data_options or {}
    images = data.load(dataset, split, data_root, **opts)
    protocol = protocol_for(dataset)
    train = images if split == "train" else data.load(dataset, "train", data_root, **opts)
    pool = labelled_pool(protocol, train) if protocol is not None else train
    f, record = extractor.cached_features(images, pool, cache_dir, device, progress)
    f = np.array(f, dtype=np.float32)
    if extractor.standardise_eps is not None:
        # the pool's features are rows of the train split's, the very cache entry the probe
        # fills: read from there, not encoded a second time
        _, rec_train = extractor.cached_features(train, pool, cache_dir, device, progress)
        pool_idx = (
            split_pool(len(train), protocol.val_size, protocol.split_seed)[1]
            if protocol is not None
            else None
        )
        record["standardised"] = standardise(
            features.read_rows(rec_train["cache"], pool_idx), f, 0, extractor.standardise_eps
        )
    with atomic.replacing(out) as tmp:
        np.save(tmp, f)
    return {"out": str(out), "shape": list(f.shape), "variant": extractor.label, **record}


def parse_grid(text: str | None) -> tuple[list[float] | None, bool | None]:
    """``--grid``: (grid, extend). None: the protocol's grid, extended while C is on an edge;
    "paper": exactly the paper's 7 values; else comma-separated values, searched as given."""
    if not text:
        return None, None
    if text == "paper":
        return list(svm.PAPER_GRID), False
    try:
        grid = [float(c) for c in text.split(",")]
    except ValueError:
        raise UserError(
            f"--grid must be 'paper' or comma-separated numbers, e.g. 1e-4,1e-3; got {text!r}"
        ) from None
    if not all(c > 0 and np.isfinite(c) for c in grid):
        raise UserError(f"--grid values must be positive numbers; got {text!r}")
    return grid, False


def probe_weights(
    protocols: str,
    ckpt=None,
    random_init: str | None = None,
    draws=None,
    test_draws=None,
    val_size=None,
    per_class=None,
    grid: str | None = None,
    solver: str = "ours",
    seed: int = 0,
    control: bool = True,
    control_seed: int = 0,
    compare_sklearn: bool = False,
    data_root=None,
    download: bool = False,
    out_dir="results/probe",
    cache_dir=None,
    device="auto",
    progress: bool = True,
    log=print,
    extractor_spec: str | None = None,
    sets: list[str] | None = None,
) -> dict:
    """The `dcgan probe` command's work: a checkpoint's D (or a random-init one of
    ``random_init``) probed with each protocol of ``protocols`` (comma-separated), beside its
    random-init control and the paper's rows, written to ``out_dir``; or, with
    ``compare_sklearn``, one protocol run with our solver and scikit-learn's on the same draws.
    ``extractor_spec`` names another extractor (``kmeans``, ``pixels``,
    ``module.path:callable``; settings in ``sets`` as KEY=VALUE) probed the same way, without a
    D or its control."""
    device = runtime.pick_device(device)
    extractor = None
    # "discriminator" alone is the D of --ckpt / --random-init, with its control; with --set
    # (variant=, ckpt=) it is an extractor like the others
    if extractor_spec is not None and (extractor_spec != "discriminator" or sets):
        if ckpt or random_init:
            raise UserError(
                f"--features {extractor_spec} probes its own features; --ckpt and --random-init"
                " choose a discriminator's (leave them out, or leave out --features)"
            )
        extractor = extractors.resolve(extractor_spec, sets)
    elif sets:
        raise UserError("--set is for --features EXTRACTOR (e.g. --features kmeans --set K=400)")
    if extractor is not None:
        v, netD, state, label, control = None, extractor, {}, extractor.label, False
    elif random_init:
        v = variants.get(random_init)
        _, netD = nets.build(v, seed=control_seed)
        state, label = {}, f"random init (seed {control_seed})"
        control = False  # it is the control
    elif ckpt:
        v, _, netD, state = checkpoint.load_models(ckpt, device)
        label = str(checkpoint.resolve(ckpt))
    else:
        raise UserError("give --ckpt CKPT (or --random-init VARIANT for an untrained D)")
    chosen = [
        get(
            name.strip(), draws=draws, test_draws=test_draws, val_size=val_size, per_class=per_class
        )
        for name in protocols.split(",")
    ]
    grid, extend = parse_grid(grid)
    out_dir = Path(out_dir)
    check_writable_dir(out_dir, f"cannot write rows to --out-dir {out_dir}")  # before hours of fits
    kw = dict(
        data_root=data_root,
        grid=grid,
        extend=extend,
        seed=seed,
        device=device,
        cache_dir=cache_dir,
        progress=progress,
        log=log,
    )
    if compare_sklearn:
        if len(chosen) != 1:
            raise UserError("--compare-sklearn takes one protocol")
        result = compare_solvers(netD, chosen[0], **kw)
        stamp = results.stamp()
        result.update(
            checkpoint=label, variant=v.name if v else label, device=str(device), time=stamp
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"probe-compare-{chosen[0].name}-{stamp}.json"
        path.write_text(json.dumps(result, indent=1))
        return {**result, "json": str(path)}
    rows = []
    name = (
        (f"{Path(ckpt).name}" + (" (released weights)" if "released" in state else ""))
        if ckpt
        else label
    )
    for protocol in chosen:
        if extractor is not None:
            rows += run_extractor(extractor, protocol, download=download, solver=solver, **kw)
            continue
        rows += run_with_control(
            v,
            netD,
            protocol,
            control=control,
            control_seed=control_seed,
            label=name,
            download=download,
            solver=solver,
            **kw,
        )
    for row in rows:
        row.setdefault("checkpoint", label if extractor is None else "")
    json_path, csv_path = write_rows(rows, out_dir)
    return {"rows": rows, "json": str(json_path), "csv": str(csv_path)}
