"""The paper's figures written from a checkpoint into a folder, one function per `dcgan` command
(sample, walk, arithmetic, visualise, forget): the command's whole work, callable from Python
with the same files and the same record (also written beside them as JSON). The pictures are
made by figures.py; this module chooses the inputs, renders, and writes.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from . import checkpoint, data, features, figures, lock, nets
from .errors import UserError, check_writable_dir, refuse_overwrite


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


def _setup(ckpt, out, force: bool, bn_stats: str | None):
    """The checkpoint's G and D, the BN statistics to sample with, and a new output folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder; choose a folder for the figures")
    if out.is_dir() and any(not lock.transient(p.name) for p in out.iterdir()) and not force:
        raise UserError(
            f"{out} exists and is not empty; pass --force to write into it, or choose another --out"
        )
    check_writable_dir(out, f"cannot write the figures to --out {out}")
    v, netG, netD, state = checkpoint.load_models(ckpt)
    bn = bn_stats or ("batch" if state.get("bn_stats") == "none" else "running")
    return out, v, netG, netD, bn


def _frozen(netG, sheet: torch.Tensor, bn: str):
    """With batch statistics (the released models), every image of a figure normalised as the
    sheet was: (G, bn_stats, what the record says)."""
    if bn == "batch":
        return (
            figures.freeze_batch_stats(netG, sheet),
            "running",
            "the sheet's batch statistics, frozen",
        )
    return netG, bn, bn


def _record(path: Path, record: dict) -> dict:
    path.write_text(json.dumps(record, indent=1, default=str))
    return record


def sample(
    ckpt,
    out,
    n: int = 100,
    seed: int = 0,
    bn_stats: str | None = None,
    force: bool = False,
    log=_say,
) -> dict:
    """``n`` samples of the checkpoint's G as one PNG grid."""
    from torchvision.utils import save_image

    if n < 1:
        raise UserError(f"--n must be at least 1; got {n}")
    out = Path(out)
    refuse_overwrite(out, force)
    v, netG, _, state = checkpoint.load_models(ckpt)
    bn = bn_stats or ("batch" if state.get("bn_stats") == "none" else "running")
    images = nets.generate(netG, nets.sample_z(v, n, torch.Generator().manual_seed(seed)), bn)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_image(images, out, nrow=int(math.ceil(math.sqrt(n))), normalize=True, value_range=(-1, 1))
    log(f"wrote {n} samples of {v.name} to {out}")
    return {"out": str(out), "n": n, "seed": seed, "variant": v.name, "bn_stats": bn}


def walk(
    ckpt,
    out,
    points: int = 9,
    steps: int = 8,
    mode: str = "linear",
    seed: int = 0,
    scale: int = 3,
    bn_stats: str | None = None,
    force: bool = False,
    log=_say,
) -> dict:
    """A latent walk through ``points`` random z: a PNG grid and one continuous animated GIF."""
    from PIL import Image

    out, v, netG, _, bn = _setup(ckpt, out, force, bn_stats)
    images = nets.render(netG, figures.walk_z(v, points, steps, seed, mode), bn)
    png = figures.save_png(figures.grid(images, points - 1), out / f"walk-{mode}.png", scale)
    # one continuous animation: each row after the first starts where the previous ended
    keep = [k for k in range(len(images)) if k == 0 or k % (steps + 1) != 0]
    frames = [
        Image.fromarray(images[k].squeeze(-1) if images[k].shape[-1] == 1 else images[k]).resize(
            (v.image_size * scale,) * 2, Image.NEAREST
        )
        for k in keep
    ]
    gif = out / f"walk-{mode}.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=80, loop=0)
    log(f"walk through {points} z ({mode}, {steps} steps each): {png} and {gif}")
    return _record(
        out / f"walk-{mode}.json",
        {
            "png": str(png),
            "gif": str(gif),
            "points": points,
            "steps": steps,
            "mode": mode,
            "seed": seed,
            "bn_stats": bn,
            "ckpt": str(ckpt),
        },
    )


def _concepts_and_result(
    out: Path, netG, v, sheet, expr: str, noise: float, seed: int, bn: str, scale: int
) -> dict:
    terms = figures.parse_expression(expr)
    result = figures.arithmetic(v, sheet, terms, noise, seed)
    # one batch for the whole figure: with batch BN statistics (the released models) an image
    # depends on its batch, and a lone G(mean) would have none
    parts = [sheet[idx] for _, idx in terms] + [result["means"], result["grid"]]
    rendered = np.split(
        nets.render(netG, torch.cat(parts), bn), np.cumsum([len(p) for p in parts])[:-1]
    )
    means, result_images = rendered[-2], rendered[-1]
    rows = [np.concatenate([ex, means[k : k + 1]]) for k, ex in enumerate(rendered[: len(terms)])]
    width = max(len(r) for r in rows)
    blank = np.full_like(rows[0][:1], 255)
    concepts = np.concatenate(
        [np.concatenate([r, np.repeat(blank, width - len(r), 0)]) for r in rows]
    )
    return {
        "concepts": str(
            figures.save_png(
                figures.grid(concepts, len(rows)), out / "arithmetic-concepts.png", scale
            )
        ),
        "result": str(
            figures.save_png(figures.grid(result_images, 3), out / "arithmetic-result.png", scale)
        ),
        "expr": expr,
        "terms": terms,
        "noise": noise,
    }


def arithmetic(
    ckpt,
    out,
    n: int = 100,
    seed: int = 0,
    expr: str | None = None,
    noise: float = 0.25,
    turn_left: str | None = None,
    turn_right: str | None = None,
    turn_rows: str | None = None,
    steps: int = 8,
    scale: int = 3,
    bn_stats: str | None = None,
    force: bool = False,
    log=_say,
) -> dict:
    """A numbered sample sheet; with ``expr`` ('1,2,3 - 4,5,6 + 7,8,9', sheet indices) the
    concepts' exemplars and means and G(Y) with its neighbours; with ``turn_left`` and
    ``turn_right`` the turn vector applied along rows of the sheet."""
    out, v, netG, _, bn = _setup(ckpt, out, force, bn_stats)
    sheet = figures.sheet_z(v, n, seed)
    netG, bn, bn_note = _frozen(netG, sheet, bn)
    record = {"ckpt": str(ckpt), "sheet_n": n, "sheet_seed": seed, "bn_stats": bn_note}
    record["sheet"] = str(
        figures.save_png(figures.numbered_sheet(nets.render(netG, sheet, bn)), out / "sheet.png")
    )
    log(
        f"numbered sample sheet: {record['sheet']} (pick exemplars by index; the same --n and"
        " --seed give the same z)"
    )
    if expr:
        record.update(_concepts_and_result(out, netG, v, sheet, expr, noise, seed, bn, scale))
        log(
            f"{expr}: exemplars and their means in {record['concepts']}, G(Y) and its neighbours"
            f" in {record['result']}"
        )
    if turn_left or turn_right:
        left, right = (
            sorted({int(i) for i in s.split(",") if i}) for s in (turn_left or "", turn_right or "")
        )
        rows = [int(i) for i in (turn_rows or "0,1,2,3").split(",") if i]
        if not left or not right or any(not 0 <= i < n for i in left + right + rows):
            raise UserError(
                f"--turn-left and --turn-right need sample indices on the sheet (0..{n - 1}), e.g."
                " 1,2,3,4"
            )
        z, _ = figures.turn_rows(sheet, left, right, rows, steps)
        record["turn"] = str(
            figures.save_png(
                figures.grid(nets.render(netG, z, bn), len(rows)), out / "turn.png", scale
            )
        )
        record.update(
            {"turn_left": left, "turn_right": right, "turn_rows": rows, "turn_steps": steps}
        )
        log(f"turn vector applied along {len(rows)} rows: {record['turn']}")
    return _record(out / "arithmetic.json", record)


def visualise(
    ckpt,
    out,
    dataset: str,
    split: str = "train",
    data_root=None,
    data_options: dict | None = None,
    n_images: int = 2000,
    n_features: int = 6,
    layer: str | None = None,
    seed: int = 0,
    scale: int = 3,
    force: bool = False,
    log=_say,
) -> dict:
    """Guided backpropagation of D's first ``n_features`` features of ``layer``: each one's
    maximally responding image and its gradient, for the trained D and a random-init one."""
    out, v, _, netD, _ = _setup(ckpt, out, force, None)
    images = data.subset(
        data.load(dataset, split, data_root, **(data_options or {})), n_images, seed
    )
    if images.image_size != v.image_size:
        raise UserError(
            f"{dataset} images are {images.image_size}px; {v.name} takes {v.image_size}px"
        )
    record = {
        "ckpt": str(ckpt),
        "dataset": images.name,
        "n_images": len(images),
        "seed": seed,
        "bn_stats": "population (these images)",
    }
    rows = []
    _, random_D = nets.build(v, seed=seed)
    for label, net in (("trained", netD), (f"random init (seed {seed})", random_D)):
        result = figures.guided_backprop(
            features.with_population_stats(net, images.x), images.x, n_features, layer
        )
        rows.append(np.stack([images.x[f["image_index"]] for f in result["features"]]))
        rows.append(np.stack([figures.gradient_image(f["gradient"]) for f in result["features"]]))
        record[label] = [
            {k: f[k] for k in ("feature", "image_index", "position", "response")}
            for f in result["features"]
        ]
        record["layer"] = result["layer"]
    png = figures.save_png(
        figures.grid(np.concatenate(rows), 4), out / "guided-backprop.png", scale
    )
    log(
        f"guided backpropagation of the first {n_features} features of {record['layer']}: rows ="
        " trained D's top images, "
        f"their gradients, then the random-init D's: {png}"
    )
    return _record(out / "guided-backprop.json", {**record, "png": str(png)})


def forget(
    ckpt,
    out,
    boxes,
    n: int = 150,
    show: int = 16,
    layer: str | None = None,
    seed: int = 0,
    scale: int = 3,
    bn_stats: str | None = None,
    force: bool = False,
    log=_say,
) -> dict:
    """Drop the feature maps of G's ``layer`` that a logistic regression ties to the boxes marked
    on the numbered sheet (``boxes``: a JSON file), and draw fresh samples with and without them."""
    out, v, netG, _, bn = _setup(ckpt, out, force, bn_stats)
    layer = layer or figures.second_highest(netG)
    if layer not in figures.g_layers(netG):
        raise UserError(
            f"unknown G layer {layer!r}; G's hidden conv layers:"
            f" {', '.join(figures.g_layers(netG))}"
        )
    marks = figures.read_boxes(boxes)
    sheet = figures.sheet_z(v, n, seed)
    # the marked samples as the sheet showed them; fresh samples normalised the same way
    netG, bn, bn_note = _frozen(netG, sheet, bn)
    fit = figures.fit_window_detector(netG, sheet, marks, layer, seed, bn)
    z = figures.sheet_z(v, show, seed + 1)  # fresh samples, each drawn with and without the drop
    before = nets.render(netG, z, bn)
    after = figures.generate_dropping(netG, z, layer, fit["dropped"], bn)
    png = figures.save_png(
        figures.grid(np.concatenate([before, after]), 2), out / "forget.png", scale
    )
    log(
        f"dropped {len(fit['dropped'])} of {len(fit['weights'])} feature maps of {layer} (positive"
        " weight in the logistic "
        f"regression, {fit['n_positive']} positive and {fit['n_negative']} negative positions);"
        " top row as drawn, bottom row "
        f"without them: {png}"
    )
    return _record(
        out / "forget.json",
        {
            "ckpt": str(ckpt),
            "boxes": str(boxes),
            "sheet_n": n,
            "sheet_seed": seed,
            "layer": layer,
            "layer_choice": "the last hidden layer of G (the output layer counted as the highest)"
            " [our choice; PROTOCOL.md §8 leaves it open]",
            "dropped": fit["dropped"],
            "n_feature_maps": len(fit["weights"]),
            "n_positive": fit["n_positive"],
            "n_negative": fit["n_negative"],
            "train_accuracy": fit["train_accuracy"],
            "png": str(png),
            "bn_stats": bn_note,
        },
    )
