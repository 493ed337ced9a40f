"""runbook: run trust re-establishment procedures on security devices, resumably and undoably.

The engine is importable without the terminal UI; `screens` builds on this API only.
"""

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

__all__ = ["Decider", "Engine", "HostKeyError", "Inventory", "InventoryError", "Journal",
           "JournalError", "LoadedRun", "ProcedureError", "RunbookError", "StepView", "Target",
           "TransportError", "UsageError", "load_procedure", "load_procedure_text"]
