"""Option values checked where the option is declared: argparse ``type=`` objects that parse,
refuse what the command could not use (NaN, inf, out of range, an empty list, an output path of
the wrong kind) with one line naming the option, the rule and the value, and describe their rule
for ``--help``. argparse calls them while it reads the command line, so a bad value stops the
command before any data is loaded or any work done.

One mechanism for every command (dcgan's and bench/run.py's): ``explain(parser)`` appends each
option's rule to its help, and tests/test_options.py walks every option of every command with
the bad values each type names in ``bad_examples``.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

_Error = argparse.ArgumentTypeError


class Number:
    """A whole number (``kind=int``) or a finite real (``kind=float``) within ``[low, high]``;
    ``open_low`` / ``open_high`` exclude an end (a C of 0 or an alpha of 0 means nothing)."""

    def __init__(self, kind=int, low=None, high=None, *, open_low=False, open_high=False):
        self.kind, self.low, self.high = kind, low, high
        self.open_low, self.open_high = open_low, open_high
        self.__name__ = "whole number" if kind is int else "number"  # argparse's fallback name

    def rule(self) -> str:
        what = "a whole number" if self.kind is int else "a finite number"
        show = str if self.kind is int else "{:g}".format
        if self.low is not None and self.high is not None:
            left, right = "(" if self.open_low else "[", ")" if self.open_high else "]"
            return f"{what} in {left}{show(self.low)}, {show(self.high)}{right}"
        if self.low is not None:
            return f"{what} {'>' if self.open_low else '>='} {show(self.low)}"
        if self.high is not None:
            return f"{what} {'<' if self.open_high else '<='} {show(self.high)}"
        return what

    def __call__(self, text: str):
        try:
            value = self.kind(text)
        except (TypeError, ValueError):
            value = math.nan
        too_low = self.low is not None and (
            value < self.low or (self.open_low and value == self.low)
        )
        too_high = self.high is not None and (
            value > self.high or (self.open_high and value == self.high)
        )
        if not math.isfinite(value) or too_low or too_high:
            raise _Error(f"must be {self.rule()}; got {text!r}")
        return value

    def bad_examples(self) -> list[str]:
        """Values this option must refuse: NaN, infinities and one beyond each end."""
        out = ["nan", "inf", "-inf"]
        step = 1 if self.kind is int else None
        if self.low is not None:
            out.append(
                str(self.low if self.open_low else self.low - (step or max(1, abs(self.low))))
            )
        if self.high is not None:
            out.append(
                str(self.high if self.open_high else self.high + (step or max(1, abs(self.high))))
            )
        return out


def whole(low: int = 0, high: int | None = None) -> Number:
    return Number(int, low, high)


def count(high: int | None = None) -> Number:
    """A count of at least 1 (a zero would divide by zero or measure nothing)."""
    return Number(int, 1, high)


SEED = Number(int, 0, 2**32 - 1)  # numpy's and torch's seeds alike


class Items:
    """A comma-separated list with at least one item and no empty one (``"a,,b"`` is a typo, not
    two items), each checked by ``item`` (a type like these) when given, or one of ``words``
    alone (e.g. ``--grid paper``). Returns the text with the spaces around items removed: the
    commands read it as before."""

    def __init__(self, item=None, what: str = "comma-separated items", words: tuple = ()):
        self.item, self.what, self.words = item, what, words
        self.__name__ = "list"

    def rule(self) -> str:
        rule = f"one or more comma-separated {self.what}"
        if isinstance(self.item, Number):
            rule += f", each {self.item.rule()}"
        return rule + "".join(f", or {w!r}" for w in self.words)

    def __call__(self, text: str) -> str:
        if text.strip() in self.words:
            return text.strip()
        parts = [p.strip() for p in text.split(",")]
        if not text.strip() or any(not p for p in parts):
            raise _Error(f"must be {self.rule()}; got {text!r}")
        if self.item is not None:
            for p in parts:
                try:
                    self.item(p)
                except _Error as e:
                    raise _Error(f"{p!r} in {text!r}: {e}") from None
        return ",".join(parts)

    def bad_examples(self) -> list[str]:
        out = ["", " ", "a,,b" if self.item is None else "1,,2"]
        if isinstance(self.item, Number):
            out += [f"{b},1" if b else "" for b in self.item.bad_examples()[:1]]
        return out


class Text:
    """A non-empty value (an empty ``--bn-pool ""`` would silently mean something else)."""

    __name__ = "text"

    def __init__(self, what: str = "a non-empty value"):
        self.what = what

    def rule(self) -> str:
        return self.what

    def __call__(self, text: str) -> str:
        if not text.strip():
            raise _Error(f"must be {self.what}; got {text!r}")
        return text

    def bad_examples(self) -> list[str]:
        return ["", "  "]


class Existing:
    """An input path that must exist: a ``"file"``, a ``"folder"``, or either (``"path"``, e.g.
    a checkpoint or the run folder holding it)."""

    __name__ = "input path"

    def __init__(self, kind: str = "path"):
        self.kind = kind

    def rule(self) -> str:
        return {"file": "an existing file", "folder": "an existing folder"}.get(
            self.kind, "an existing file or folder"
        )

    def __call__(self, text: str) -> str:
        path = Path(text).expanduser()
        ok = {"file": path.is_file, "folder": path.is_dir}.get(self.kind, path.exists)()
        if not text.strip() or not ok:
            raise _Error(f"must be {self.rule()}; {text!r} is not")
        return text

    def bad_examples(self) -> list[str]:
        return ["", "/no/such/path/dcgan-bench"]


class NewFile:
    """An output file to write: its name ends in one of ``suffixes`` and its folder exists (or
    can be made) and takes a new file, checked before the work, so the result is never lost to
    a bad name or a read-only folder afterwards."""

    __name__ = "output file"

    def __init__(self, *suffixes: str):
        self.suffixes = suffixes

    def rule(self) -> str:
        return "a file path ending in " + " or ".join(self.suffixes)

    def __call__(self, text: str) -> str:
        if not text.strip():
            raise _Error(f"must be {self.rule()}; got {text!r}")
        path = Path(text)
        if path.suffix.lower() not in self.suffixes:
            raise _Error(f"must be {self.rule()}; got {text!r}")
        if path.is_dir():
            raise _Error(f"{text} is a folder; must be {self.rule()}")
        _writable_folder(path.parent)
        return text

    def bad_examples(self) -> list[str]:
        return ["", "out.txt", "out"]


class Folder:
    """An output folder: a folder or a path where one can be made, under a folder we can write
    to. Checked without creating anything (a failed command leaves no empty folder behind)."""

    __name__ = "folder"

    def rule(self) -> str:
        return "a folder we can write to (made if missing)"

    def __call__(self, text: str) -> str:
        if not text.strip():
            raise _Error(f"must be {self.rule()}; got {text!r}")
        _writable_folder(Path(text))
        return text

    def bad_examples(self) -> list[str]:
        return [""]


def _writable_folder(folder: Path) -> None:
    problem = folder_problem(folder)
    if problem:
        raise _Error(problem)


def folder_problem(folder) -> str | None:
    """Why ``folder`` cannot be written to or made, in one phrase with the fix, or None: its
    nearest existing ancestor must be a folder we may write to (no file where a folder of the
    path belongs). Nothing is created."""
    folder = Path(os.path.abspath(folder))
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is a file where a folder belongs; choose another path"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"cannot write to {probe}; choose a writable folder"
    return None


def explain(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Append each checked option's rule to its help (``--help`` shows the range), in every
    subcommand; returns the parser."""
    for action in walk(parser):
        rule = getattr(action.type, "rule", None)
        if rule and action.help is not argparse.SUPPRESS:
            action.help = f"{action.help} [{rule()}]" if action.help else f"[{rule()}]"
    return parser


def walk(parser: argparse.ArgumentParser):
    """Every option action of ``parser`` and its subcommands (positionals included)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from walk(sub)
        else:
            yield action
