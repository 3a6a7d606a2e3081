"""Every `dcgan` command's options, declared once as data: what the CLI parses.

- ``spec``: ``Option`` and ``Command``, the records a declaration is made of;
- ``shared``: the options and groups of options several commands share, and the checked types
  they use;
- ``train``, ``probe``, ``quality``, ``figures``, ``tools``: each command group's declarations,
  one ``commands()`` each;
- this module: every command in order, the parser built from them, and ``outputs`` (which
  options name outputs).

Choices and help that list registered things (solvers, metrics, throughput stages, extractors)
are read from their registries when the declarations are made. May import argtypes and the
registries; nothing here runs a command.
"""

from __future__ import annotations

import argparse

from .. import argtypes as A
from . import figures, probe, quality, tools, train
from .spec import Command, command, option

JSON = option("--json", action="store_true", help="print one JSON object on stdout")

LISTINGS = (
    command("variants", "list the registered variants"),
    command("datasets", "list the registered datasets"),
    command("extractors", "list the registered feature extractors and their settings"),
)


def commands() -> tuple[Command, ...]:
    """Every command's declaration, in the order `dcgan --help` lists them."""
    groups = (train, probe, quality, figures, tools)
    return tuple(c for g in groups for c in g.commands()) + LISTINGS


def build_parser(names: list[str]) -> argparse.ArgumentParser:
    """The parser of every command in ``names`` (each parsed to ``args.command``)."""
    p = argparse.ArgumentParser(prog="dcgan", description="DCGAN benchmark harness")
    sub = p.add_subparsers(dest="command", required=True)
    for c in commands():
        if c.name not in names:
            raise ValueError(f"no command function for {c.name!r}")
        parser = sub.add_parser(c.name, help=c.help)
        for o in c.options + (JSON,):
            o.add_to(parser)
    return A.explain(p)


def outputs(parser: argparse.ArgumentParser, command: str, kind: type) -> list[str]:
    """The dests of ``command``'s outputs declared as ``kind`` (``A.Folder`` or ``A.NewFile``),
    the cache aside (many commands share it on purpose)."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [
        a.dest
        for a in sub.choices[command]._actions
        if isinstance(a.type, kind) and a.dest != "cache_dir"
    ]
