"""The probe's linear model and what every solver shares: the paper's C grid, one model per C
(one-vs-rest weights, the primal objective it reached), accuracies, the objective itself."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

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
