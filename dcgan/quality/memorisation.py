"""Does G copy its training images? Nearest-neighbour distances, held-out images the baseline.

The paper argues against memorisation without searching for it. Here every generated sample's
nearest training image is found, and so is every held-out real image's: held-out images were
never trained on, so their distances are what "close but not copied" looks like for this data.
Generated samples much closer than that, or at distance ~0, are copies.

Two spaces: pixels (root-mean-square difference per value, in 0-255 units) and D's features
(the paper's pooled features with BN population statistics of the training set; cosine distance,
since the features' scale is arbitrary).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data import ImageSet
from ..errors import UserError

QUANTILES = (0.0, 0.01, 0.05, 0.5)


def _rows(x) -> torch.Tensor:
    """Images or features (possibly a read-only memmap slice) as float32 rows, copied."""
    return torch.from_numpy(np.array(x, dtype=np.float32).reshape(len(x), -1))


@torch.no_grad()
def nearest_pixels(
    queries: np.ndarray, base: np.ndarray, chunk: int = 4096, device="cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """For each uint8 query image, its nearest ``base`` image (L2):
    (RMS distance in 0-255 units, index).

    Candidates come from one matrix product per chunk of the base; the winner's distance is then
    recomputed directly, so an exact copy reads 0 rather than float32 cancellation noise."""
    q = _rows(queries).to(device)
    qn = (q * q).sum(1)
    best = torch.full((len(q),), float("inf"), device=device)
    arg = torch.zeros(len(q), dtype=torch.long, device=device)
    for i in range(0, len(base), chunk):
        b = _rows(base[i : i + chunk]).to(device)
        d2 = qn[:, None] - 2 * q @ b.T + (b * b).sum(1)[None, :]
        m, j = d2.min(1)
        better = m < best
        best = torch.where(better, m, best)
        arg = torch.where(better, j + i, arg)
    winners = _rows(base[arg.cpu().numpy()]).to(device)
    exact = ((q - winners) ** 2).mean(1).sqrt()
    return exact.cpu().numpy(), arg.cpu().numpy()


@torch.no_grad()
def nearest_cosine(
    queries: np.ndarray, base: np.ndarray, chunk: int = 2048, device="cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """For each query feature vector, its nearest ``base`` vector by cosine distance (1 - cos)."""
    q = torch.nn.functional.normalize(_rows(queries).to(device), dim=1)
    best = torch.full((len(q),), -2.0, device=device)
    arg = torch.zeros(len(q), dtype=torch.long, device=device)
    for i in range(0, len(base), chunk):
        b = torch.nn.functional.normalize(_rows(base[i : i + chunk]).to(device), dim=1)
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
    out["median_ratio"] = (
        out["generated_q0.5"] / out["held_out_q0.5"] if out["held_out_q0.5"] > 0 else float("inf")
    )
    out["frac_generated_below_held_out_q0.01"] = float(np.mean(generated < threshold))
    out["n_generated_exact_copies"] = int(np.sum(generated <= 1e-6))
    return out


def check(
    samples: np.ndarray,
    train: ImageSet,
    held_out: ImageSet,
    sample_features=None,
    train_features=None,
    held_out_features=None,
    device="cpu",
) -> dict:
    """The memorisation check on uint8 NHWC ``samples``; features optional (all three or none)."""
    if samples.shape[1:] != train.x.shape[1:] or held_out.x.shape[1:] != train.x.shape[1:]:
        raise UserError(
            f"samples {samples.shape[1:]}, training {train.x.shape[1:]} and held-out"
            f" {held_out.x.shape[1:]} "
            "images must have the same shape"
        )
    gen_d, gen_i = nearest_pixels(samples, train.x, device=device)
    held_d, _ = nearest_pixels(held_out.x, train.x, device=device)
    result = {
        "pixels": {"distance": "RMS per value, 0-255", **summarise(gen_d, held_d)},
        "pixel_nearest": {"distance": gen_d, "index": gen_i},
    }
    if sample_features is not None:
        fgen_d, fgen_i = nearest_cosine(sample_features, train_features, device=device)
        fheld_d, _ = nearest_cosine(held_out_features, train_features, device=device)
        result["features"] = {
            "distance": "cosine (1 - cos) of D's pooled features",
            **summarise(fgen_d, fheld_d),
        }
        result["feature_nearest"] = {"distance": fgen_d, "index": fgen_i}
    return result


def closest_pairs_image(
    samples: np.ndarray,
    train_x: np.ndarray,
    distance: np.ndarray,
    index: np.ndarray,
    path,
    k: int = 16,
) -> list[dict]:
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
    return [
        {"sample": int(s), "train_index": int(index[s]), "distance": float(distance[s])}
        for s in order
    ]


def run(
    ckpt,
    dataset: str,
    split: str = "train",
    held_out_split: str = "test",
    data_root=None,
    data_options: dict | None = None,
    download: bool = False,
    n: int = 1000,
    n_held_out: int = 1000,
    k: int = 16,
    pixels_only: bool = False,
    seed: int = 0,
    tags: dict | None = None,
    out_dir="results/memorisation",
    cache_dir=None,
    device="auto",
    progress: bool = True,
) -> dict:
    """The `dcgan memorisation` command's work: ``n`` samples of the checkpoint's G searched
    against the training split, ``n_held_out`` held-out images as the baseline, in pixels and
    (unless ``pixels_only``) D's features; a row (with ``tags`` as extra columns) and the
    closest pairs' pictures in ``out_dir``."""
    from .. import checkpoint, data, features, nets, results, runtime
    from ..errors import check_writable_dir

    device = runtime.pick_device(device)
    results.check_tags(tags or {}, ROW_FIELDS, ("pixels_", "features_"))
    check_writable_dir(out_dir, f"cannot write rows to --out-dir {out_dir}")  # before the search
    v, netG, netD, state = checkpoint.load_models(ckpt, device)
    opts = data_options or {}
    train = data.load(dataset, split, data_root, download=download, **opts)
    held = data.subset(
        data.load(dataset, held_out_split, data_root, download=download, **opts), n_held_out, seed
    )
    _refuse_self_comparison(train, held)
    if train.image_size != v.image_size:
        raise UserError(
            f"{dataset}/{split} images are {train.image_size} px but {v.name} draws {v.image_size}"
            " px"
        )
    bn = "batch" if state.get("bn_stats") == "none" else "running"
    samples = nets.sample_images(netG, n, seed, bn, device=device)
    if samples.shape[-1] != train.x.shape[-1]:
        raise UserError(
            f"{v.name} draws {samples.shape[-1]}-channel images but {dataset} has"
            f" {train.x.shape[-1]}"
        )
    feats = {}
    if not pixels_only:
        f_train, _ = features.cached_features(
            netD, train, train, "pool", cache_dir, device=device, progress=progress
        )
        net = features.cached_population_stats(netD, train, cache_dir, device)
        feats = {
            "sample_features": features.extract(net, samples, device=device, progress=progress),
            "held_out_features": features.extract(net, held.x, device=device, progress=progress),
            "train_features": f_train,
        }
    result = check(samples, train, held, device=device, **feats)
    out_dir = Path(out_dir)
    base = f"memorisation-{results.stamp()}"
    row = {
        **runtime.provenance(),
        "variant": v.name,
        "checkpoint": str(checkpoint.resolve(ckpt)),
        "dataset": dataset,
        "split": split,
        "held_out": held.split,
        "n_generated": n,
        "n_held_out": len(held),
        "n_train": len(train),
        # the seed of the samples and the held-out subset; "seed" is left to what a suite's
        # tags mean by it, the training seed of the model
        "sample_seed": seed,
        "bn_stats": bn,
        **(tags or {}),
    }
    for space in ("pixels", "features"):
        if space not in result:
            continue
        nearest = result["pixel_nearest" if space == "pixels" else "feature_nearest"]
        png = out_dir / f"{base}-{space}.png"
        pairs = closest_pairs_image(samples, train.x, nearest["distance"], nearest["index"], png, k)
        row.update({f"{space}_{key}": val for key, val in result[space].items()})
        row[f"{space}_closest_pairs_png"] = str(png)
        row[f"{space}_closest_pairs"] = pairs
    json_path, csv_path = results.write_rows(
        [row], out_dir, "memorisation", "memorisation-rows.csv", list(row)
    )
    return {
        "row": row,
        "json": str(json_path),
        "csv": str(csv_path),
        "samples_shape": list(np.shape(samples)),
    }


# the columns a memorisation row records (provenance first); --tag may add columns, never these
ROW_FIELDS = (
    "time",
    "dcgan_bench",
    "git_revision",
    "versions",
    "variant",
    "checkpoint",
    "dataset",
    "split",
    "held_out",
    "n_generated",
    "n_held_out",
    "n_train",
    "sample_seed",
    "bn_stats",
)


def _refuse_self_comparison(train, held) -> None:
    """The held-out baseline must be images G never saw: when most of them are training images
    (one .npz given for both splits, or the same split twice) every distance is 0 and the
    comparison measures nothing."""
    import hashlib

    seen = {hashlib.sha1(img.tobytes()).digest() for img in train.x}
    found = sum(hashlib.sha1(img.tobytes()).digest() in seen for img in held.x)
    if found * 2 > len(held):
        raise UserError(
            f"{found} of the {len(held)} held-out images ({held.name}/{held.split}, {held.source})"
            f" are training images ({train.name}/{train.split}, {train.source}): nothing would be"
            " measured; give held-out images G was not trained on (--held-out-split; for an npz,"
            " a --data-root folder holding train.npz and test.npz)"
        )


def describe(row: dict) -> list[str]:
    """One line per space searched: samples' nearest-training distances against held-out ones."""
    lines = []
    for space in ("pixels", "features"):
        if f"{space}_generated_q0.5" in row:
            r = {
                key[len(space) + 1 :]: val
                for key, val in row.items()
                if key.startswith(space + "_")
            }
            lines.append(
                f"{space}: nearest-training distance, generated median {r['generated_q0.5']:.4g}"
                f" (min {r['generated_q0']:.4g}) vs "
                f"held-out median {r['held_out_q0.5']:.4g} (min {r['held_out_q0']:.4g}); "
                f"{100 * r['frac_generated_below_held_out_q0.01']:.1f}% of samples closer than the"
                " held-out 1% quantile; "
                f"{r['n_generated_exact_copies']} exact copies; closest pairs in"
                f" {r['closest_pairs_png']}"
            )
    return lines
