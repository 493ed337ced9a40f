"""The app's only door to the engine: journal, inventory, engines, params, plans, records.

Screens reach the engine only through `Backend`. Besides it they import from runbook only
types and the engine–UI contract: `runbook.events` (what the engine says and asks),
`runbook.errors` (what can go wrong), and the read-only types `runbook.model.Procedure`/`Param`,
`runbook.engine.StepView` and `runbook.library.Entry`. Nothing else: no loader, templates,
params or journal reads in a screen.

Threading: a run executes on its own thread and event loop (`start_run`, see
engine_thread.py), with its own connection to the run store, opened on the UI's thread
before the engine's starts, then used and closed by the engine's thread alone; everything
else here is called on the UI's thread and reads through the app's connection. In WAL mode
the UI reads while the engine writes; an operator's own write during a run (a comment)
waits its turn (busy timeout). The engine's events and questions cross over through the
screen, never directly.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runbook import Engine, Inventory, Journal, load_procedure, operators
from runbook.engine import StepView
from runbook.errors import TemplateError, UsageError
from runbook.events import DecisionNeeded
from runbook.export import build_plan, build_record, render
from runbook.journal_records import EventRecord, RunRecord
from runbook.library import Entry, catalogue
from runbook.loader import load_procedure_text, procedure_hash
from runbook.model import Param, Procedure
from runbook.params import coerce, unaccepted
from runbook.paths import data_dir as resolve_data_dir
from runbook.paths import private_file, write_private
from runbook.rollback import RollbackPlan, plan, rollback
from runbook.template import Value
from runbook.template import render as render_template

from .engine_thread import EngineThread

EXPORT_FORMATS = ("md", "json", "html")
SECRET_SHOWN = "•••••• (secret, not stored)"
PARAMS_FILE = "params.json"  # last values per procedure, in the data directory
# How long one thread may hold the interpreter while another waits (Python's default is
# 5 ms). The engine's thread gives it up at each socket read and journal write and waited
# up to that long to get it back while the UI drew: a quarter of a run's start-up, and of
# the time a key press waited while devices streamed.
SWITCH_INTERVAL = 0.001


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
    lab_secrets: dict[str, str] = field(default_factory=dict)  # `runbook demo`'s, in memory

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

    def engine(self, decider: Any, journal: Journal | None = None) -> Engine:
        """A fresh engine answering questions through `decider` (on the app's run store
        connection unless `journal` is given)."""
        return Engine(journal or self.journal, decider,
                      transport_factory=self.transports or transport_factory(self.data_dir),
                      inventory_from_snapshot=Inventory.from_snapshot)

    def start_run(self, run_id: str, secrets: dict[str, str], decider: Any,
                  listener: Callable[[Any], None]) -> EngineThread[str]:
        """Execute (or resume) a run on the engine's own thread; `decider` is called on
        that thread (see AskAcross) and `listener` with every event, on that thread too."""
        # The engine's own connection and the engine are made here: opened on the engine's
        # thread, each of the dozen SQLite calls of an open waited for the UI's thread to let
        # go of the interpreter while it drew the screen's first frame (~0.1 s).
        journal = self._thread_journal()
        engine = self.engine(decider, journal)
        engine.subscribe(listener)
        sys.setswitchinterval(SWITCH_INTERVAL)
        return EngineThread(f"runbook-run-{run_id}", lambda: self._execute(
            engine, run_id, dict(secrets))).start()

    async def _execute(self, engine: Engine, run_id: str, secrets: dict[str, str]) -> str:
        try:
            return await engine.execute(run_id, secrets)
        finally:
            if engine.journal is not self.journal:
                engine.journal.close()

    def read_view(self, run_id: str) -> tuple[RunRecord, list[StepView]]:
        """The run and its steps' view, read on the calling thread's own connection (a
        screen's reading thread while the engine runs), closed again after."""
        journal = self._thread_journal()
        try:
            return journal.get_run(run_id), self.engine(_NoQuestions(), journal).view(run_id)
        finally:
            if journal is not self.journal:
                journal.close()

    def _thread_journal(self) -> Journal:
        """A connection of the calling thread's own to the same run store."""
        if type(self.journal) is not Journal or self.journal.path is None:
            return self.journal  # not SQLite: its connection takes calls from any thread
        journal = Journal(self.journal.path)
        journal.operator = self.journal.operator
        return journal

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

    def shown_state(self, rec: RunRecord) -> str:
        """The state to show: `interrupted` for a `running` run no live process holds (on the
        team journal: no live session, wherever it was)."""
        return self.journal.shown_state(rec)

    def holder(self, run_id: str) -> str | None:
        """Who else holds the run, `user@host (pid N) since HH:MM UTC`, while that session
        lives; None when the run is free or this process holds it."""
        rec = self.run(run_id)
        if rec.lock_pid == os.getpid() and rec.lock_host == socket.gethostname():
            return None
        return self.journal.holder(rec.id)

    def take_over_question(self, run_id: str) -> dict[str, Any] | None:
        """What the take-over question shows, when resuming would take the run over from
        another operator (their last session, as its lock left it); else None."""
        rec = self.run(run_id)
        previous = operators.take_over_from(self.journal, rec.id)
        return None if previous is None else operators.last_session(self.journal, rec, previous)

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

    def procedure_of(self, run: RunRecord) -> Procedure:
        """The procedure a run was created with (its text is kept in the journal)."""
        return load_procedure_text(run.procedure_text, run.procedure_path)

    def render_text(self, run_id: str, text: str) -> str:
        """A description with the run's values filled in (secrets masked); as-is on error."""
        rec = self.run(run_id)
        values = {k: Value(v) for k, v in rec.params.items()}
        values.update({k: Value(v) for k, v in self.captures(rec.id).items()})
        values.update({n: Value(SECRET_SHOWN) for n in rec.secret_names})
        try:
            return render_template(text, values, "text").text
        except TemplateError:
            return text

    # ---- parameters ------------------------------------------------------------------------

    def check_param(self, name: str, param: Param, raw: Any) -> Any:
        """The typed value of one parameter; raises UsageError saying what is wrong."""
        return coerce(name, param, raw, self.inventory)

    @staticmethod
    def unaccepted(param: Param, target: Any) -> str | None:
        """Why a target parameter does not take a device (None when it does)."""
        return unaccepted(param, target)

    def create_run(self, procedure: Procedure, text: str, path: str, given: dict[str, str],
                   secrets: dict[str, str]) -> str:
        """Validate the params and store a new run; raises UsageError."""
        return self.engine(_NoQuestions()).create(procedure, text, path, given, secrets,
                                                  self.inventory)

    def remembered(self, procedure: Procedure) -> dict[str, str]:
        """The values last used to start `procedure` (never secrets); {} when none or the
        file cannot be read."""
        try:
            data = json.loads((self.data_dir / PARAMS_FILE).read_text())
        except (OSError, ValueError):
            return {}
        values = data.get(procedure.id) if isinstance(data, dict) else None
        if not isinstance(values, dict):
            return {}
        return {k: v for k, v in values.items() if isinstance(v, str)
                and k in procedure.params and procedure.params[k].type != "secret"}

    def remember(self, procedure: Procedure, given: dict[str, str]) -> None:
        """Keep the values a run was started with for next time (mode 0600; secrets never).
        Failing to write them is not worth stopping a run for: it is logged."""
        path = self.data_dir / PARAMS_FILE
        try:
            data = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        data[procedure.id] = {k: str(v) for k, v in given.items()
                              if k in procedure.params and procedure.params[k].type != "secret"}
        try:
            write_private(path, json.dumps(data, indent=2, sort_keys=True))
        except OSError as exc:
            self.log_bug(exc)

    # ---- rollback, plans and records -------------------------------------------------------

    @staticmethod
    def rollback_function() -> Callable[..., Any]:
        """`runbook.rollback.rollback`."""
        return rollback

    def rollback_plan(self, run_id: str, to_step: str | None) -> RollbackPlan:
        """What rolling back from `to_step` would do, without changing anything."""
        rec = self.run(run_id)
        return plan(self.journal, self.procedure_of(rec), rec.id, to_step)

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
