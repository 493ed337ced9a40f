"""runbook: run trust re-establishment procedures on security devices, resumably and undoably.

The engine is importable without the terminal UI; `runbook.screens` builds on this API only.
"""

import os as _os

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
