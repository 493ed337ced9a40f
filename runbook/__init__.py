"""runbook: run trust re-establishment procedures on security devices, resumably and undoably.

The engine is importable without the terminal UI; `runbook.screens` builds on this API only.
"""

import os as _os
from importlib import import_module as _import
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below are loaded on first use (see __getattr__)
    from .context import Decider, LoadedRun
    from .engine import Engine, StepView
    from .errors import (
        HostKeyError,
        InventoryError,
        JournalError,
        ProcedureError,
        RunbookError,
        TransportError,
        UsageError,
    )
    from .inventory import Inventory, Target
    from .journal import Journal
    from .loader import load_procedure, load_procedure_text

# Nothing is imported with the package itself: `runbook --help`, the TUI and every
# `import runbook.x` would otherwise pay for asyncssh, pydantic models and SQLite first.
_LAZY = {"Decider": "context", "LoadedRun": "context", "Engine": "engine",
         "StepView": "engine", "HostKeyError": "errors", "InventoryError": "errors",
         "JournalError": "errors", "ProcedureError": "errors", "RunbookError": "errors",
         "TransportError": "errors", "UsageError": "errors", "Inventory": "inventory",
         "Target": "inventory", "Journal": "journal", "load_procedure": "loader",
         "load_procedure_text": "loader"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'runbook' has no attribute {name!r}")
    value = getattr(_import(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


# Installed, the terminal UI and the shipped procedures are the subpackages runbook.screens and
# runbook.procedures (pyproject maps them there); a source checkout keeps them beside this
# folder (screens/, procedures/), so there they are looked for one level up.
_checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if not _os.path.isdir(_os.path.join(__path__[0], "screens")) and _os.path.isfile(
        _os.path.join(_checkout, "screens", "__init__.py")):
    __path__.append(_checkout)

__all__ = ["Decider", "Engine", "HostKeyError", "Inventory", "InventoryError", "Journal",
           "JournalError", "LoadedRun", "ProcedureError", "RunbookError", "StepView", "Target",
           "TransportError", "UsageError", "load_procedure", "load_procedure_text"]
