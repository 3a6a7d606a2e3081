"""The reference solver: scikit-learn's LinearSVC with its defaults, one fit per C, and the
fingerprint of only the code its figures pass through."""

from __future__ import annotations

import time

import numpy as np

from .. import cache
from .model import (
    PAPER_GRID,
    LinearModel,
    _as_tensor,
    _objective_exact,
    _targets,
    accuracies,
    primal_objective,
)


def fit_sklearn(X, y, Cs=PAPER_GRID) -> list[LinearModel]:
    """scikit-learn's LinearSVC with its defaults, one fit per C (the reference backend)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    y = np.asarray(y)
    models = []
    for C in Cs:
        t1 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            clf = LinearSVC(
                C=C,
                loss="squared_hinge",
                penalty="l2",
                dual=True,
                tol=1e-4,
                max_iter=1000,
                fit_intercept=True,
                intercept_scaling=1,
            ).fit(X, y)
        W, b = clf.coef_.astype(np.float32), clf.intercept_.astype(np.float64)
        objective = primal_objective(X, y, W, b, C)
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        models.append(
            LinearModel(
                W,
                b,
                clf.classes_,
                C,
                objective,
                "sklearn",
                {
                    "converged": converged,
                    "seconds": time.perf_counter() - t1,
                    "n_iter": int(np.max(clf.n_iter_)),
                },
            )
        )
    return models


def _sklearn_code() -> str:
    # its version and only the functions its figures pass through, so that editing our solver
    # does not throw away hours of finished LinearSVC fits
    import sklearn

    return cache.code_fingerprint(
        fit_sklearn,
        primal_objective,
        _objective_exact,
        _targets,
        _as_tensor,
        accuracies,
        LinearModel,
        extra=(sklearn.__version__,),
    )
