"""The paper's qualitative experiments (PROTOCOL.md §8) from any checkpoint: latent walks,
vector arithmetic on z, guided backpropagation of D's features, and "forgetting" an object by
dropping G's feature maps. Images are uint8 NHWC arrays; the CLI writes them as PNG/GIF.

G runs in eval mode (BN running statistics) unless asked for batch statistics, so one z always
gives the same image whatever else is in the batch: the identities the tests check rely on it.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from . import nets
from .errors import UserError


def grid(images: np.ndarray, rows: int, pad: int = 2) -> np.ndarray:
    """uint8 (N, H, W, C) -> one uint8 image, ``rows`` rows, white padding."""
    n, h, w, c = images.shape
    cols = math.ceil(n / rows)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, np.uint8)
    for k in range(n):
        r, q = divmod(k, cols)
        out[
            pad + r * (h + pad) : pad + r * (h + pad) + h,
            pad + q * (w + pad) : pad + q * (w + pad) + w,
        ] = images[k]
    return out


def save_png(image: np.ndarray, path, scale: int = 1) -> Path:
    from PIL import Image

    path = Path(path)
    img = Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def sheet_z(v, n: int, seed: int) -> torch.Tensor:
    """The z of a numbered sample sheet: the same (n, seed) always gives the same z, so an index
    picked from the sheet names one z."""
    return nets.sample_z(v, n, torch.Generator().manual_seed(seed))


@torch.no_grad()
def freeze_batch_stats(netG, z_ref: torch.Tensor):
    """A copy of G in eval mode whose BN layers hold the statistics of the batch ``z_ref``, exactly
    as batch-statistics sampling normalised that batch (biased variance). For models sampled
    with batch statistics (the released ones): the images of a sheet stay the same when some of
    its z are drawn again in another batch, and one z gives one image."""
    net = copy.deepcopy(netG).train()
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    counts = {}

    def count(module, inputs):
        counts[id(module)] = inputs[0].numel() // inputs[0].shape[1]

    hooks = [m.register_forward_pre_hook(count) for m in bns]
    for m in bns:
        if m.running_mean is None:
            m.track_running_stats = True
            m.running_mean = torch.zeros(m.num_features)
            m.running_var = torch.ones(m.num_features)
            m.num_batches_tracked = torch.zeros((), dtype=torch.long)
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: after one batch, that batch's statistics
    net(z_ref)
    for h in hooks:
        h.remove()
    for m in bns:
        n = counts[id(m)]
        # BN stores the unbiased variance, but normalised with the biased one
        m.running_var.mul_((n - 1) / n)
    return net.eval()


def numbered_sheet(images: np.ndarray, cols: int = 10, scale: int = 3) -> np.ndarray:
    """Samples in a grid, each with its index written in its corner (to pick exemplars by)."""
    from PIL import Image, ImageDraw

    g = grid(images, math.ceil(len(images) / cols))
    img = Image.fromarray(g.squeeze(-1) if g.shape[-1] == 1 else g).convert("RGB")
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    draw = ImageDraw.Draw(img)
    h, w = images.shape[1:3]
    for k in range(len(images)):
        r, q = divmod(k, cols)
        x, y = (2 + q * (w + 2)) * scale, (2 + r * (h + 2)) * scale
        draw.rectangle([x, y, x + 7 * len(str(k)) + 2, y + 11], fill=(0, 0, 0))
        draw.text((x + 2, y), str(k), fill=(255, 255, 0))
    return np.asarray(img)


# --- latent walks ------------------------------------------------------------------------------
def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation (White 2016): along the great circle, norms interpolated linearly."""
    na, nb = a.norm(), b.norm()
    ua, ub = a / na, b / nb
    omega = torch.arccos((ua * ub).sum().clamp(-1, 1))
    if omega.abs() < 1e-6:
        return (1 - t) * a + t * b
    direction = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / torch.sin(omega)
    return direction * ((1 - t) * na + t * nb)


def walk_z(v, points: int = 9, steps: int = 8, seed: int = 0, mode: str = "linear") -> torch.Tensor:
    """``points`` random z and ``steps`` steps between each neighbouring pair: (points - 1) rows
    of steps + 1 codes, each row starting at one point and ending at the next."""
    if mode not in ("linear", "slerp"):
        raise UserError(f"--mode must be linear or slerp; got {mode!r}")
    if points < 2 or steps < 1:
        raise UserError(
            f"a walk needs at least 2 points and 1 step; got {points} points, {steps} steps"
        )
    anchors = sheet_z(v, points, seed)
    rows = []
    for a, b in zip(anchors[:-1], anchors[1:], strict=True):
        ts = [k / steps for k in range(steps + 1)]
        rows += [(1 - t) * a + t * b if mode == "linear" else slerp(a, b, t) for t in ts]
    return torch.stack(rows)


# --- vector arithmetic -------------------------------------------------------------------------
def parse_expression(expr: str) -> list[tuple[int, list[int]]]:
    """ "1,2,3 - 4,5,6 + 7,8,9" -> [(+1, [1, 2, 3]), (-1, [4, 5, 6]), (+1, [7, 8, 9])]."""
    terms, sign = [], 1
    for token in expr.replace("+", " + ").replace("-", " - ").split():
        if token in "+-":
            sign = 1 if token == "+" else -1
            continue
        try:
            idx = [int(i) for i in token.split(",") if i]
        except ValueError:
            raise UserError(
                f"--expr: {token!r} is not a comma-separated list of sample indices (e.g. '1,2,3 -"
                " 4,5,6 + 7,8,9')"
            ) from None
        terms.append((sign, idx))
        sign = 1
    if not terms or any(not idx for _, idx in terms):
        raise UserError(
            f"--expr {expr!r} names no exemplars; write e.g. '1,2,3 - 4,5,6 + 7,8,9' (indices from"
            " the sample sheet)"
        )
    return terms


def arithmetic(v, sheet: torch.Tensor, terms, noise: float = 0.25, seed: int = 0) -> dict:
    """The mean z of each concept's exemplars, Y = the signed sum of the means, and the 3x3 grid:
    Y at the centre, Y + U(-noise, noise) around it."""
    for _, idx in terms:
        bad = [i for i in idx if not 0 <= i < len(sheet)]
        if bad:
            raise UserError(f"sample indices {bad} are not on the sheet of {len(sheet)} samples")
    means = [sheet[idx].mean(0) for _, idx in terms]
    y = sum(sign * m for (sign, _), m in zip(terms, means, strict=True))
    g = torch.Generator().manual_seed(seed)
    around = y + (torch.rand(9, v.nz, generator=g) * 2 - 1) * noise
    around[4] = y  # the centre is G(Y) itself
    return {"means": torch.stack(means), "y": y, "grid": around}


def turn_rows(
    sheet: torch.Tensor,
    left: list[int],
    right: list[int],
    rows: list[int],
    steps: int = 8,
    scale: float = 1.0,
):
    """The "turn" vector (mean z of ``left`` minus mean of ``right``) added to each z of ``rows``
    in ``steps`` equal parts, from 0 to ``scale`` times the vector."""
    vec = sheet[left].mean(0) - sheet[right].mean(0)
    ts = torch.linspace(0, scale, steps + 1)
    return torch.stack([sheet[r] + t * vec for r in rows for t in ts]), vec


# --- guided backpropagation --------------------------------------------------------------------
class _GuidedGate(torch.autograd.Function):
    """Forward: the activation as it is. Backward: only positive gradients, and only where the
    activation's input was positive (Springenberg et al. 2015)."""

    @staticmethod
    def forward(ctx, x, negative_slope: float):
        ctx.save_for_backward(x)
        return torch.where(x > 0, x, x * negative_slope)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad.clamp(min=0) * (x > 0).to(grad.dtype), None


class GuidedActivation(nn.Module):
    """ReLU (slope 0) or LeakyReLU with a guided backward pass."""

    def __init__(self, act: nn.Module):
        super().__init__()
        self.negative_slope = float(getattr(act, "negative_slope", 0.0))

    def forward(self, x):
        return _GuidedGate.apply(x, self.negative_slope)


def guided(net: nn.Module) -> nn.Module:
    """A copy of ``net`` whose ReLU / LeakyReLU backward passes are guided."""
    net = copy.deepcopy(net)
    for m in list(net.modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, (nn.ReLU, nn.LeakyReLU)):
                setattr(m, child_name, GuidedActivation(child))
    return net


def guided_backprop(
    netD, images: np.ndarray, n_features: int = 6, layer: str | None = None
) -> dict:
    """For each of the first ``n_features`` channels of D's last conv layer (or ``layer``): the
    image of ``images`` with the largest response anywhere, and the guided gradient of that one
    response with respect to the image."""
    from .data import to_model_input

    names = list(netD.blocks)
    layer = layer or names[-1]
    if layer not in names:
        raise UserError(f"unknown D layer {layer!r}; D's conv layers: {', '.join(names)}")
    net = guided(netD).eval()
    x = to_model_input(torch.from_numpy(np.ascontiguousarray(images)))
    with torch.no_grad():
        acts = net.features(x)[layer]
    if n_features > acts.shape[1]:
        raise UserError(f"layer {layer} has {acts.shape[1]} features; ask for at most that many")
    out = []
    for f in range(n_features):
        flat = acts[:, f].flatten(1)
        best = int(flat.max(1).values.argmax())
        pos = int(flat[best].argmax())
        xi = x[best : best + 1].clone().requires_grad_(True)
        response = net.features(xi)[layer][0, f].flatten()[pos]
        (grad,) = torch.autograd.grad(response, xi)
        out.append(
            {
                "feature": f,
                "image_index": best,
                "position": divmod(pos, acts.shape[-1]),
                "response": float(response.detach()),
                "gradient": grad[0].permute(1, 2, 0).numpy(),
            }
        )
    return {"layer": layer, "features": out}


def gradient_image(g: np.ndarray) -> np.ndarray:
    """A gradient shown as an image: centred on grey, scaled by its largest magnitude."""
    m = np.abs(g).max()
    return (
        np.clip(127.5 + 127.5 * g / m, 0, 255).round().astype(np.uint8)
        if m > 0
        else np.full(g.shape, 128, np.uint8)
    )


# --- forgetting an object ----------------------------------------------------------------------
def g_layers(netG) -> list[str]:
    """G's hidden conv layers, the output layer excluded."""
    return list(netG.blocks)[:-1]


def second_highest(netG) -> str:
    """[our choice, PROTOCOL.md §8 leaves it open] G's conv layers counted from the output: the
    output layer is the highest, so the second highest is the last hidden layer."""
    return g_layers(netG)[-1]


def activations(netG, z: torch.Tensor, layer: str, bn_stats: str = "running") -> torch.Tensor:
    store = {}
    handle = netG.blocks[layer].register_forward_hook(
        lambda m, i, o: store.__setitem__("a", o.detach())
    )
    try:
        nets.generate(netG, z, bn_stats)
    finally:
        handle.remove()
    return store["a"]


def read_boxes(path) -> list[dict]:
    """[{"sample": index on the sheet, "boxes": [[x0, y0, x1, y1], ...]}, ...] in image pixels."""
    try:
        marks = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(
            f'{path}: not a readable boxes JSON ({e}); expected [{{"sample": 3, "boxes": [[x0, y0,'
            f" x1, y1]]}}, ...]"
        ) from None
    ok = isinstance(marks, list) and all(
        isinstance(m, dict)
        and isinstance(m.get("sample"), int)
        and isinstance(m.get("boxes"), list)
        and all(isinstance(b, list) and len(b) == 4 for b in m["boxes"])
        for m in marks
    )
    if not ok or not marks:
        raise UserError(
            f'{path}: expected a non-empty list of {{"sample": INDEX, "boxes": [[x0, y0, x1, y1],'
            f" ...]}}"
        )
    for m in marks:
        for box in m["boxes"]:
            if not all(isinstance(c, (int, float)) for c in box) or not (
                0 <= box[0] < box[2] and 0 <= box[1] < box[3]
            ):
                raise UserError(
                    f"{path}: box {box} of sample {m['sample']} is not [x0, y0, x1, y1] with 0 <="
                    " x0 < x1 and 0 <= y0 < y1"
                )
    return marks


def fit_window_detector(
    netG,
    sheet: torch.Tensor,
    marks: list[dict],
    layer: str,
    seed: int = 0,
    bn_stats: str = "running",
) -> dict:
    """Logistic regression on the activations of ``layer``: positions inside a marked box are
    positives, as many random positions outside the boxes of the same images negatives."""
    from sklearn.linear_model import LogisticRegression

    size = netG.variant.image_size
    rng = np.random.default_rng(seed)
    for m in marks:
        if not 0 <= m["sample"] < len(sheet):
            raise UserError(
                f"boxes name sample {m['sample']}, not on the sheet of {len(sheet)} samples"
            )
    # the whole sheet in one batch, as it was drawn
    acts = activations(netG, sheet, layer, bn_stats)
    X, y = [], []
    for m in marks:
        a = acts[m["sample"]]  # C x h x w
        h = a.shape[-1]
        inside = np.zeros((h, h), bool)
        for x0, y0, x1, y1 in m["boxes"]:
            s = h / size  # image pixels -> layer positions
            inside[
                int(y0 * s) : max(int(y0 * s) + 1, math.ceil(y1 * s)),
                int(x0 * s) : max(int(x0 * s) + 1, math.ceil(x1 * s)),
            ] = True
        pos, neg = np.argwhere(inside), np.argwhere(~inside)
        if len(neg):
            neg = neg[rng.choice(len(neg), size=min(len(neg), len(pos)), replace=False)]
        flat = a.permute(1, 2, 0).numpy()
        X += [flat[i, j] for i, j in pos] + [flat[i, j] for i, j in neg]
        y += [1] * len(pos) + [0] * len(neg)
    if len(set(y)) < 2:
        raise UserError(
            "the boxes give no positives or no negatives; mark boxes smaller than the whole image"
        )
    clf = LogisticRegression(max_iter=2000).fit(np.asarray(X), np.asarray(y))
    w = clf.coef_[0]
    return {
        "weights": w,
        "dropped": np.flatnonzero(w > 0).tolist(),
        "n_positive": int(sum(y)),
        "n_negative": len(y) - int(sum(y)),
        "train_accuracy": float(clf.score(np.asarray(X), np.asarray(y))),
    }


@torch.no_grad()
def generate_dropping(
    netG, z: torch.Tensor, layer: str, channels: list[int], bn_stats: str = "running"
) -> np.ndarray:
    """G(z) with the feature maps ``channels`` of ``layer`` set to zero at every location."""

    def drop(module, inputs, output):
        if channels:
            output = output.clone()
            output[:, channels] = 0
        return output

    handle = netG.blocks[layer].register_forward_hook(drop)
    try:
        return nets.render(netG, z, bn_stats)
    finally:
        handle.remove()
