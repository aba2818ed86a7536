"""The package's shape: one folder per stage, no import cycle, modules small enough to read in one sitting."""

from __future__ import annotations

import ast
from pathlib import Path

import voiceguide

PACKAGE = Path(voiceguide.__file__).resolve().parent
MAX_LINES = 550  # "about 500": a module past this wants splitting
STAGES = ("catalog", "session", "voice", "sound", "live", "podcast", "studio", "commands")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, name: str, modules: set[str], *, is_package: bool = False) -> set[str]:
    """Every voiceguide module that module ``name`` imports, at the top or inside a function (both close a cycle)."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # 'from pkg import mod' imports the module pkg.mod when there is one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        found |= {t for t in targets if t in modules and t != name}
    return found


def import_graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(f) for f in files}
    graph = {}
    for f in files:
        name = module_name(f)
        graph[name] = imports_of(f.read_text(encoding="utf-8"), name, modules, is_package=f.stem == "__init__")
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_finder_sees_a_cycle_when_there_is_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_lazy_and_relative_imports() -> None:
    source = "import json\n\ndef f():\n    from voiceguide.session import timeline\n    from ..errors import X\n"
    modules = {"voiceguide.session", "voiceguide.session.timeline", "voiceguide.errors", "voiceguide.sound.mp3"}
    found = imports_of(source, "voiceguide.sound.mp3", modules)
    assert found == {"voiceguide.session.timeline", "voiceguide.errors"}


def test_no_import_cycle_in_the_package() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_every_stage_has_its_folder_and_nothing_else_sits_loose() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert set(STAGES) <= folders
    loose = {p.stem for p in PACKAGE.glob("*.py")}
    assert loose <= {"__init__", "__main__", "cli", "errors", "fileio", "progress", "signals"}, loose


def test_no_module_is_too_long_to_read_in_one_sitting() -> None:
    long = {module_name(f): n for f in PACKAGE.rglob("*.py") if (n := len(f.read_text().splitlines())) > MAX_LINES}
    assert not long, long
