"""Our solver for many samples (cifar10-full's 50,000): primal Newton-CG on the squared hinge,
preconditioned with the top eigenvectors of X'X, its progress saved after every Newton step so
an interrupted fit continues."""

from __future__ import annotations

import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import atomic
from .model import PAPER_GRID, LinearModel, _as_tensor, _objective_exact, _targets


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
