"""Import of the paper authors' released Theano weights (Newmu/dcgan_code, ``models/``) into
our checkpoints.

A released model folder holds ``N_gen_params.jl_NN.npy`` and ``N_discrim_params.jl_NN.npy``:
one plain float32 array per parameter, in parameter order. The ``.jl`` files beside them are
pickles that only list those arrays; they are never opened.

The released arrays come in the same order as our nets' parameters (``named_parameters()``),
so a variant's expected shard list follows from the variant itself. The conventions the
conversion honours (shared/data/released/README.md):

- Theano's ``dnn_conv`` defaults to ``conv_mode='conv'``, a true convolution: its kernels are
  PyTorch's cross-correlation kernels flipped in both spatial axes. ``deconv`` is that
  convolution's input gradient, i.e. ``conv_transpose2d`` with the flipped kernel; its weight is
  already laid out (in, out, k, k) as ``ConvTranspose2d``'s.
- ``T.dot(x, w)`` has ``w`` as (in, out); ``nn.Linear`` holds (out, in).
- BN gains and biases are plain vectors; no running statistics were saved (BN epsilon 1e-8,
  biased variance, as the variants ``svhn32`` and ``imagenet32`` set). The checkpoint says so
  (``bn_stats: "none"``): sampling uses batch statistics, features need population statistics.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import torch

from . import checkpoint, nets, variants
from .errors import UserError, refuse_overwrite

# The registered variants that describe released models, tried in this order.
RELEASED_VARIANTS = ("svhn32", "imagenet32")
_SHARD = re.compile(r"^(\d+)_(gen|discrim)_params\.jl_(\d+)\.npy$")


def expected_shards(v: variants.Variant) -> dict[str, list[tuple[str, tuple[int, ...]]]]:
    """For "gen" and "discrim": (our parameter name, the released array's shape), in file order."""
    netG, netD = nets.Generator(v), nets.Discriminator(v)
    out = {}
    for part, net in (("gen", netG), ("discrim", netD)):
        out[part] = [
            (name, tuple(reversed(p.shape)) if p.dim() == 2 else tuple(p.shape))
            for name, p in net.named_parameters()
        ]
    return out


def to_torch(array: np.ndarray) -> torch.Tensor:
    """One released array in PyTorch's convention."""
    t = torch.from_numpy(np.ascontiguousarray(array))
    if t.dim() == 4:
        return t.flip(-2, -1).contiguous()  # true convolution -> cross-correlation
    if t.dim() == 2:
        return t.t().contiguous()  # T.dot(x, w): (in, out) -> nn.Linear: (out, in)
    return t


def find_shards(folder: Path) -> tuple[int, dict[str, dict[int, Path]]]:
    if not folder.is_dir():
        raise UserError(
            f"{folder} is not a folder; give the released model folder (e.g."
            " dcgan_code/models/svhn_unsup_...)"
        )
    found: dict[int, dict[str, dict[int, Path]]] = {}
    for p in folder.iterdir():
        if m := _SHARD.match(p.name):
            found.setdefault(int(m.group(1)), {"gen": {}, "discrim": {}})[m.group(2)][
                int(m.group(3))
            ] = p
    if not found:
        raise UserError(
            f"no N_gen_params.jl_NN.npy / N_discrim_params.jl_NN.npy shards in {folder}; is it a"
            " dcgan_code model folder?"
        )
    if len(found) > 1:
        raise UserError(
            f"{folder} holds several checkpoints ({', '.join(map(str, sorted(found)))}); copy one"
            " checkpoint's shards into a folder of its own"
        )
    number, shards = next(iter(found.items()))
    return number, shards


def _shape(path: Path) -> tuple[int, ...]:
    try:
        return tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape)
    except Exception as e:
        raise UserError(
            f"{path} is not a readable .npy array ({type(e).__name__}: {e}); copy it again from"
            " dcgan_code"
        ) from None


def recognise(
    number: int, shards: dict[str, dict[int, Path]]
) -> tuple[variants.Variant, list[str]]:
    """The released variant whose layout fits every present shard, and the missing shards."""
    shapes = {part: {i: _shape(p) for i, p in files.items()} for part, files in shards.items()}
    best = None
    for name in RELEASED_VARIANTS:
        v = variants.get(name)
        layout = expected_shards(v)
        misfits, missing = [], []
        for part, expected in layout.items():
            for i, (_, shape) in enumerate(expected, start=1):
                fname = f"{number}_{part}_params.jl_{i:02d}.npy"
                if i not in shapes[part]:
                    missing.append(fname)
                elif shapes[part][i] != shape:
                    misfits.append(f"{fname} is {shapes[part][i]}, expected {shape}")
            extra = sorted(set(shapes[part]) - set(range(1, len(expected) + 1)))
            misfits += [
                f"{number}_{part}_params.jl_{i:02d}.npy is not part of {name}" for i in extra
            ]
        if not misfits:
            return v, missing
        score = len(misfits)
        if best is None or score < best[0]:
            best = (score, name, misfits)
    _, name, misfits = best
    raise UserError(
        f"the shards fit no released model; closest is {name}:"
        f" {'; '.join(misfits[:4])}{' ...' if len(misfits) > 4 else ''}"
    )


def import_folder(folder: str | Path) -> dict:
    """A released model folder -> a checkpoint state (not yet written)."""
    folder = Path(folder)
    number, shards = find_shards(folder)
    v, missing = recognise(number, shards)
    if missing:
        raise UserError(
            f"{folder} is incomplete for {v.name}: missing {', '.join(missing)}; copy them from"
            " dcgan_code's models/ folder"
        )
    netG, netD = nets.Generator(v), nets.Discriminator(v)
    layout = expected_shards(v)
    digests = {}
    for part, net in (("gen", netG), ("discrim", netD)):
        params = dict(net.named_parameters())
        with torch.no_grad():
            for i, (pname, _) in enumerate(layout[part], start=1):
                path = shards[part][i]
                array = np.load(path, allow_pickle=False)
                if array.dtype != np.float32:
                    raise UserError(f"{path} holds {array.dtype}, expected float32")
                params[pname].copy_(to_torch(array))
                digests[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return {
        "variant": v.to_dict(),
        "netG": netG.state_dict(),
        "netD": netD.state_dict(),
        "step": number,
        # no running statistics exist in the files: the BN buffers above are placeholders
        "bn_stats": "none",
        "released": {
            "folder": str(folder.resolve()),
            "checkpoint": number,
            "source": "Newmu/dcgan_code models/ (MIT licence)",
            "sha256": digests,
        },
    }


def import_to(folder: str | Path, out: str | Path, force: bool = False) -> tuple[Path, dict]:
    """Import ``folder`` and write the checkpoint ``out`` atomically; refuses to overwrite."""
    out = Path(out)
    refuse_overwrite(out, force)
    state = import_folder(folder)  # raises before anything is written
    return checkpoint.save(state, out), state
