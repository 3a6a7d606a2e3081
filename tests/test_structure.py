"""The house's shape, checked from the source: the package's imports form no cycle, nothing
imports the trainer's loop (training/loop.py) but the CLI, no stage imports the CLI, and no
private name crosses a package boundary. Imports inside functions count too: a lazy import is
still a dependency."""

import ast
from pathlib import Path

from .conftest import REPO

PACKAGE = REPO / "dcgan"


def module_name(path: Path) -> str:
    """A file's module name inside the package: ``curve``, ``probing.probe``, ``probing``."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path, modules: set[str]) -> list[tuple[str, list[str]]]:
    """(module of ours, the names taken from it) for each import in ``path``, relative ones
    resolved; ``from . import x`` of a module ``x`` counts as importing ``x``."""
    package = []  # bench/: absolute imports of dcgan only
    if path.is_relative_to(PACKAGE):
        name = module_name(path)
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level and not path.is_relative_to(PACKAGE):
            continue
        if node.level:
            base = package[: len(package) - (node.level - 1)]
        elif (node.module or "").split(".")[0] == "dcgan":
            base = []
        else:
            continue
        module = node.module or ""
        if not node.level:
            module = module.removeprefix("dcgan").lstrip(".")
        target = ".".join([*base, *filter(None, module.split("."))])
        names = [a.name for a in node.names]
        for n in names:
            sub = f"{target}.{n}" if target else n
            if sub in modules:
                found.append((sub, []))
        if node.level and target and target not in modules:  # not there (moved away)
            found.append((f"missing:{target}", names))
            continue
        taken = [n for n in names if (f"{target}.{n}" if target else n) not in modules]
        if target in modules and taken:  # names from the module (a package's __init__) itself
            found.append((target, taken))
    return found


def imports() -> dict[str, set[str]]:
    """module -> the package's modules it imports (anywhere in its file); subpackages' modules
    by dotted name (``probing.probe``), a subpackage's ``__init__`` as the package's name."""
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in files} - {""}
    return {
        module_name(p): {m for m, _ in _imported(p, modules)} - {module_name(p)}
        for p in files
        if module_name(p)
    }


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
    # every relative import names a module that is there (a lazy one inside a function too)
    missing = {m: sorted(d for d in deps if d.startswith("missing:")) for m, deps in graph.items()}
    assert not {m: d for m, d in missing.items() if d}, missing
    graph = {m: {d for d in deps if not d.startswith("missing:")} for m, deps in graph.items()}
    level = levels(graph)
    assert {m for m, deps in graph.items() if "training.loop" in deps} == {"cli"}
    assert not {m for m, deps in graph.items() if "cli" in deps}
    # the step, the runtime and the registries sit below every stage that uses them
    for low in ("step", "runtime", "quality.metrics", "data.images"):
        assert all(level[low] < level[m] for m, deps in graph.items() if low in deps), low
    assert level["cli"] == max(level.values())


def test_no_private_name_is_taken_from_another_package():
    """A subpackage's private names (``_prepare``) are its own: nothing outside it, in dcgan/ or
    bench/, imports one (a name that must be shared is made public, and the docstring of the
    subpackage says what it offers)."""
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in files} - {""}
    taken = []
    for path in [*files, *sorted((REPO / "bench").glob("*.py"))]:
        inside = module_name(path).rsplit(".", 1)[0] if path.is_relative_to(PACKAGE) else None
        for target, names in _imported(path, modules):
            package = target.rsplit(".", 1)[0] if "." in target else None
            if package and package != inside:
                taken += [f"{path.relative_to(REPO)}: {target}.{n}" for n in names if n[0] == "_"]
    assert not taken, taken


def test_subpackages_say_their_job_and_the_pipeline_reads_in_ls():
    """Each subpackage's __init__ opens with a docstring saying its job and what it may import."""
    packages = sorted(p.parent for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE)
    assert {p.name for p in packages} >= {"probing", "extractors"}
    for init in (p / "__init__.py" for p in packages):
        tree = ast.parse(init.read_text())
        doc = ast.get_docstring(tree)
        assert doc and len(doc.split()) > 15, init


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
