"""An option and a command as data: what argparse's ``add_argument`` and ``add_parser`` take,
held in frozen records, so each command's options read as one declaration (a tuple of
``Option``) and options several commands share are one value, not repeated calls."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Option:
    """One option: its flags (or a positional's name) and argparse's keyword arguments."""

    flags: tuple[str, ...]
    settings: MappingProxyType

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(*self.flags, **self.settings)


def option(*flags: str, **settings) -> Option:
    """``option("--seed", type=A.SEED, default=0)``: the arguments of ``add_argument``."""
    return Option(tuple(flags), MappingProxyType(dict(settings)))


@dataclass(frozen=True)
class Command:
    """A `dcgan` subcommand: its name, its one-line help and its options in help order."""

    name: str
    help: str
    options: tuple[Option, ...] = ()


def command(name: str, help: str, *options: Option | tuple[Option, ...]) -> Command:
    """A command from options and groups of options (tuples), flattened in order."""
    flat: list[Option] = []
    for o in options:
        flat.extend(o if isinstance(o, tuple) else (o,))
    return Command(name, help, tuple(flat))
