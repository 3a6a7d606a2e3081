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
"""

from __future__ import annotations

import json
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import atomic, cache

PAPER_GRID = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2)  # PROTOCOL.md §5


@dataclass
class LinearModel:
    """One-vs-rest linear classifier: decision = X @ W.T + b, prediction = classes[argmax]."""

    W: np.ndarray  # (n_problems, d) float32
    b: np.ndarray  # (n_problems,) float64
    classes: np.ndarray
    C: float
    objective: np.ndarray  # primal objective reached, per problem
    solver: str
    info: dict = field(default_factory=dict)

    def decision(self, X) -> np.ndarray:
        return (_as_tensor(X) @ torch.from_numpy(self.W).T).double().numpy() + self.b

    def predict(self, X) -> np.ndarray:
        return self.labels(self.decision(X))

    def labels(self, scores: np.ndarray) -> np.ndarray:
        """Decision scores -> class labels."""
        if len(self.classes) == 2:  # one problem: positive means classes[1], as LinearSVC
            return self.classes[(scores[:, 0] > 0).astype(int)]
        return self.classes[scores.argmax(1)]

    def accuracy(self, X, y) -> float:
        return float((self.predict(X) == np.asarray(y)).mean())


def accuracies(models: list[LinearModel], X, y) -> np.ndarray:
    """Each model's accuracy on (X, y), from one product of X with all their weights (scoring a
    C grid costs one pass over X, not one per C)."""
    W = torch.from_numpy(np.concatenate([m.W for m in models]))
    scores = (_as_tensor(X) @ W.T).double().numpy()
    out, col, y = [], 0, np.asarray(y)
    for m in models:
        k = len(m.W)
        out.append(float((m.labels(scores[:, col : col + k] + m.b) == y).mean()))
        col += k
    return np.asarray(out)


def _as_tensor(X) -> torch.Tensor:
    """Features as a float32 tensor; a read-only array (a cached memmap) is copied, since torch
    cannot wrap read-only memory."""
    X = np.asarray(X, np.float32)
    return torch.from_numpy(X if X.flags.writeable else X.copy())


def _targets(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(classes, T) with T (n, problems) in {-1, +1}; two classes make one problem, as LinearSVC."""
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError("the SVM needs at least two classes in its training labels")
    positive = classes[1:] if len(classes) == 2 else classes
    return classes, np.where(y[:, None] == positive[None, :], 1.0, -1.0)


def primal_objective(X, y, W, b, C) -> np.ndarray:
    """LinearSVC's primal objective per one-vs-rest problem, computed directly on the features
    (float64 accumulation), for any solver's (W, b)."""
    _, T = _targets(np.asarray(y))
    return _objective_exact(_as_tensor(X), torch.from_numpy(T), W, b, C)


def _objective_exact(X: torch.Tensor, T: torch.Tensor, W, b, C) -> np.ndarray:
    """The primal objective of (W, b) on X~ with float64 margins, a block of rows at a time (no
    float64 copy of X): the figure a model reports, whatever precision its solver worked in.
    Rows of W may belong to different C values (C then an array, one per row): one pass for all."""
    C = torch.as_tensor(np.asarray(C, np.float64), device=X.device)
    W = torch.as_tensor(np.asarray(W, np.float64), device=X.device)
    b = torch.as_tensor(np.asarray(b, np.float64), device=X.device)
    T = T.to(device=X.device, dtype=torch.float64)
    loss = torch.zeros(len(W), dtype=torch.float64, device=X.device)
    for i in range(0, X.shape[0], 1024):
        slack = (1 - T[i : i + 1024] * (X[i : i + 1024].double() @ W.T + b)).clamp(min=0)
        loss += (slack**2).sum(0)
    return (0.5 * ((W**2).sum(1) + b**2) + C * loss).cpu().numpy()


def gram(X: torch.Tensor, blocks: int = 8) -> torch.Tensor:
    """K = X X' + 1 (the constant feature of the intercept), float32.

    The product runs in float32 (the features' own precision, and the fast path on every
    device); its sum over ~10^4 features is accurate to about 1e-6 relative, far below what
    the objective needs. K is symmetric, so only the blocks on and above the diagonal are
    multiplied (9/16 of the full product with 8 blocks); X is never copied."""
    n = X.shape[0]
    K = torch.empty(n, n, dtype=X.dtype, device=X.device)
    edges = [round(i * n / blocks) for i in range(blocks + 1)]
    for i in range(blocks):
        a = slice(edges[i], edges[i + 1])
        for j in range(i, blocks):
            b = slice(edges[j], edges[j + 1])
            K[a, b] = X[a] @ X[b].T
            if j > i:
                K[b, a] = K[a, b].T
    return K.add_(1.0)


class _Ridge:
    """Solves (K_AA + I/2C) x = t_A for an active set A: a float32 Cholesky factor (about 3x
    faster than float64 and half the memory traffic) refined in float64 against the float64 K
    until the residual is at float64-solve accuracy; float64 throughout where the float32
    factor fails or the refinement stalls (an ill-conditioned system)."""

    def __init__(self, K32: torch.Tensor, K64: torch.Tensor, C: float):
        self.K32, self.K64, self.ridge = K32, K64, 1.0 / (2.0 * C)

    def solve(self, idx: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x with (K_AA + I/2C) x = t, for t of shape (|A|,) or (|A|, k); and K z for the x
        embedded in a zero vector z (the margins of the solution, which the last residual
        needed anyway), or None where the float64 path solved it."""
        T = t if t.dim() == 2 else t[:, None]
        A = self.K32[idx[:, None], idx]
        A.diagonal().add_(self.ridge)
        L, info = torch.linalg.cholesky_ex(A)
        del A
        if int(info) == 0:
            scale = float(T.abs().sum())
            x = torch.cholesky_solve(T.float(), L).double()
            for _ in range(8):
                # the residual through a product with the whole K (no float64 gather of K_AA)
                z = torch.zeros(self.K64.shape[0], x.shape[1], dtype=torch.float64, device=x.device)
                z[idx] = x
                Kz = self.K64 @ z
                r = T - Kz[idx] - self.ridge * x
                # far below what the objective or the active set can notice
                if float(r.abs().sum()) <= 1e-9 * scale:
                    return x.reshape(t.shape), (Kz if t.dim() == 2 else Kz[:, 0])
                x += torch.cholesky_solve(r.float(), L).double()
        A = self.K64[idx[:, None], idx]
        A.diagonal().add_(self.ridge)
        return torch.cholesky_solve(T, torch.linalg.cholesky(A)).reshape(t.shape), None


def _newton(
    K: torch.Tensor,
    ridge: _Ridge,
    t: torch.Tensor,
    C: float,
    beta: torch.Tensor,
    max_iter: int = 100,
) -> tuple[torch.Tensor, float, int, bool]:
    """Chapelle's primal Newton for the squared hinge in the span of the samples."""

    def value(beta, o):
        slack = (1 - t * o).clamp_(min=0)
        return 0.5 * float(beta @ o) + C * float(slack @ slack)

    def objective(beta):
        o = K @ beta
        return value(beta, o), o

    f, o = objective(beta)
    for it in range(1, max_iter + 1):
        active = t * o < 1
        target = torch.zeros_like(beta)
        o_target = None
        if active.any():
            idx = active.nonzero().squeeze(1)
            target[idx], o_target = ridge.solve(idx, t[idx])
        if o_target is None:
            f_target, o_target = objective(target)
        else:
            f_target = value(target, o_target)
        if torch.equal(t * o_target < 1, active):
            # the Newton point keeps its own active set: it satisfies the optimality
            # conditions exactly
            return target, f_target, it, True
        # otherwise backtrack on the convex piecewise quadratic towards it
        step, s = target - beta, 1.0
        f_new, o_new = f_target, o_target
        while f_new > f and s > 1e-8:
            s *= 0.5
            f_new, o_new = objective(beta + s * step)
        beta, f, o = beta + s * step, f_new, o_new
    return beta, f, max_iter, False


def _weights(X: torch.Tensor, betas: torch.Tensor, rows: int = 1024) -> np.ndarray:
    """X' beta accumulated in float64 a block of rows at a time (beta has both signs and the
    features are all positive: a float32 sum would cancel), without a float64 copy of X."""
    W = torch.zeros(betas.shape[1], X.shape[1], dtype=torch.float64, device=X.device)
    for i in range(0, X.shape[0], rows):
        W += betas[i : i + rows].T @ X[i : i + rows].double()
    return W.float().cpu().numpy()


def fit_gram(X, y, Cs=PAPER_GRID, device="cpu") -> list[LinearModel]:
    """One model per C of ``Cs`` (walked in order, warm-started), all from one Gram matrix."""
    y = np.asarray(y)
    classes, T = _targets(y)
    Xt = _as_tensor(X).to(device)
    t0 = time.perf_counter()
    K32 = gram(Xt)
    K = K32.double()
    t_gram = time.perf_counter() - t0
    Tt = torch.from_numpy(T).to(device)
    n, problems = T.shape
    # From beta = 0 every sample is active, so the first Newton point of every class solves the
    # same system (K + I/2C) beta = t: factor it once for all classes.
    betas = _Ridge(K32, K, Cs[0]).solve(torch.arange(n, device=Tt.device), Tt)[0]
    solved, infos = [], []
    for C in Cs:
        t1 = time.perf_counter()
        objective, iters, converged = np.empty(problems), [], []
        ridge = _Ridge(K32, K, C)
        for k in range(problems):
            beta, f, it, ok = _newton(K, ridge, Tt[:, k], C, betas[:, k].clone())
            betas[:, k] = beta
            objective[k] = f
            iters.append(it)
            converged.append(ok)
        solved.append(betas.clone())
        infos.append(
            (
                objective,
                {
                    "newton_iterations": iters,
                    "converged": all(converged),
                    "seconds": time.perf_counter() - t1,
                    "gram_seconds": t_gram,
                },
            )
        )
    # w~ = X~' beta: the weights over the features (one pass over X for every C and class), and
    # the intercept as the weight of the constant feature 1
    all_betas = torch.cat(solved, 1)
    W_all = _weights(Xt, all_betas)
    b_all = all_betas.sum(0).cpu().numpy()
    # reported: the objective of the weights returned, in float64 on X (one pass for every C).
    # The Newton's own figure comes from the float32 K and can be ~1e-3 off on features with a
    # large mean.
    objective_all = _objective_exact(
        Xt, Tt.repeat(1, len(Cs)), W_all, b_all, np.repeat(np.asarray(Cs, np.float64), problems)
    )
    models = []
    for i, C in enumerate(Cs):
        rows = slice(i * problems, (i + 1) * problems)
        objective_K, info = infos[i]
        info["objective_from_K"] = objective_K.tolist()
        models.append(
            LinearModel(W_all[rows], b_all[rows], classes, C, objective_all[rows], "ours", info)
        )
    return models


def _xt(X: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """X' R, laid out (columns of R, d). For these skinny products R' X with R' contiguous is
    several times faster on CPU than X.T @ R."""
    return R.T.contiguous() @ X


def top_eigen(
    X: torch.Tensor, k: int = 128, iters: int = 2, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The top ``k`` eigenpairs of X~'X~, X~ = [X, 1], by randomized subspace iteration (Halko,
    Martinsson & Tropp 2011): ``iters`` + 2 passes of X @ Q and X' Y, float32. Returns
    (eigenvalues (k,), eigenvectors as rows (k, d + 1)). Only a preconditioner rests on it."""
    n, d = X.shape
    k = min(k, n, d + 1)
    g = torch.Generator(device=X.device).manual_seed(seed)
    Q = torch.randn(k, d + 1, generator=g, device=X.device)

    def rows_orthonormal(Q):
        return torch.linalg.qr(Q.T)[0].T.contiguous()

    def times_X(Q):  # X~ Q' (n, k)
        return X @ Q[:, :d].T + Q[:, d]

    for _ in range(iters + 1):
        Y = times_X(rows_orthonormal(Q))
        Q = torch.cat([_xt(X, Y), Y.sum(0)[:, None]], 1)  # (X~' Y)'
    Q = rows_orthonormal(Q)
    Y = times_X(Q)
    evals, U = torch.linalg.eigh(Y.T.double() @ Y.double())  # Rayleigh-Ritz in the subspace
    return evals.clamp(min=0).float(), (U.T.float() @ Q).contiguous()


class _Preconditioner:
    """Per class k, M_k = I + 2C f_k V' diag(lambda) V from the top eigenpairs of X~'X~, with f_k
    the class's fraction of active samples (the Hessian holds only the active rows; for the
    dominant directions of these positive, correlated features X_A'X_A ~ f X'X). Inverse by
    Woodbury: M^-1 r = r - V' diag(mu / (1 + mu)) V r, mu = 2C f lambda. Deflating the large
    eigenvalues is what lets CG converge at large C. float64 throughout (see fit_primal)."""

    def __init__(
        self, evals: torch.Tensor, V: torch.Tensor, C: float, active_fraction: torch.Tensor
    ):
        mu = 2 * C * evals[:, None].double() * active_fraction[None, :].double()  # (k, classes)
        self.V, self.shrink = V, mu / (1 + mu)

    def __call__(self, Rw: torch.Tensor, Rb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = Rw.shape[1]
        coef = self.shrink * (self.V[:, :d] @ Rw.T + self.V[:, d:] * Rb[None, :])  # (k, classes)
        return Rw - coef.T @ self.V[:, :d], Rb - coef.T @ self.V[:, d]


def _orthonormal64(V: torch.Tensor) -> torch.Tensor:
    """Rows of V made orthonormal in float64: the Woodbury inverse above is positive definite only
    if they are, to far better than float32's 1e-7 once 2C lambda is 1e7."""
    if len(V) == 0:
        return V.double()
    # the largest eigenvector last in V (eigh's order) goes first, so it is the one kept exactly
    Q, R = torch.linalg.qr(V.double().flip(0).T)
    return (Q * torch.sign(torch.diagonal(R))).T.flip(0).contiguous()


def _margins(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """X~ w for float64 weights: the product in float32 (X's precision), the result in float64."""
    return (X @ W.float().T).double() + b


def fit_primal(
    X,
    y,
    Cs=PAPER_GRID,
    device="cpu",
    tol: float = 1e-6,
    max_newton: int = 100,
    max_cg: int = 1000,
    rank: int = 1024,
    log=None,
    state: str | Path | None = None,
) -> list[LinearModel]:
    """Truncated Newton (Newton-CG) in the primal, for many samples: every class at once, the
    C grid walked in order with warm starts, CG preconditioned by the top ``rank`` eigenpairs of
    X~'X~ (computed once for every C). X stays float32 and is never copied: each CG step costs
    one product X @ S and one R' X, in float32. Everything else (weights, CG vectors, the
    preconditioner) is float64, which costs nothing at (classes, d) and is necessary: at the
    large-C end 2C lambda_max of these features reaches 1e7, so float32 vector updates (1e-7
    relative) lose the small-eigenvalue components CG is solving for, and CG stalls (measured: no
    progress in 300 steps in float32, 35 steps in float64 on the same system). Weights are laid
    out (classes, d), the fast layout for these products.

    A class stops when its Newton decrement says the exact Newton step would lower its objective
    by less than ``tol`` relative: the objective is then that close to its minimum. (A gradient
    norm relative to the gradient at w = 0 is no guide here: with positive, strongly correlated
    features that gradient is huge along the mean direction, and such a rule stops far from the
    optimum.)

    ``state``: a file where the solver's progress is saved after every Newton step (finished
    C values and the current weights; a few MB), and from which a later call with the same
    problem continues: on a CPU the large-C end of the grid takes hours."""
    y = np.asarray(y)
    classes, T = _targets(y)
    X = _as_tensor(X).to(device)
    n, d = X.shape
    T = torch.from_numpy(T).double().to(device)
    c = T.shape[1]
    saved = _PrimalState.load(state, Cs, classes, d)
    f64 = {"dtype": torch.float64, "device": device}
    W = torch.zeros(c, d, **f64) if saved is None else torch.from_numpy(saved.W).to(**f64)
    b = torch.zeros(c, **f64) if saved is None else torch.from_numpy(saved.b).to(**f64)
    t0 = time.perf_counter()
    evals, V = (
        top_eigen(X, rank)
        if rank
        else (torch.zeros(0, device=device), torch.zeros(0, d + 1, device=device))
    )
    V = _orthonormal64(V)
    t_eigen = time.perf_counter() - t0
    models = [] if saved is None else saved.models(classes, Cs)
    if saved is not None and log:
        log(f"    continuing a saved fit: {len(models)} of {len(Cs)} C values done")
    for C in Cs[len(models) :]:
        t1 = time.perf_counter()
        todo = torch.ones(c, dtype=torch.bool, device=device)
        iters, cg_steps, converged, earlier = 0, 0, False, 0.0
        if saved is not None and saved.iters:  # this C was under way
            todo, iters, cg_steps, earlier = (
                torch.from_numpy(saved.todo).to(device),
                saved.iters,
                saved.cg_steps,
                saved.seconds,
            )
        saved = None
        while iters < max_newton:
            M = _margins(X, W, b)
            active = T * M < 1
            R = torch.where(active, M - T, torch.zeros_like(M))  # (m - t) on the active set
            G = W + 2 * C * _xt(X, R.float()).double()
            gb = b + 2 * C * R.sum(0)
            f = _objective(W, b, M, T, C)
            iters += 1
            a = active.double()
            S, sb, steps = _cg(
                X, a, G, gb, C, todo, max_cg, _Preconditioner(evals, V, C, a.mean(0))
            )
            cg_steps += steps
            # the Newton decrement g' H^-1 g: twice the decrease the quadratic model promises
            decrement = -((G * S).sum(1) + gb * sb)
            XS = _margins(X, S, sb)
            W, b = _line_search(W, b, S, sb, M, XS, T, C, todo)
            todo &= 0.5 * decrement > tol * f
            if not todo.any():
                converged = True
                break
            if state is not None:
                _PrimalState.save(
                    state,
                    Cs,
                    classes,
                    models,
                    W,
                    b,
                    todo,
                    iters,
                    cg_steps,
                    earlier + time.perf_counter() - t1,
                )
            if log and n > 20000:  # minutes per step on a CPU: say how far it is
                log(
                    f"      C={C:g}: Newton step {iters}, {cg_steps} CG steps, {int(todo.sum())}"
                    f" of {c} classes to go,"
                    f" {earlier + time.perf_counter() - t1:.0f} s"
                )
        if log:
            log(
                f"    C={C:g}: {iters} Newton steps, {cg_steps} CG steps,"
                f" {earlier + time.perf_counter() - t1:.0f} s"
            )
        W32 = W.float()  # what the model keeps; its objective is the one reported
        objective = _objective_exact(X, T, W32.cpu().numpy(), b.cpu().numpy(), C)
        models.append(
            LinearModel(
                W32.cpu().numpy(),
                b.cpu().numpy(),
                classes,
                C,
                objective,
                "ours-primal",
                {
                    "newton_iterations": iters,
                    "cg_steps": cg_steps,
                    "converged": converged,
                    "seconds": earlier + time.perf_counter() - t1,
                    "eigen_seconds": t_eigen,
                    "preconditioner_rank": int(V.shape[0]),
                },
            )
        )
        if state is not None:
            _PrimalState.save(
                state, Cs, classes, models, W, b, torch.ones(c, dtype=torch.bool), 0, 0, 0.0
            )
    return models


@dataclass
class _PrimalState:
    """fit_primal's progress on disk: the models of the finished C values and the weights,
    Newton iteration and CG count of the one under way. Plain arrays (no pickle); a file that
    does not match the problem, or is torn, is ignored and the fit starts again."""

    W: np.ndarray
    b: np.ndarray
    todo: np.ndarray
    iters: int
    cg_steps: int
    seconds: float
    done_W: np.ndarray
    done_b: np.ndarray
    done_objective: np.ndarray
    done_info: np.ndarray

    def models(self, classes, Cs) -> list[LinearModel]:
        return [
            LinearModel(
                self.done_W[i],
                self.done_b[i],
                classes,
                Cs[i],
                self.done_objective[i],
                "ours-primal",
                json.loads(str(self.done_info[i])),
            )
            for i in range(len(self.done_W))
        ]

    @staticmethod
    def save(path, Cs, classes, models, W, b, todo, iters, cg_steps, seconds):
        c, d = W.shape
        with atomic.replacing(path) as tmp:
            np.savez(
                tmp,
                Cs=np.asarray(Cs, np.float64),
                classes=np.asarray(classes),
                W=W.cpu().numpy(),
                b=b.cpu().numpy(),
                todo=todo.cpu().numpy(),
                iters=np.int64(iters),
                cg_steps=np.int64(cg_steps),
                seconds=np.float64(seconds),
                done_W=np.asarray([m.W for m in models], np.float32).reshape(len(models), c, d),
                done_b=np.asarray([m.b for m in models], np.float64).reshape(len(models), c),
                done_objective=np.asarray([m.objective for m in models], np.float64).reshape(
                    len(models), c
                ),
                done_info=np.asarray([json.dumps(m.info) for m in models], dtype=str),
            )

    @classmethod
    def load(cls, path, Cs, classes, d) -> _PrimalState | None:
        if path is None or not Path(path).exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                f = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            return None  # torn or not ours: start again
        if (
            not np.array_equal(f["Cs"], np.asarray(Cs, np.float64))
            or not np.array_equal(f["classes"], np.asarray(classes))
            or f["W"].shape[1] != d
            or len(f["done_W"]) >= len(Cs)
        ):
            return None
        return cls(
            f["W"],
            f["b"],
            f["todo"],
            int(f["iters"]),
            int(f["cg_steps"]),
            float(f["seconds"]),
            f["done_W"],
            f["done_b"],
            f["done_objective"],
            f["done_info"],
        )


def _objective(W, b, M, T, C) -> torch.Tensor:
    """The primal objective per class from float64 weights and margins M = X~ w."""
    slack = (1 - T * M).clamp(min=0)
    return 0.5 * ((W**2).sum(1) + b**2) + C * (slack**2).sum(0)


def _cg(X, active, G, gb, C, todo, max_cg, precondition):
    """Preconditioned conjugate gradients for every class at once on H s = -g,
    H s = s + 2C X~'(a * X~ s). Returns (s_w (classes, d), s_b, steps)."""

    def hess(P, pb):
        Q = active * _margins(X, P, pb)
        return P + 2 * C * _xt(X, Q.float()).double(), pb + 2 * C * Q.sum(0)

    def dot(Aw, Ab, Bw, Bb):
        return (Aw * Bw).sum(1) + Ab * Bb

    S, sb = torch.zeros_like(G), torch.zeros_like(gb)
    mask = todo.float()
    Rw, Rb = -G * mask[:, None], -gb * mask
    Zw, Zb = precondition(Rw, Rb)
    Pw, Pb = Zw.clone(), Zb.clone()
    rz = dot(Rw, Rb, Zw, Zb)
    # truncated Newton: a loose inner solve is enough far from the optimum
    stop = 0.1 * torch.sqrt(dot(Rw, Rb, Rw, Rb))
    steps = 0
    while steps < max_cg:
        steps += 1
        Hw, Hb = hess(Pw, Pb)
        pHp = dot(Pw, Pb, Hw, Hb)
        alpha = torch.where(pHp > 0, rz / pHp, torch.zeros_like(rz))
        S, sb = S + alpha[:, None] * Pw, sb + alpha * Pb
        Rw, Rb = Rw - alpha[:, None] * Hw, Rb - alpha * Hb
        if torch.all(torch.sqrt(dot(Rw, Rb, Rw, Rb)) <= stop):
            break
        Zw, Zb = precondition(Rw, Rb)
        rz_new = dot(Rw, Rb, Zw, Zb)
        beta = torch.where(rz > 0, rz_new / rz, torch.zeros_like(rz))
        Pw, Pb = Zw + beta[:, None] * Pw, Zb + beta * Pb
        rz = rz_new
    return S, sb, steps


def _line_search(W, b, S, sb, M, XS, T, C, todo):
    """Backtracking per class on f(w + a s); margins along the line are M + a XS, so no
    pass over X."""

    def f(a):
        return _objective(W + a[:, None] * S, b + a * sb, M + a * XS, T, C)

    f0 = f(torch.zeros_like(b))
    a = torch.ones_like(b)
    for _ in range(30):
        worse = (f(a) > f0) & todo
        if not worse.any():
            break
        a = torch.where(worse, a * 0.5, a)
    a = torch.where(todo, a, torch.zeros_like(a))
    return W + a[:, None] * S, b + a * sb


GRAM_MAX_N = 8000  # up to here the exact Gram-matrix Newton is the faster solver, whatever d is


def fit_ours(X, y, Cs=PAPER_GRID, device="cpu", log=None, state=None) -> list[LinearModel]:
    """Our solver: the exact Gram-matrix Newton for up to GRAM_MAX_N samples (seconds: no
    progress is saved), primal Newton-CG for more (progress saved to ``state`` if given)."""
    if len(X) <= GRAM_MAX_N:
        return fit_gram(X, y, Cs, device)
    return fit_primal(X, y, Cs, device, log=log, state=state)


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


@dataclass(frozen=True)
class Solver:
    """A registered SVM solver: its fit, and the fingerprint of the code its figures come from."""

    name: str
    fit: Callable[..., list[LinearModel]]  # fit(X, y, Cs, device=, log=, state=) -> one model per C
    code: Callable[[], str]  # for caches of finished fits: reused only while this is unchanged
    description: str


SOLVERS: dict[str, Solver] = {}


def register_solver(solver: Solver) -> Solver:
    if solver.name in SOLVERS:
        raise ValueError(f"solver {solver.name!r} is registered twice")
    SOLVERS[solver.name] = solver
    return solver


def code_fingerprint(solver: str) -> str:
    """A hash of the code a solver's figures come from (the package version alone let a fresh
    clone report figures an older solver had computed)."""
    return SOLVERS[solver].code()


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


register_solver(
    Solver(
        "ours",
        fit_ours,
        lambda: cache.code_fingerprint(sys.modules[__name__]),
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
