"""Content-hash keyed files shared by the stages (decoded images, features, BN statistics,
Inception statistics, finished fits): where the cache lives, how a key is made from everything
that changes the numbers, and a fingerprint of the code that computes them.

Keys hash inputs, never names alone: a cached file is reused only for the same weights, the
same images, the same recipe and the same code.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import os
import textwrap
from pathlib import Path

ENV = "DCGAN_CACHE"


def root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir`` if given, else $DCGAN_CACHE, else ~/.cache/dcgan-bench."""
    if cache_dir:
        return Path(cache_dir)
    return Path(os.environ.get(ENV) or Path.home() / ".cache" / "dcgan-bench")


def check_writable(cache_dir: str | os.PathLike | None = None) -> None:
    """The cache folder can take files, checked before any work: an unwritable $DCGAN_CACHE is
    one line naming it, not a traceback after the features are computed."""
    from .argtypes import folder_problem
    from .errors import UserError

    problem = folder_problem(root(cache_dir))
    if problem:
        given = "--cache-dir" if cache_dir else f"${ENV}" if os.environ.get(ENV) else "the cache"
        raise UserError(f"{given} ({root(cache_dir)}): {problem}")


def key(parts: dict, length: int = 20) -> str:
    """A hex key for a dict of JSON-serialisable inputs (its key order does not matter)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:length]


def code_fingerprint(*code, extra: tuple[str, ...] = ()) -> str:
    """A hash of ``extra`` (e.g. a library's version) and the syntax of each function, class or
    module in ``code``: a cache keyed on it is recomputed when that code is edited, which a
    package version nobody remembers to bump does not do, but not when only its layout,
    comments or docstrings change (reformatting the source keeps every cached file)."""
    parts = list(extra) + [syntax(inspect.getsource(c)) for c in code]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def syntax(source: str) -> str:
    """The syntax tree of ``source`` as text, without positions, comments or docstrings."""
    tree = ast.parse(textwrap.dedent(source))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)
