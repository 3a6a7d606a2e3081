"""Result rows on disk: one JSON file per run, and one CSV per kind that only ever grows.

A new run never overwrites an earlier run's rows: the JSON name carries the run's time stamp
(and a counter if two runs share a second), and the CSV is appended to.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from . import atomic, lock


def stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def newest(rows: list[dict], key) -> list[dict]:
    """One row per ``key(row)``: the newest by the row's time, so that a result set grown over
    several runs counts each thing once, with its latest measurement."""
    out: dict = {}
    for row in sorted(rows, key=lambda r: str(r.get("time") or "")):
        out[key(row)] = row
    return list(out.values())


_WRITTEN = re.compile(r"-(\d{8}-\d{6})(?:-(\d+))?\.json$")


def written_order(path: Path) -> tuple[str, int] | None:
    """Where a rows JSON named by ``write_rows`` (``name-<stamp>[-k].json``) falls in writing
    order, or None for a file not named so."""
    m = _WRITTEN.search(Path(path).name)
    return (m[1], int(m[2] or 1)) if m else None


def write_rows(
    rows: list[dict], out_dir, name: str, csv_name: str, fields: list[str]
) -> tuple[Path, Path]:
    """``rows`` to ``out_dir/name-<stamp>.json`` (never an existing file) and appended to
    ``out_dir/csv_name`` (columns ``fields``; the CSV's header is written once). Paths under
    the data root, the caches or the home folder are written from those (``portable``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = portable(list(rows), machine_roots())  # paths a reader elsewhere can follow
    text = json.dumps(rows, indent=1, default=str)
    base = f"{name}-{stamp()}"
    json_path, k = out_dir / f"{base}.json", 1
    while True:  # created exclusively: a worker writing the same name in the same second gets -2
        try:
            with open(json_path, "x") as f:
                f.write(text)
            break
        except FileExistsError:
            k += 1
            json_path = out_dir / f"{base}-{k}.json"
    csv_path = out_dir / csv_name
    # suite workers append to one CSV: one at a time, or a widening rewrite could drop a row
    with lock.exclusive(out_dir / lock.ROWS_LOCK):
        new = not csv_path.exists()
        if not new:
            _set_aside_torn_tail(csv_path)
            fields = _widen(csv_path, fields)
        with open(csv_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerows(rows)
    return json_path, csv_path


def _set_aside_torn_tail(csv_path: Path) -> None:
    """A rows file whose last line has no newline was torn by an interrupted append: that line
    moves, whole, to ``<file>.torn-<stamp>.txt`` beside it (nothing of it lost), and the file
    ends at its last complete row, so the next row is not glued onto it."""
    data = csv_path.read_bytes()
    if not data or data.endswith(b"\n"):
        return
    cut = data.rfind(b"\n") + 1
    torn = csv_path.with_name(f"{csv_path.name}.torn-{stamp()}.txt")
    torn.write_bytes(data[cut:])
    atomic.write_bytes(csv_path, data[:cut])
    print(
        f"note: the last line of {csv_path} was torn (an interrupted write); moved, whole, to"
        f" {torn}",
        file=sys.stderr,
    )


def _widen(csv_path: Path, fields: list[str]) -> list[str]:
    """The columns to append under: the file's own, plus any new ones. When there are new ones,
    the file is rewritten (atomically) with the wider header and every earlier row kept as it
    was, so appended rows never land under the wrong column."""
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        existing = list(reader.fieldnames or [])
        old_rows = list(reader)
    added = [c for c in fields if c not in existing]
    if not added:
        return existing
    wider = existing + added
    with atomic.replacing(csv_path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=wider)
        w.writeheader()
        w.writerows(old_rows)
    return wider


def check_tags(tags: dict, recorded, recorded_prefixes: tuple[str, ...] = ()) -> None:
    """Tags add columns to a row, never replace what the row records (its settings, provenance
    and measurements): checked before the work."""
    from .errors import UserError

    for name in tags:
        if name in recorded or name.startswith(recorded_prefixes):
            raise UserError(
                f"--tag {name}=... would replace the row's recorded {name!r}; tags add columns:"
                " choose a name the row does not record"
            )


# What a row is, in its own column: a trained model measured, its random-init control, another
# feature extractor measured as a baseline, a figure quoted from the paper, or a table cell that
# could not be measured (its note says why). Code reads ``kind_of``, never the free-text source.
MEASURED, CONTROL, BASELINE, QUOTED, NOT_MEASURED = (
    "measured",
    "control",
    "baseline",
    "quoted",
    "not measured",
)
KINDS = (MEASURED, CONTROL, BASELINE, QUOTED, NOT_MEASURED)


def kind_of(row: dict) -> str:
    """``row``'s kind. Rows written before the column existed (older rows files and records)
    derive it from their source text: this is the one place that text is read."""
    kind = row.get("kind")
    if kind in KINDS:
        return kind
    source = str(row.get("source", ""))
    if source.startswith(("quoted", "paper")):
        return QUOTED
    if source == "not measured":
        return NOT_MEASURED
    if "baseline" in source:
        return BASELINE
    return CONTROL if "control" in source else MEASURED


def machine_roots(data_root=None) -> list[tuple[str, str]]:
    """The folders whose absolute paths say only where this machine keeps things, each with the
    name a reader elsewhere understands: the data root (``data_root``, else $DCGAN_DATA_ROOT),
    dcgan-bench's cache, torch hub's folder (Inception weights), the home folder. Longest
    first, each in the forms a message may have written it (as given, absolute, resolved)."""
    import os

    import torch

    from . import cache

    named = [
        (data_root or os.environ.get("DCGAN_DATA_ROOT"), "<data root>"),
        (cache.root(), "<dcgan cache>"),
        (torch.hub.get_dir(), "<torch hub>"),
        (Path.home(), "~"),
    ]
    roots = {}
    for folder, name in named:
        if not folder:
            continue
        for form in (str(folder), os.path.abspath(folder), os.path.realpath(folder)):
            if len(form) > 1:  # never "/" itself
                roots.setdefault(form.rstrip("/"), name)
    return sorted(roots.items(), key=lambda kv: -len(kv[0]))


def portable(value, roots: list[tuple[str, str]]):
    """``value`` (a row, a list, text) with every path under a machine root written from that
    root's name: `<data root>/train_32x32.mat`, not `/home/me/data/train_32x32.mat`. Committed
    rows and reports then say what a reader elsewhere can find."""
    if isinstance(value, str):
        for prefix, name in roots:
            # a function as the replacement: the name is taken as it is, never as a pattern
            value = re.sub(re.escape(prefix) + r"(?=/|\b|$)", lambda _, n=name: n, value)
        return value
    if isinstance(value, dict):
        return {k: portable(v, roots) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(portable(v, roots) for v in value)
    return value
