"""The house's shape, checked from the source: the package's imports form no cycle, nothing
imports the trainer's loop (train.py) but the CLI, and no stage imports the CLI. Imports inside
functions count too: a lazy import is still a dependency."""

import ast

from .conftest import REPO

PACKAGE = REPO / "dcgan"


def imports() -> dict[str, set[str]]:
    """module -> the package's modules it imports (anywhere in its file)."""
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    out = {}
    for path in PACKAGE.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                found |= {node.module} if node.module else {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dcgan"):
                found |= (
                    {node.module.split(".")[1]}
                    if "." in node.module
                    else {a.name for a in node.names}
                )
        out[path.stem] = (found & modules) - {path.stem}
    return out


def levels(graph: dict[str, set[str]]) -> dict[str, int]:
    """Each module's level: 0 imports nothing of ours, else one more than its highest import;
    a cycle has no level and fails here."""
    level: dict[str, int] = {}
    while len(level) < len(graph):
        ready = {
            m: 1 + max((level[d] for d in deps), default=-1)
            for m, deps in graph.items()
            if m not in level and deps <= set(level)
        }
        assert ready, f"an import cycle among {sorted(set(graph) - set(level))}"
        level.update(ready)
    return level


def test_the_package_imports_form_no_cycle_and_only_the_cli_imports_the_trainer():
    graph = imports()
    level = levels(graph)
    assert {m for m, deps in graph.items() if "train" in deps} == {"cli"}
    assert not {m for m, deps in graph.items() if "cli" in deps}
    # the step, the runtime and the registries sit below every stage that uses them
    for low in ("step", "runtime", "metrics", "images"):
        assert all(level[low] < level[m] for m, deps in graph.items() if low in deps), low
    assert level["cli"] == max(level.values())


def configured_line_length() -> int:
    """ruff's line-length from pyproject.toml: the one limit the code is held to (read by
    pattern: tomllib is Python 3.11+, and the project supports 3.10)."""
    import re

    text = (REPO / "pyproject.toml").read_text()
    return int(re.search(r"^line-length\s*=\s*(\d+)", text, re.M).group(1))


def test_every_line_is_within_the_configured_length():
    limit = configured_line_length()
    files = sorted(p for d in ("dcgan", "tests", "bench") for p in (REPO / d).rglob("*.py"))
    assert len(files) > 40
    long = [
        f"{path.relative_to(REPO)}:{number} ({len(line)} characters)"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if len(line) > limit
    ]
    assert not long, f"lines over {limit} characters: {long}"


def test_no_code_reads_a_rows_kind_from_its_source_text():
    """A row's kind is its own column, read through results.kind_of (which alone derives it for
    rows written before the column existed), never parsed out of the free-text source."""
    import re

    parse = re.compile(r"\b(r|row)(\.get\(\s*\"source\"|\[\"source\"\])")
    found = [
        f"{path.relative_to(REPO)}:{n}"
        for folder in ("dcgan", "bench")
        for path in sorted((REPO / folder).rglob("*.py"))
        if path.name != "results.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if parse.search(line)
    ]
    assert not found, found
