"""The shape of the code: no import circle among smoke's modules, and every module named where a newcomer looks."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "smoke"
# Cycles left on purpose, each named with why (none, and none wanted). A function-level import is an edge like any
# other (a lazy import only hides a circle); an import under ``if TYPE_CHECKING:`` is a type only and is not.
KNOWN_CYCLES: list[frozenset[str]] = []


def _module_name(path: Path) -> str:
    """``smoke/emulator/store.py`` → ``smoke.emulator.store``; a package's ``__init__.py`` → the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    """Every module of the ``smoke`` package, by dotted name."""
    return {_module_name(path): path for path in sorted(SMOKE.rglob("*.py"))}


def _runtime_imports(nodes: Iterable[ast.AST]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run, at load time or in a function, but not one under ``if TYPE_CHECKING:``."""
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from _runtime_imports(node.orelse)
        else:
            yield from _runtime_imports(ast.iter_child_nodes(node))


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The smoke modules ``path`` imports, when it loads or in a function; not those it names under TYPE_CHECKING."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8")).body):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                if f"{base}.{alias.name}" in known:
                    found.add(f"{base}.{alias.name}")
                elif base in known:
                    found.add(base)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    """Which smoke modules each smoke module imports, at load time or in a function (types only excepted)."""
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan), each an import circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        """Tarjan's depth-first step from ``node``."""
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_imports() -> None:
    """The graph is not vacuous: known edges are there, a function-level import among them; TYPE_CHECKING ones are not."""
    graph = import_graph()
    assert "smoke.emulator.checkout" in graph["smoke.emulator.store"]
    assert "smoke.emulator.payments" in graph["smoke.emulator.checkout"]
    assert "smoke.emulator.store" not in graph["smoke.emulator.checkout"]  # a type only
    assert "smoke.emulator.store" in graph["smoke.emulator.api"]
    assert "smoke.emulator.app" in graph["smoke.emulator"]  # imported inside start_emulator


def test_function_level_imports_are_edges(tmp_path: Path) -> None:
    """An import in a function (or a method, or an ``else:`` of TYPE_CHECKING) counts; one for types only does not."""
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\n"
                      "if TYPE_CHECKING:\n    from smoke import a\nelse:\n    from smoke import b\n"
                      "def f():\n    from smoke import c\n    if TYPE_CHECKING:\n        import smoke.d\n"
                      "class K:\n    def g(self):\n        from . import e\n", encoding="utf-8")
    known = {"smoke.a", "smoke.b", "smoke.c", "smoke.d", "smoke.e"}
    assert _imports(source, "smoke.m", known) == {"smoke.b", "smoke.c", "smoke.e"}


def test_no_import_circle() -> None:
    """No two smoke modules import each other, directly or through others, whether when they load or in a function."""
    found = [c for c in cycles(import_graph()) if c not in KNOWN_CYCLES]
    assert not found, "import circles: " + "; ".join(" ↔ ".join(sorted(c)) for c in found)


def test_cycles_finds_a_circle() -> None:
    """The detector itself: a → b → c → a is one circle; a tail into it is not part of it."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]
    assert cycles({"a": {"b"}, "b": set()}) == []


def _named(path: Path) -> str:
    """How the docs name a module: its file name, or ``package/`` for a package's ``__init__.py``."""
    return f"{path.parent.name}/" if path.name == "__init__.py" else path.name


def _layout() -> str:
    """README's "Layout" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]


DOCUMENTED = sorted(p for p in SMOKE.rglob("*.py") if p.parent.name != "suites" or p.name == "__init__.py")


@pytest.mark.parametrize("doc", ["docs/architecture.md", "README.md#Layout"])
def test_every_module_is_named(doc: str) -> None:
    """Every module under smoke/ (the suites' checks as their folder) is named in the architecture map and the Layout."""
    text = _layout() if doc.endswith("#Layout") else (ROOT / doc).read_text(encoding="utf-8")
    missing = [str(p.relative_to(ROOT)) for p in DOCUMENTED if _named(p) not in text]
    assert not missing, f"{doc} does not name: {', '.join(missing)}"


def test_architecture_names_the_checks() -> None:
    """docs/architecture.md names every suite module, so a check is one hop away."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [p.name for p in sorted((SMOKE / "suites").glob("test_*.py")) if p.name not in text]
    assert not missing, f"docs/architecture.md does not name: {', '.join(missing)}"


def test_architecture_names_only_files_that_exist() -> None:
    """Every file or folder docs/architecture.md names in backquotes is in smoke/ (moto's and fixtures' excepted)."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = {n for n in re.findall(r"`([\w./]+(?:\.py|/))`", text) if not n.startswith("/")}  # not URL paths
    named -= {"smoke/", "fixtures/events/", "urls.py", "responses.py", "models.py"}
    paths = [p.relative_to(SMOKE).as_posix() + ("/" if p.is_dir() else "") for p in SMOKE.rglob("*")]
    stray = sorted(n for n in named if not any(p == n or p.endswith("/" + n) for p in paths))
    assert not stray, f"docs/architecture.md names what is not in smoke/: {', '.join(stray)}"



MAX_FUNCTION_LINES = 80


def _long_functions(path: Path) -> list[str]:
    """The functions (nested ones too) in ``path`` longer than MAX_FUNCTION_LINES, as ``file:line name (n lines)``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_over_80_lines() -> None:
    """Every function under smoke/ fits in 80 lines; a longer one is split into named steps."""
    long = [entry for path in sorted(SMOKE.rglob("*.py")) for entry in _long_functions(path)]
    assert not long, "functions over 80 lines: " + "; ".join(long)
