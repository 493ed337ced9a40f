"""The app's only door to the engine: journal, inventory, engines, and optional abilities."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runbook import Engine, Inventory, Journal, load_procedure
from runbook.engine import StepView
from runbook.errors import RunbookError, UsageError
from runbook.events import DecisionNeeded
from runbook.journal import held_by_live_process
from runbook.library import Entry, catalogue
from runbook.model import Procedure
from runbook.paths import data_dir as resolve_data_dir
from runbook.paths import private_file, write_private
from runbook.records import EventRecord, RunRecord

EXPORT_FORMATS = ("md", "json", "html")


class NotAvailable(RunbookError):
    """The engine this app runs on does not offer a function yet."""

    title = "not available yet"


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

    @staticmethod
    def shown_state(rec: RunRecord) -> str:
        """The state to show: `interrupted` for a `running` run no live process holds."""
        if rec.state == "running" and not held_by_live_process(rec):
            return "interrupted"
        return rec.state

    def events(self, run_id: str) -> list[EventRecord]:
        """The run's journaled events, oldest first."""
        return self.journal.events(run_id)

    def output(self, run_id: str, key: tuple[str, str | None]) -> list[str]:
        """The output lines the journal holds for a step's latest attempt on a device."""
        a = self.journal.latest_attempts(run_id).get(key)
        return self.journal.output(a.id).splitlines() if a is not None else []

    def captures(self, run_id: str) -> dict[str, str]:
        """Values the run's steps captured so far."""
        return self.journal.captures(run_id)

    def view(self, run_id: str) -> list[StepView]:
        """The run's steps per target with their state (no device is contacted)."""
        return self.engine(_NoQuestions()).view(run_id)

    def next_step(self, run_id: str) -> StepView | None:
        """Where a resume would start: the first step on a device that is not done."""
        return next((v for v in self.view(run_id)
                     if v.status not in ("succeeded", "skipped")), None)

    # ---- optional abilities (engine functions that may not exist yet) ------------------------

    @staticmethod
    def rollback_function() -> Callable[..., Any]:
        """`runbook.rollback.rollback`; raises NotAvailable when the engine lacks it."""
        try:
            from runbook.rollback import rollback
        except ImportError:
            raise NotAvailable("rollback is not available in this version of the engine") \
                from None
        return rollback

    @staticmethod
    def rollback_plan(engine: Any, run_id: str, to_step: str | None) -> tuple[list[Any], list[Any]]:
        """(steps to undo, their backups) without changing anything; raises NotAvailable."""
        try:
            from runbook.loader import load_procedure_text
            from runbook.rollback import select_steps
        except ImportError:
            raise NotAvailable("rollback is not available in this version of the engine") \
                from None
        journal = engine.journal
        rec = journal.get_run(run_id)
        procedure = load_procedure_text(rec.procedure_text, rec.procedure_path)
        backups = journal.backups(rec.id)
        steps = select_steps(procedure, journal.latest_attempts(rec.id), backups, to_step, None)
        ids = {s.id for s in steps}
        return steps, [b for b in backups if b.step_id in ids and b.restored_at is None]

    def export_run(self, run_id: str, fmt: str, path: str | Path) -> Path:
        """Write a run's change record to `path` (mode 0600); raises NotAvailable/RunbookError."""
        try:
            from runbook.export import build_record, render
        except ImportError:
            raise NotAvailable("change records are not available in this version of the "
                               "engine") from None
        out = Path(path).expanduser()
        record = build_record(self.journal, self.run(run_id).id, out.with_name(out.name + ".logs"))
        return _write(out, render(record, fmt))

    def export_plan(self, plan: dict[str, Any], fmt: str, path: str | Path) -> Path:
        """Write a plan (from `plan()`) to `path` (mode 0600)."""
        try:
            from runbook.export import render
        except ImportError:
            raise NotAvailable("plan export is not available in this version of the engine") \
                from None
        return _write(Path(path).expanduser(), render(plan, fmt))

    def plan(self, procedure: Procedure, text: str, path: str,
             given: dict[str, Any]) -> dict[str, Any]:
        """The implementation and backout plan (secrets shown as placeholders)."""
        try:
            from runbook.export import build_plan
            from runbook.loader import procedure_hash
        except ImportError:
            raise NotAvailable("plans are not available in this version of the engine") \
                from None
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


class _NoQuestions:
    """The decider of an engine that only reads: it is never asked anything."""

    async def decide(self, request: DecisionNeeded) -> str:
        raise RuntimeError(f"a read-only engine was asked {request.question!r}")


def _write(path: Path, text: str) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
