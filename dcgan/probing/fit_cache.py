"""Every finished fit of a probe kept on disk (its figures, not its weights), keyed on the
features, the solver and its code, the draw and the grid: an interrupted protocol resumes at the
fit it was in, and a rerun refits nothing. Imports: cache, svm, prepare."""

from __future__ import annotations

import time

from .. import __version__, atomic, cache, svm
from ..protocols import Protocol
from .prepare import Prepared


def for_protocol(p: Prepared, protocol: Protocol, solver: str, device, cache_dir) -> FitCache:
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
