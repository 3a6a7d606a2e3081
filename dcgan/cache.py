"""Content-hash keyed files shared by the stages (decoded images, features, BN statistics,
Inception statistics, finished fits): where the cache lives, how a key is made from everything
that changes the numbers, and a fingerprint of the code that computes them.

Keys hash inputs, never names alone: a cached file is reused only for the same weights, the
same images, the same recipe and the same code.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from pathlib import Path

ENV = "DCGAN_CACHE"


def root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir`` if given, else $DCGAN_CACHE, else ~/.cache/dcgan-bench."""
    if cache_dir:
        return Path(cache_dir)
    return Path(os.environ.get(ENV) or Path.home() / ".cache" / "dcgan-bench")


def key(parts: dict, length: int = 20) -> str:
    """A hex key for a dict of JSON-serialisable inputs (its key order does not matter)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:length]


def code_fingerprint(*code, extra: tuple[str, ...] = ()) -> str:
    """A hash of ``extra`` (e.g. a library's version) and the source text of each function,
    class or module in ``code``: a cache keyed on it is recomputed when that code is edited,
    which a package version nobody remembers to bump does not do."""
    parts = list(extra) + [inspect.getsource(c) for c in code]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
