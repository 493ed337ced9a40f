"""No import circles among runbook's modules: each can be read knowing only those below it."""

from __future__ import annotations

import ast
from pathlib import Path

import runbook

ROOT = Path(runbook.__file__).parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(nodes: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, also inside functions, except under `if TYPE_CHECKING:`: those
    are annotations only, never executed, so they cannot make the order of imports matter."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in nodes:
        if isinstance(node, ast.If) and _type_checking_only(node):
            found += _walk(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                found += _walk([child])
    return found


def imports(name: str) -> set[str]:
    """The runbook modules `name` imports (a package's own name when only it is named)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in _walk(ast.parse(path.read_text()).body):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in MODULES}
            continue
        base = package
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        target = ".".join(p for p in (base if node.level else "", node.module or "") if p)
        for alias in node.names:
            sub = f"{target}.{alias.name}"
            if sub in MODULES:
                out.add(sub)
            elif target in MODULES:
                out.add(target)
    out.discard(name)
    return out


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (its modules in order, first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_walk_sees_runbooks_imports() -> None:
    graph = {name: imports(name) for name in MODULES}
    assert "runbook.indoubt" in graph["runbook.engine"]
    assert "runbook.steps.base" in graph["runbook.engine"]
    assert "runbook.commands.common" in graph["runbook.commands.records"]
    assert "runbook.lab.lab" in graph["runbook.commands.main"]  # imported inside a function
    assert "runbook.engine" not in graph["runbook.rollback"]  # under TYPE_CHECKING only


def test_the_circle_finder_finds_a_circle() -> None:
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b"}, "b": set()}) is None


def test_no_import_circles_among_runbook_modules() -> None:
    graph = {name: imports(name) for name in MODULES}
    circle = find_circle(graph)
    assert circle is None, "import circle: " + " -> ".join(circle or [])
