"""The L2-SVM of the paper's probes: scikit-learn's ``LinearSVC()`` objective, solved fast.

Objective, per class (one-vs-rest), with labels t in {-1, +1}:

    min_w  1/2 ||w~||^2 + C * sum_i max(0, 1 - t_i w~.x~_i)^2,    x~ = [x, 1],  w~ = [w, b]

i.e. squared hinge, L2 penalty, and the intercept as a constant feature 1 that is regularised
like every other weight (liblinear with ``intercept_scaling=1``).

``fit_gram`` ("ours") is built for the probe protocols' shapes, few samples and many features.
The optimum lies in the span of the samples (w~ = X~' beta), so the problem is solved on the
n x n Gram matrix K = X X' + 1, computed once and shared by every class and every C of the
grid. Each problem is solved by Chapelle's (2007) primal Newton method for the squared hinge:
with the active set A = {i : t_i (K beta)_i < 1}, the Newton point is
beta_A = (K_AA + I / 2C)^-1 t_A, beta_rest = 0; when a full step leaves A unchanged the point
satisfies the optimality conditions exactly. The C grid is walked in order, each C warm-started
from the previous one's solution.

``fit_sklearn`` runs scikit-learn's LinearSVC itself, as the reference backend. Both report
the primal objective they reached, so their agreement can be checked.

The package: ``model`` (the linear model, the C grid, accuracies, the objective),
``newton_gram`` (the exact Gram-matrix Newton), ``newton_primal`` (primal Newton-CG with saved
progress, for many samples), ``reference`` (scikit-learn's LinearSVC); here, the registry of
solvers the probe chooses from.
The modules import only the package's helpers (atomic, cache) and ``model``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

from .. import cache
from ..registry import add_entry
from . import model, newton_gram, newton_primal
from .model import PAPER_GRID, LinearModel, accuracies, primal_objective
from .newton_gram import fit_gram, gram
from .newton_primal import fit_primal, top_eigen
from .reference import _sklearn_code, fit_sklearn

__all__ = [
    "GRAM_MAX_N",
    "PAPER_GRID",
    "SOLVERS",
    "LinearModel",
    "Solver",
    "accuracies",
    "code_fingerprint",
    "fit_gram",
    "fit_ours",
    "fit_primal",
    "fit_sklearn",
    "gram",
    "primal_objective",
    "register_solver",
    "top_eigen",
]

GRAM_MAX_N = 8000  # up to here the exact Gram-matrix Newton is the faster solver, whatever d is


def fit_ours(X, y, Cs=PAPER_GRID, device="cpu", log=None, state=None) -> list[LinearModel]:
    """Our solver: the exact Gram-matrix Newton for up to GRAM_MAX_N samples (seconds: no
    progress is saved), primal Newton-CG for more (progress saved to ``state`` if given)."""
    if len(X) <= GRAM_MAX_N:
        return fit_gram(X, y, Cs, device)
    return fit_primal(X, y, Cs, device, log=log, state=state)


@dataclass(frozen=True)
class Solver:
    """A registered SVM solver: its fit, and the fingerprint of the code its figures come from."""

    name: str
    fit: Callable[..., list[LinearModel]]  # fit(X, y, Cs, device=, log=, state=) -> one model per C
    code: Callable[[], str]  # for caches of finished fits: reused only while this is unchanged
    description: str


SOLVERS: dict[str, Solver] = {}


def register_solver(solver: Solver) -> Solver:
    return add_entry(SOLVERS, "solver", solver)


def code_fingerprint(solver: str) -> str:
    """A hash of the code a solver's figures come from (the package version alone let a fresh
    clone report figures an older solver had computed)."""
    return SOLVERS[solver].code()


register_solver(
    Solver(
        "ours",
        fit_ours,
        # every module its figures pass through, this one (the dispatch) included
        lambda: cache.code_fingerprint(model, newton_gram, newton_primal, sys.modules[__name__]),
        "ours: exact Gram-matrix Newton or primal Newton-CG, on the features' device; long fits"
        " save progress",
    )
)


register_solver(
    Solver(
        "sklearn",
        lambda X, y, Cs=PAPER_GRID, device=None, log=None, state=None: fit_sklearn(X, y, Cs),
        _sklearn_code,
        "scikit-learn's LinearSVC (the reference): on the CPU, saves no progress",
    )
)
