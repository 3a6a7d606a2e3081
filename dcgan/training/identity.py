"""What must match for a resumed run to continue the same training (its variant, its data and its
seed), and the refusal, field by field, of a checkpoint whose run differs."""

from __future__ import annotations

import json
from pathlib import Path

from .. import variants
from ..data import ImageSet
from ..errors import UserError
from ..variants import Variant


def of_run(v: Variant, dataset: ImageSet, n: int, resized_from: int | None, seed: int) -> dict:
    return {
        "variant": v.to_dict(),
        "data": {
            "dataset": dataset.name,
            "split": dataset.split,
            "fingerprint": dataset.fingerprint(),
            "n": n,
            "image_size": v.image_size,
            "resized_from": resized_from,
        },
        "seed": seed,
    }


def _canon(x):
    """JSON-normal form, so tuples and lists (and floats/ints) compare as saved."""
    return json.loads(json.dumps(x, default=str))


def refuse_if_differs(path: Path, state: dict, identity: dict) -> None:
    """A UserError naming every field where the run saved in ``state`` (at ``path``) differs from
    ``identity``; a variant saved before one of its fields existed has that field's default."""
    if "variant" in state:
        state = {**state, "variant": variants.from_dict(state["variant"]).to_dict()}
    differ = [k for k in identity if _canon(state.get(k)) != _canon(identity[k])]
    if not differ:
        return
    details = []
    for k in differ:
        old, new = state.get(k), identity[k]
        if isinstance(old, dict) and isinstance(new, dict):
            keys = sorted(
                kk for kk in set(old) | set(new) if _canon(old.get(kk)) != _canon(new.get(kk))
            )
            details += [f"{k}.{kk}: {old.get(kk)!r} in the run, {new.get(kk)!r} now" for kk in keys]
        else:
            details.append(f"{k}: {old!r} in the run, {new!r} now")
    raise UserError(
        f"refusing to resume {path}: the run differs ({'; '.join(details)}); use the run's"
        " own settings or a new --out"
    )
