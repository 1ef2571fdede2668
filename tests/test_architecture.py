"""The shape of the code: no import circle among smoke's modules, and every module named where a newcomer looks."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "smoke"
# Cycles left on purpose, each named with why (none today). A function-level import is a deliberate lazy one and is
# not an edge of the graph; an import under ``if TYPE_CHECKING:`` is a type only.
KNOWN_CYCLES: list[frozenset[str]] = []


def _module_name(path: Path) -> str:
    """``smoke/emulator/store.py`` → ``smoke.emulator.store``; a package's ``__init__.py`` → the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    """Every module of the ``smoke`` package, by dotted name."""
    return {_module_name(path): path for path in sorted(SMOKE.rglob("*.py"))}


def _load_time_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements run when a module loads: its body, into ``if``/``try`` blocks, but not ``if TYPE_CHECKING:``."""
    out: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out += _load_time_statements(node.orelse)
        elif isinstance(node, ast.If):
            out += _load_time_statements(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            out += _load_time_statements(node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body])
        else:
            out.append(node)
    return out


def _top_level_imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The smoke modules ``path`` imports when it is loaded: module-level statements, not under TYPE_CHECKING."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _load_time_statements(ast.parse(path.read_text(encoding="utf-8")).body):
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
    """Which smoke modules each smoke module imports at load time."""
    modules = _modules()
    known = set(modules)
    return {name: _top_level_imports(path, name, known) for name, path in modules.items()}


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
    """The graph is not vacuous: known edges are there, and function-level or TYPE_CHECKING imports are not."""
    graph = import_graph()
    assert "smoke.emulator.checkout" in graph["smoke.emulator.store"]
    assert "smoke.emulator.payments" in graph["smoke.emulator.checkout"]
    assert "smoke.emulator.store" not in graph["smoke.emulator.checkout"]  # a type only
    assert "smoke.emulator.store" in graph["smoke.emulator.api"]


def test_no_import_circle() -> None:
    """No two smoke modules import each other, directly or through others, when they load."""
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
