"""Coates, Lee & Ng (AISTATS 2011), "An Analysis of Single-Layer Networks in Unsupervised Feature
Learning": the single-layer K-means network behind Table 1's first row, as the authors' public
``kmeans_demo`` code does it (PROTOCOL.md §9).

- 400,000 6x6 patches from the unlabelled training pool (pixels 0-255): patch ``i`` comes from
  image ``i mod n`` (the pool cycled, as ``kmeans_demo.m``), at a row and column drawn uniformly
  from the 27 valid positions; the positions come from a seeded generator.
- Each patch normalised ``(x - mean(x)) / sqrt(var(x) + 10)``. MATLAB's ``var`` and ``cov``
  divide by n - 1, and so do these.
- ZCA whitening: ``P = V diag(1 / sqrt(D + 0.1)) V'`` from the eigendecomposition of the patch
  covariance, applied as ``(x - M) P``.
- K-means (``run_kmeans.m``): centroids initialised ``randn * 0.1``, 50 full-batch Lloyd
  iterations (assignment by ``argmax c.x - |c|^2 / 2``), an empty cluster's centroid set to
  zero. Ours, in torch, not scikit-learn's ``KMeans``: scikit-learn moves an empty cluster to
  the point farthest from its centre instead of zeroing it, which is another algorithm
  (``test_lloyd_matches_scikit_learn_where_no_cluster_empties`` shows the two agree where no
  cluster empties); ours also runs on CUDA.
- Encoding (``extract_features.m``): every 27x27 position (stride 1), the same normalisation
  and whitening, Euclidean distances z to the centroids, the triangle activation
  ``max(0, mean_k(z) - z_k)``, summed over the four quadrants split at row and column 14, so
  4K features.
- The features are then standardised with the training pool's mean and ``sqrt(var + 0.01)``
  (``kmeans_demo.m``); the probe does that (``STANDARDISE_EPS``), since it holds the pool.

The encoding is batched tensor work: the normalised, whitened patches of a few images at once,
their squared distances to every centroid from one matrix product (the patch's squared norm
and each centroid's folded into it as two extra columns), the activation in place.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

RF = 6  # receptive field: 6x6 patches
NORM_EPS = 10.0  # per-patch contrast normalisation: sqrt(var + 10), pixels 0-255
ZCA_EPS = 0.1  # whitening: 1 / sqrt(eigenvalue + 0.1)
STANDARDISE_EPS = 0.01  # features: (f - mean) / sqrt(var + 0.01), over the training pool


def quadrant_split(side: int) -> int:
    """Where the quadrants split: MATLAB's round(side / 2), half away from zero; 14 for the 27
    positions of a 32-pixel image (rows and columns 1..14 and 15..27)."""
    return int(np.floor(side / 2 + 0.5))


def patches_of(x_uint8: torch.Tensor, rf: int = RF) -> torch.Tensor:
    """Every rf x rf patch of uint8 NHWC images, as rows (n, positions, 3 rf^2) of float32 on
    the 0-255 scale, channel-major within a patch; positions row-major."""
    x = x_uint8.permute(0, 3, 1, 2).float()
    return F.unfold(x, rf).transpose(1, 2)


def normalise(p: torch.Tensor, eps: float = NORM_EPS) -> torch.Tensor:
    """Per-patch contrast normalisation (x - mean) / sqrt(var + eps), var with n - 1 (MATLAB)."""
    # the variance from the centred patch it is divided into: torch's var over a short last
    # axis (108 values) is about twice as slow as this square-and-sum, the encoding's second
    # largest cost after the distance product
    centred = p - p.mean(-1, keepdim=True)
    var = (centred * centred).sum(-1, keepdim=True).div_(p.shape[-1] - 1)  # n - 1, as MATLAB
    return centred.div_(var.add_(eps).sqrt_())


def zca(p: torch.Tensor, eps: float = ZCA_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, P) of ZCA whitening fitted on the rows of ``p``: (x - M) P whitens them; float64 for
    the eigendecomposition, as MATLAB's eig works in double."""
    p = p.double()
    M = p.mean(0)
    C = torch.cov(p.T)  # n - 1, as MATLAB's cov
    D, V = torch.linalg.eigh(C)
    P = V @ torch.diag(1.0 / torch.sqrt(D + eps)) @ V.T
    return M.float(), P.float()


def sample_patches(x_uint8: np.ndarray, n_patches: int, seed: int, rf: int = RF) -> torch.Tensor:
    """``n_patches`` raw patches (float32, 0-255): patch i from image i mod n, at a uniformly
    drawn position (the authors' ``random('unid', 27)`` for row and column)."""
    n, h, w, _ = x_uint8.shape
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, h - rf + 1, n_patches)
    cols = rng.integers(0, w - rf + 1, n_patches)
    images = np.arange(n_patches) % n
    out = torch.empty(n_patches, 3 * rf * rf)
    chunk = 50_000
    for s in range(0, n_patches, chunk):
        i, r, c = images[s : s + chunk], rows[s : s + chunk], cols[s : s + chunk]
        # (m, rf, rf, 3) gathered with broadcast indices, then channel-major as patches_of
        dr, dc = np.arange(rf)[None, :, None], np.arange(rf)[None, None, :]
        block = x_uint8[i[:, None, None], r[:, None, None] + dr, c[:, None, None] + dc]
        out[s : s + len(i)] = torch.from_numpy(block).permute(0, 3, 1, 2).reshape(len(i), -1)
    return out


def lloyd(
    X: torch.Tensor, k: int, iterations: int, seed: int, batch: int = 1000, log=None
) -> torch.Tensor:
    """``run_kmeans.m``: centroids from randn * 0.1, ``iterations`` full-batch Lloyd steps,
    assignment by argmax(c.x - |c|^2 / 2) in batches of ``batch`` rows, an empty cluster's
    centroid set to zero."""
    g = torch.Generator().manual_seed(seed)
    C = (torch.randn(k, X.shape[1], generator=g, dtype=torch.float64) * 0.1).to(X.device)
    Xd = X.double()
    for it in range(iterations):
        c2 = 0.5 * (C * C).sum(1)
        sums = torch.zeros_like(C)
        counts = torch.zeros(k, dtype=torch.float64, device=X.device)
        Cf, c2f = C.float(), c2.float()
        for s in range(0, len(X), batch):
            # float32 scores: the argmax only needs their order
            labels = torch.addmm(-c2f, X[s : s + batch], Cf.T).argmax(1)
            sums.index_add_(0, labels, Xd[s : s + batch])
            counts.index_add_(0, labels, torch.ones_like(labels, dtype=torch.float64))
        C = sums / counts.clamp(min=1)[:, None]
        C[counts == 0] = 0  # "just zap empty centroids so they don't introduce NaNs"
        if log is not None and (it + 1) % 10 == 0:
            log(f"  K-means iteration {it + 1}/{iterations}: {int((counts == 0).sum())} empty")
    return C.float()


def triangle(z: torch.Tensor) -> torch.Tensor:
    """max(0, mean_k(z) - z_k) for distances ``z`` (rows: patches), in place."""
    mu = z.mean(-1, keepdim=True)
    return torch.sub(mu, z, out=z).clamp_(min=0)


def quadrant_sums(f: torch.Tensor, side: int) -> torch.Tensor:
    """(n, side * side, k) activations -> (n, 4k): sums over the four quadrants split at
    ``quadrant_split(side)``, in the order top-left, bottom-left, top-right, bottom-right (the
    authors' q1..q4). One product with a 0/1 (4, side * side) matrix: it reads the activations
    once, where slicing and summing each quadrant is four times slower here."""
    n, _, k = f.shape
    split = quadrant_split(side)
    rows = torch.arange(side, device=f.device)
    top, left = (rows < split).float(), (rows < split).float()
    masks = [
        torch.outer(top, left),
        torch.outer(1 - top, left),
        torch.outer(top, 1 - left),
        torch.outer(1 - top, 1 - left),
    ]
    Q = torch.stack(masks).view(4, side * side).to(f.dtype)
    return torch.matmul(Q, f).view(n, 4 * k)


class Encoder:
    """The fitted network: centroids (k, 3 rf^2), whitening M and P. ``__call__`` maps uint8
    NHWC images to their 4k features (not yet standardised)."""

    def __init__(self, centroids, M, P, device="cpu"):
        self.C = torch.as_tensor(centroids, dtype=torch.float32, device=device)
        self.M = torch.as_tensor(M, dtype=torch.float32, device=device)
        self.P = torch.as_tensor(P, dtype=torch.float32, device=device)
        k = len(self.C)
        # |p - c|^2 = |p|^2 + |c|^2 - 2 p.c as one product: [p, |p|^2, 1] @ [-2C'; 1; |c|^2]
        self.W = torch.cat(
            [-2 * self.C.T, torch.ones(1, k, device=device), (self.C * self.C).sum(1)[None]]
        ).contiguous()
        self.device = device

    @property
    def dim(self) -> int:
        return 4 * len(self.C)

    @torch.no_grad()
    def __call__(self, x_uint8) -> torch.Tensor:
        x = torch.as_tensor(np.ascontiguousarray(x_uint8)).to(self.device)
        n, h, _, _ = x.shape
        side = h - RF + 1
        p = normalise(patches_of(x).reshape(-1, 3 * RF * RF))
        p = (p - self.M) @ self.P
        pa = torch.cat([p, (p * p).sum(1, keepdim=True), torch.ones_like(p[:, :1])], 1)
        z = (pa @ self.W).clamp_(min=0).sqrt_()  # Euclidean distances to the centroids
        return quadrant_sums(triangle(z).view(n, side * side, -1), side)


def fit(
    x_uint8: np.ndarray,
    k: int,
    n_patches: int = 400_000,
    iterations: int = 50,
    seed: int = 0,
    device="cpu",
    log=None,
) -> dict:
    """The fitted state from training images (uint8 NHWC): centroids, M, P as numpy arrays."""
    p = normalise(sample_patches(x_uint8, n_patches, seed))
    M, P = zca(p)
    p = ((p - M) @ P).to(device)
    centroids = lloyd(p, k, iterations, seed, log=log)
    return {"centroids": centroids.cpu().numpy(), "M": M.numpy(), "P": P.numpy()}
