"""What every feature extractor is: a typed setting, a registry entry, and an ``Extractor`` that
maps uint8 images to a feature matrix, with its features cached on disk under a key of the
images' content, the extractor's settings, its fitted state's inputs and its code."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import __version__, atomic, cache
from ..errors import UserError


@dataclass(frozen=True)
class Setting:
    """One ``--set KEY=VALUE`` of an extractor: its type, default, and the least value it takes."""

    name: str
    kind: type  # int, float or str
    default: object
    help: str
    low: float | None = None  # inclusive

    def parse(self, raw: str, entry: str):
        try:
            value = self.kind(raw)
        except ValueError:
            raise UserError(
                f"--set {self.name}={raw}: {entry}'s {self.name} takes a {self.kind.__name__}"
            ) from None
        if self.kind is float and not np.isfinite(value):
            raise UserError(f"--set {self.name}={raw}: {entry}'s {self.name} must be finite")
        if self.low is not None and value < self.low:
            raise UserError(
                f"--set {self.name}={raw}: {entry}'s {self.name} must be at least {self.low:g}"
            )
        return value

    def describe(self) -> str:
        low = f", >= {self.low:g}" if self.low is not None else ""
        return f"{self.name}={self.default} ({self.kind.__name__}{low}): {self.help}"


@dataclass(frozen=True)
class Entry:
    """A registered extractor: ``make(settings)`` builds it from parsed settings."""

    name: str
    description: str
    make: Callable[[dict], Extractor]
    settings: tuple[Setting, ...] = ()

    def build(self, pairs: list[str] | None) -> Extractor:
        """The extractor with ``pairs`` applied, labelled by its first setting and every one
        that differs from its default (``kmeans[K=1600]``, ``kmeans[K=400,seed=1]``)."""
        values = self.parse(pairs)
        extractor = self.make(values)
        extractor.label_keys = tuple(
            s.name for i, s in enumerate(self.settings) if i == 0 or values[s.name] != s.default
        )
        return extractor

    def parse(self, pairs: list[str] | None) -> dict:
        """``["K=400"]`` -> every setting's value, the defaults filled in."""
        known = {s.name: s for s in self.settings}
        out = {s.name: s.default for s in self.settings}
        for pair in pairs or []:
            key, sep, raw = pair.partition("=")
            key = key.strip()
            if not sep:
                raise UserError(f"--set {pair!r} is not KEY=VALUE (e.g. --set K=1600)")
            if key not in known:
                have = ", ".join(known) or "none"
                raise UserError(f"extractor {self.name!r} has no setting {key!r}; settings: {have}")
            out[key] = known[key].parse(raw.strip(), self.name)
        return out


@dataclass
class Extractor:
    """An extractor ready to run. Subclasses give ``fitted_key`` (what its fitted state depends
    on) and ``encoder`` (a function of uint8 NHWC images, fitted on the pool where it fits
    anything); this class streams, caches and records."""

    entry: str
    settings: dict = field(default_factory=dict)
    # the features are standardised (x - mean) / sqrt(var + eps) over the training pool by the
    # probe, which holds the pool (the K-means recipe's last step); None: used as they are
    standardise_eps: float | None = None
    batch_images: int = 256  # images per encoder call on the CPU (more on CUDA)
    label_keys: tuple[str, ...] | None = None  # the settings the label names (None: all)
    title: str = ""  # the method by its published name, shown beside the label in tables

    @property
    def label(self) -> str:
        """The row's name: the entry and its settings, e.g. ``kmeans[K=1600]``."""
        keys = self.settings if self.label_keys is None else self.label_keys
        inner = ",".join(f"{k}={self.settings[k]}" for k in keys)
        return f"{self.entry}[{inner}]" if inner else self.entry

    # the published recipe's own C where it fixes one (the probe chooses C by validation)
    fixed_C: str | None = None

    def anchor(self, protocol: str) -> str:
        """The published figure this extractor's ``protocol`` result is to be held against, with
        its source; empty where none exists."""
        return ""

    def fitted_key(self, pool) -> dict:
        raise NotImplementedError

    def fitted_on(self, pool) -> str:
        """Where the fitted state comes from, for the rows."""
        return "nothing (no fitted state)"

    def encoder(self, pool, cache_dir, device, log) -> Callable[[np.ndarray], torch.Tensor]:
        raise NotImplementedError

    def cached_features(
        self, images, pool=None, cache_dir=None, device="cpu", progress=True, log=print
    ) -> tuple[np.ndarray, dict]:
        """The features of ``images`` (a ``data.ImageSet``), fitted on ``pool`` where the
        extractor fits anything, cached on disk. Returns (features, record)."""
        from ..progress import bar

        key = cache.key(
            {"extractor": self.fitted_key(pool), "data": images.fingerprint(), "code": __version__}
        )
        path = cache.root(cache_dir) / "features" / f"{key}.npy"
        record = {
            "cache": str(path),
            "key": key,
            "features": self.label,
            "fitted_on": self.fitted_on(pool),
            "n": len(images),
            "dataset": images.name,
            "split": images.split,
        }
        if path.exists():
            f = np.load(path, mmap_mode="r")
            return f, {**record, "feature_dim": int(f.shape[1]), "cached": True}
        t0 = time.perf_counter()
        encode = self.encoder(pool, cache_dir, device, log)
        t1 = time.perf_counter()
        step = self.batch_images * (16 if torch.device(device).type == "cuda" else 1)
        dim = int(encode(images.x[:1]).shape[1])
        with atomic.replacing(path) as tmp:
            out = np.lib.format.open_memmap(
                tmp, mode="w+", dtype=np.float32, shape=(len(images), dim)
            )
            for i in bar(
                range(0, len(images), step),
                desc=f"{self.entry} features",
                unit="batch",
                disable=not progress,
            ):
                out[i : i + step] = encode(images.x[i : i + step]).float().cpu().numpy()
            out.flush()
            del out
        seconds = {"seconds_state": t1 - t0, "seconds_encode": time.perf_counter() - t1}
        return np.load(path, mmap_mode="r"), {
            **record,
            **seconds,
            "feature_dim": dim,
            "cached": False,
        }
