"""Feature extractors as a registry: each entry maps uint8 images to a feature matrix, declares
its typed settings (``--set KEY=VALUE``), fits its own state where it has one (K-means centroids
and whitening, on the probe's unlabelled training pool, never on test images) and keys its
cached features on the images' content, its settings, its fitted state's inputs and its code.
The probe, its protocols and the reports take any extractor: the DCGAN discriminator (the
paper's recipe), Coates et al. 2011's K-means network, raw pixels, or a user's own module.

May import the package's lower modules (cache, atomic, images, features, nets, errors,
progress); never the probe, the report, the CLI or bench/.
"""

from __future__ import annotations

from ..errors import UserError
from ..registry import add_entry
from .base import Entry, Extractor, Setting
from .builtin import ENTRIES, discriminator, user_module

__all__ = ["Entry", "Extractor", "Setting", "discriminator", "get", "names", "resolve", "register"]

REGISTRY: dict[str, Entry] = {}


def register(entry: Entry) -> Entry:
    return add_entry(REGISTRY, "extractor", entry)


for _entry in ENTRIES:
    register(_entry)


def names() -> list[str]:
    return list(REGISTRY)


def get(name: str) -> Entry:
    if name not in REGISTRY:
        raise UserError(
            f"unknown extractor {name!r}; extractors: {', '.join(names())}, or a user encoder"
            " as module.path:callable"
        )
    return REGISTRY[name]


def resolve(spec: str, sets: list[str] | None = None) -> Extractor:
    """``--features SPEC --set KEY=VALUE ...`` -> an extractor: a registered name, or
    ``module.path:callable`` returning a ``torch.nn.Module`` (which takes no settings)."""
    if ":" in spec:
        if sets:
            raise UserError(f"--set is for registered extractors; {spec!r} takes no settings")
        return user_module(spec)
    return get(spec).build(sets)


def listing() -> list[dict]:
    """What `dcgan extractors` prints: each entry, its description and settings."""
    return [
        {
            "name": e.name,
            "description": e.description,
            "settings": [s.describe() for s in e.settings],
        }
        for e in REGISTRY.values()
    ]
