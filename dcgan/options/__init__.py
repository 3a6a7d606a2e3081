"""Every `dcgan` command's options, declared once: what the CLI parses.

- ``shared``: the option groups several commands share, and the checked types they use;
- ``train``, ``probe``, ``quality``, ``figures``, ``tools``: each command group's options, one
  ``add(command)`` each;
- this module: the parser of every command, and ``outputs`` (which options name outputs).

Choices and help that list registered things (solvers, metrics, throughput stages, extractors)
are read from their registries when the parser is built. May import argtypes and the
registries; nothing here runs a command.
"""

from __future__ import annotations

import argparse

from .. import argtypes as A
from . import figures, probe, quality, tools, train
from .shared import summary_option  # noqa: F401  (bench/run.py declares its --summary with it)


def build_parser(names: list[str]) -> argparse.ArgumentParser:
    """The parser of every command in ``names`` (each parsed to ``args.command``)."""
    p = argparse.ArgumentParser(prog="dcgan", description="DCGAN benchmark harness")
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        if name not in names:
            raise ValueError(f"no command function for {name!r}")
        return sub.add_parser(name, help=help)

    for group in (train, probe, quality, figures, tools):
        group.add(command)
    command("variants", "list the registered variants")
    command("datasets", "list the registered datasets")
    command("extractors", "list the registered feature extractors and their settings")
    for sp in sub.choices.values():
        sp.add_argument("--json", action="store_true", help="print one JSON object on stdout")
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
