"""Writing a file so that a crash never leaves it half-written: write a temporary file beside
it, then rename it over the target (atomic within one filesystem). The old file, if any, stays
whole until the new one is complete."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path beside ``path`` to write to; when the block ends without error
    it is renamed over ``path``, otherwise removed. The temporary name keeps ``path``'s
    extension (np.save and np.savez would otherwise append one) and the process id (two
    processes writing the same file do not write into each other's temporary)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> Path:
    with replacing(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with replacing(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def json_record(path: str | os.PathLike, compute: Callable[[], dict], **dump) -> tuple[dict, bool]:
    """(the finished record at ``path``, True) where a readable one is there; else
    (``compute()``, False), written atomically once computed. Resumable work keeps one such file
    per finished piece: an interruption loses only the piece it was in, and a torn or unreadable
    file is computed again rather than trusted."""
    path = Path(path)
    if path.exists():
        try:
            return json.loads(path.read_text()), True
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            pass  # computed again below
    record = compute()
    write_text(path, json.dumps(record, **dump))
    return record, False
