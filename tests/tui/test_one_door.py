"""Screens reach the engine only through screens/backend.py (plus the contract types)."""

from __future__ import annotations

import ast
from pathlib import Path

SCREENS = Path(__file__).resolve().parents[2] / "screens"
ALLOWED = {"runbook.events", "runbook.errors", "runbook.model", "runbook.engine",
           "runbook.library"}
DOORS = {"backend.py", "app.py"}  # app.py starts the lab for `runbook demo`
# The observer is a door of its own: it reads the journal through the read-only feed only.
OWN_DOORS = {"observe.py": {"runbook.observe_feed"}}


def runbook_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    # The screens ship inside the package as runbook.screens: one screen importing another
    # (serve.py, run by path, must name it absolutely) is not a way round the backend.
    return {m for m in found if (m == "runbook" or m.startswith("runbook."))
            and m != "runbook.screens" and not m.startswith("runbook.screens.")}


def test_screens_import_only_the_backend_and_the_contract_types() -> None:
    for path in sorted(SCREENS.glob("*.py")):
        if path.name in DOORS:
            continue
        extra = runbook_imports(path) - ALLOWED - OWN_DOORS.get(path.name, set())
        assert not extra, f"{path.name} imports {sorted(extra)}: go through Backend"


def test_screens_read_no_journal_but_through_the_backend() -> None:
    for path in sorted(SCREENS.glob("*.py")):
        if path.name != "backend.py":
            assert ".journal" not in path.read_text(), path.name


def test_screens_need_no_type_ignore_to_call_their_app() -> None:
    for path in sorted(SCREENS.glob("*.py")):
        assert "type: ignore" not in path.read_text(), path.name
