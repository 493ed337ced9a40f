"""The app's only door to the engine: journal, inventory, engines, rollback and exports."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runbook import Engine, Inventory, Journal, load_procedure
from runbook.errors import UsageError
from runbook.export import build_plan, build_record, render
from runbook.journal_records import RunRecord
from runbook.library import Entry, catalogue
from runbook.loader import load_procedure_text, procedure_hash
from runbook.model import Procedure
from runbook.paths import data_dir as resolve_data_dir
from runbook.paths import private_file, write_private
from runbook.rollback import rollback, select_steps

EXPORT_FORMATS = ("md", "json", "html")


def transport_factory(data: Path) -> Callable[[Any], Any]:
    """Transports that verify host keys against known_hosts and runbook's trust file."""
    from runbook.hostkeys import HostKeyStore
    from runbook.transport import Transport

    store = HostKeyStore(data)
    return lambda inv: Transport(inv, store)


@dataclass
class Backend:
    """Everything the screens read from or ask of the engine; built once by `create_app`."""

    data_dir: Path
    journal: Journal
    inventory: Inventory | None = None
    inventory_path: str | None = None
    transports: Callable[[Any], Any] | None = None

    @classmethod
    def open(cls, data_dir: str | Path | None = None,
             inventory_path: str | Path | None = None) -> Backend:
        """Open the run store (and the inventory); raises RunbookError."""
        data = resolve_data_dir(data_dir)
        backend = cls(data, Journal.open(data))
        if inventory_path:
            backend.use_inventory(inventory_path)
        return backend

    def use_inventory(self, path: str | Path) -> None:
        """Load (or reload) the inventory; raises InventoryError."""
        self.inventory = Inventory.load(path)
        self.inventory_path = str(path)

    def engine(self, decider: Any) -> Engine:
        """A fresh engine answering questions through `decider`."""
        return Engine(self.journal, decider,
                      transport_factory=self.transports or transport_factory(self.data_dir),
                      inventory_from_snapshot=Inventory.from_snapshot)

    # ---- reading ---------------------------------------------------------------------------

    @staticmethod
    def procedures() -> list[Entry]:
        """The shipped procedure library."""
        return catalogue()

    @staticmethod
    def procedure(path: str) -> tuple[Procedure, str]:
        """Load a procedure file and its text; raises ProcedureError."""
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise UsageError(f"{p}: cannot read: {exc.strerror}") from None
        return load_procedure(p), text

    def runs(self) -> list[RunRecord]:
        """Every run: unfinished first, newest first within each group."""
        runs = self.journal.list_runs()
        return [r for r in runs if not r.finished] + [r for r in runs if r.finished]

    def run(self, ref: str) -> RunRecord:
        """One run by id or unique prefix; raises RunNotFound."""
        return self.journal.get_run(ref)

    # ---- rollback and exports ---------------------------------------------------------------

    @staticmethod
    def rollback_function() -> Callable[..., Any]:
        """`runbook.rollback.rollback`."""
        return rollback

    @staticmethod
    def rollback_plan(engine: Any, run_id: str, to_step: str | None) -> tuple[list[Any], list[Any]]:
        """(steps to undo, their backups) without changing anything."""
        journal = engine.journal
        rec = journal.get_run(run_id)
        procedure = load_procedure_text(rec.procedure_text, rec.procedure_path)
        backups = journal.backups(rec.id)
        steps = select_steps(procedure, journal.latest_attempts(rec.id), backups, to_step, None)
        ids = {s.id for s in steps}
        return steps, [b for b in backups if b.step_id in ids and b.restored_at is None]

    def export_run(self, run_id: str, fmt: str, path: str | Path) -> Path:
        """Write a run's change record to `path` (mode 0600); raises RunbookError."""
        out = Path(path).expanduser()
        record = build_record(self.journal, self.run(run_id).id, out.with_name(out.name + ".logs"))
        return _write(out, render(record, fmt))

    def export_plan(self, plan: dict[str, Any], fmt: str, path: str | Path) -> Path:
        """Write a plan (from `plan()`) to `path` (mode 0600)."""
        return _write(Path(path).expanduser(), render(plan, fmt))

    def plan(self, procedure: Procedure, text: str, path: str,
             given: dict[str, Any]) -> dict[str, Any]:
        """The implementation and backout plan (secrets shown as placeholders)."""
        return build_plan(procedure, procedure_hash(text), path, given, self.inventory)

    def log_bug(self, exc: BaseException) -> Path | None:
        """Append a traceback to the private `runbook.log`; never raises."""
        try:
            log = private_file(self.data_dir / "runbook.log")
            with open(log, "a") as fh:
                fh.write("".join(traceback.format_exception(exc)))
            return log
        except Exception:  # noqa: BLE001 - reporting must never fail
            return None


def _write(path: Path, text: str) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
