"""Does G copy its training images? Nearest-neighbour distances, with held-out images as the baseline.

The paper argues against memorisation without searching for it. Here every generated sample's
nearest training image is found, and so is every held-out real image's: held-out images were
never trained on, so their distances are what "close but not copied" looks like for this data.
Generated samples much closer than that, or at distance ~0, are copies.

Two spaces: pixels (root-mean-square difference per value, in 0-255 units) and D's features
(the paper's pooled features with BN population statistics of the training set; cosine distance,
since the features' scale is arbitrary).
"""

from __future__ import annotations

import numpy as np
import torch

from .data import ImageSet
from .errors import UserError

QUANTILES = (0.0, 0.01, 0.05, 0.5)


def _rows(x) -> torch.Tensor:
    """Images or features (possibly a read-only memmap slice) as float32 rows, copied."""
    return torch.from_numpy(np.array(x, dtype=np.float32).reshape(len(x), -1))


@torch.no_grad()
def nearest_pixels(queries: np.ndarray, base: np.ndarray, chunk: int = 4096, device="cpu") -> tuple[np.ndarray, np.ndarray]:
    """For each uint8 query image, its nearest ``base`` image (L2): (RMS distance in 0-255 units, index).

    Candidates come from one matrix product per chunk of the base; the winner's distance is then
    recomputed directly, so an exact copy reads 0 rather than float32 cancellation noise."""
    q = _rows(queries).to(device)
    qn = (q * q).sum(1)
    best = torch.full((len(q),), float("inf"), device=device)
    arg = torch.zeros(len(q), dtype=torch.long, device=device)
    for i in range(0, len(base), chunk):
        b = _rows(base[i:i + chunk]).to(device)
        d2 = qn[:, None] - 2 * q @ b.T + (b * b).sum(1)[None, :]
        m, j = d2.min(1)
        better = m < best
        best = torch.where(better, m, best)
        arg = torch.where(better, j + i, arg)
    winners = _rows(base[arg.cpu().numpy()]).to(device)
    exact = ((q - winners) ** 2).mean(1).sqrt()
    return exact.cpu().numpy(), arg.cpu().numpy()


@torch.no_grad()
def nearest_cosine(queries: np.ndarray, base: np.ndarray, chunk: int = 2048, device="cpu") -> tuple[np.ndarray, np.ndarray]:
    """For each query feature vector, its nearest ``base`` vector by cosine distance (1 - cos)."""
    q = torch.nn.functional.normalize(_rows(queries).to(device), dim=1)
    best = torch.full((len(q),), -2.0, device=device)
    arg = torch.zeros(len(q), dtype=torch.long, device=device)
    for i in range(0, len(base), chunk):
        b = torch.nn.functional.normalize(_rows(base[i:i + chunk]).to(device), dim=1)
        s, j = (q @ b.T).max(1)
        better = s > best
        best = torch.where(better, s, best)
        arg = torch.where(better, j + i, arg)
    return (1 - best).clamp_(min=0).cpu().numpy(), arg.cpu().numpy()


def summarise(generated: np.ndarray, held_out: np.ndarray) -> dict:
    """Both distributions' low quantiles and medians, their ratio, and how many generated samples
    are closer to the training set than all but 1% of held-out images."""
    out = {}
    for name, d in (("generated", generated), ("held_out", held_out)):
        for q in QUANTILES:
            out[f"{name}_q{q:g}"] = float(np.quantile(d, q))
    threshold = float(np.quantile(held_out, 0.01))
    out["median_ratio"] = out["generated_q0.5"] / out["held_out_q0.5"] if out["held_out_q0.5"] > 0 else float("inf")
    out["frac_generated_below_held_out_q0.01"] = float(np.mean(generated < threshold))
    out["n_generated_exact_copies"] = int(np.sum(generated <= 1e-6))
    return out


def check(samples: np.ndarray, train: ImageSet, held_out: ImageSet, sample_features=None, train_features=None,
          held_out_features=None, device="cpu") -> dict:
    """The memorisation check on uint8 NHWC ``samples``; features optional (all three or none)."""
    if samples.shape[1:] != train.x.shape[1:] or held_out.x.shape[1:] != train.x.shape[1:]:
        raise UserError(f"samples {samples.shape[1:]}, training {train.x.shape[1:]} and held-out {held_out.x.shape[1:]} "
                        "images must have the same shape")
    gen_d, gen_i = nearest_pixels(samples, train.x, device=device)
    held_d, _ = nearest_pixels(held_out.x, train.x, device=device)
    result = {"pixels": {"distance": "RMS per value, 0-255", **summarise(gen_d, held_d)},
              "pixel_nearest": {"distance": gen_d, "index": gen_i}}
    if sample_features is not None:
        fgen_d, fgen_i = nearest_cosine(sample_features, train_features, device=device)
        fheld_d, _ = nearest_cosine(held_out_features, train_features, device=device)
        result["features"] = {"distance": "cosine (1 - cos) of D's pooled features", **summarise(fgen_d, fheld_d)}
        result["feature_nearest"] = {"distance": fgen_d, "index": fgen_i}
    return result


def closest_pairs_image(samples: np.ndarray, train_x: np.ndarray, distance: np.ndarray, index: np.ndarray, path, k: int = 16) -> list[dict]:
    """The ``k`` generated samples closest to the training set, each above its nearest training
    image, as one PNG (top row: samples; bottom row: their neighbours). Returns the pairs."""
    from torchvision.utils import save_image

    order = np.argsort(distance, kind="stable")[:k]
    top = torch.from_numpy(samples[order]).permute(0, 3, 1, 2)
    bottom = torch.from_numpy(train_x[index[order]]).permute(0, 3, 1, 2)
    grid = torch.cat([top, bottom]).float() / 255
    if grid.shape[1] == 1:
        grid = grid.expand(-1, 3, -1, -1)
    save_image(grid, path, nrow=len(order), padding=2, pad_value=1.0)
    return [{"sample": int(s), "train_index": int(index[s]), "distance": float(distance[s])} for s in order]
