"""The Rollback screen: backups with hashes, steps to undo, progress and each hash check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Log, ProgressBar, Static
from textual.worker import Worker, WorkerState

from runbook.errors import RunbookError
from runbook.events import (
    Event,
    FileRestored,
    Notice,
    OutputLine,
    RollbackCommand,
    RollbackFinished,
    RollbackRefusal,
    StepRolledBack,
)

from .base import RunbookScreen
from .decider import TuiDecider
from .footer import Footer
from .format import clean
from .messages import EngineEvent
from .modals import ConfirmModal, SecretsModal

if TYPE_CHECKING:
    from .backend import Backend


class RollbackScreen(RunbookScreen[str | None]):
    """Undo `to_step` and every step after it, newest change first."""

    BINDINGS = [Binding("r", "start", "Start rollback", id="rollback.start"),
                Binding("escape", "back", "Back", id="rollback.back")]

    def __init__(self, backend: Backend, run_id: str, to_step: str | None,
                 secrets: dict[str, str]) -> None:
        super().__init__()
        self.backend, self.run_id, self.to_step, self.secrets = backend, run_id, to_step, secrets
        self.rollback = backend.rollback_function()
        self.engine = backend.engine(TuiDecider(self))
        self.engine.subscribe(self.feed)
        self.plan = backend.rollback_plan(run_id, to_step)
        self.steps = self.plan.steps
        # A retried step is listed once: each path once (put back from its first backup),
        # each rollback command once per device its latest attempt touched, as the engine
        # does them (runbook.rollback.plan), so that header, lists, confirmation and
        # progress bar count the same things.
        self.backups = self.plan.files
        self.commands = [(step.id, target, backend.render_text(run_id, c))
                         for step, target, _, c in self.plan.commands]
        self.state: str | None = None

    def summary(self) -> str:
        """`2 file(s) to restore and 1 rollback command(s)`: the one count shown everywhere."""
        return self.plan.summary()

    def compose(self) -> ComposeResult:
        yield Header()
        ids = ", ".join(dict.fromkeys(s.id for s in self.steps)) or "nothing (no step from " \
            "here on changed anything)"
        yield Static(f"Undo from step [b]{self.to_step}[/b]: {escape(ids)}\n"
                     f"{self.summary()}, newest change first. Press [b]r[/b] to start.",
                     id="rollback-intro")
        if self.commands:
            yield Static("\n".join(f"[b]{escape(step)}[/b] on {escape(target)}: $ "
                                   f"{escape(cmd)}" for step, target, cmd in self.commands),
                         id="rollback-commands")
        for step in self.steps:
            if step.irreversible:
                yield Static(f"[b]{escape(step.id)} cannot be undone[/b]: "
                             f"{escape(step.irreversible)} If it has run, rollback will refuse "
                             "and change nothing.", id=f"irreversible-{step.id}",
                             classes="warning")
        yield DataTable(id="rollback-backups", cursor_type="row")
        yield ProgressBar(total=max(1, len(self.backups) + len(self.commands)), show_eta=False,
                          id="rollback-progress")
        yield Log(max_lines=2000, id="rollback-log")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"Roll back run {self.run_id}"
        table = self.query_one("#rollback-backups", DataTable)
        for col in ("step", "target", "path", "sha256", "size", "check"):
            table.add_column(col, key=col)
        for b in reversed(self.backups):
            table.add_row(b.step_id, b.target or "", b.path, (b.sha256 or b.state)[:16],
                          str(b.size if b.size is not None else ""), "", key=str(b.id))

    def feed(self, event: Event) -> None:
        self.post_message(EngineEvent(event))

    @on(EngineEvent)
    def _event(self, message: EngineEvent) -> None:
        event = message.event
        log = self.query_one("#rollback-log", Log)
        bar = self.query_one(ProgressBar)
        match event:
            case FileRestored():
                for b in self.backups:
                    if (b.step_id, b.path, b.target) == (event.step_id, event.path,
                                                         event.target):
                        mark = "✔ hash verified" if event.verified else "✘ NOT verified"
                        self.query_one(DataTable).update_cell(str(b.id), "check",
                                                              f"{mark} ({event.action})")
                log.write_line(f"{event.action} {event.target}:{event.path} "
                               f"{'(hash verified)' if event.verified else '(NOT verified)'}")
                bar.advance(1)
            case RollbackCommand():
                log.write_line(f"[{event.status}] {event.target}: $ {event.command}")
                if event.status != "started":
                    bar.advance(1)
            case OutputLine():
                log.write_line(f"    {event.target or ''}| " + clean(event.line))
            case StepRolledBack():
                where = f" on {event.target}" if event.target else ""
                log.write_line(f"step {event.step_id}{where} rolled back")
            case Notice():
                where = f"{event.target}: " if event.target else ""
                log.write_line(f"! {where}{event.message}")
            case RollbackRefusal():
                self.state = "refused"
                self.sub_title = "rollback refused; nothing changed"
                log.write_line("refusal recorded in the run's change record")
                self.query_one("#rollback-intro", Static).update(
                    f"[b]Rollback refused[/b]: {escape(event.reason)}\nNothing was changed. "
                    "The refusal is recorded in the run's change record.")
            case RollbackFinished():
                self.state = event.state
                why = f": {event.reason}" if event.reason else ""
                log.write_line(f"rollback {event.state}{why}")
                self.sub_title = f"rollback {event.state.replace('_', ' ')}{why}"
                self.query_one("#rollback-intro", Static).update(
                    f"[b]Rollback {escape(event.state.replace('_', ' '))}[/b]{escape(why)}")
                self.notify(event.reason or f"rollback {event.state}", title=f"rollback "
                            f"{event.state}", severity="information" if event.state !=
                            "failed" else "error")

    def action_start(self) -> None:
        if any(w.group == "rollback" and w.is_running for w in self.workers):
            return
        missing = [n for n in self.backend.run(self.run_id).secret_names if n not in self.secrets]

        def go(yes: bool | None) -> None:
            if not yes:
                return
            if missing:
                self.app.push_screen(SecretsModal(self.run_id, missing), callback=with_secrets)
            else:
                self.execute()

        def with_secrets(values: dict[str, str] | None) -> None:
            if values:
                self.secrets.update(values)
                self.execute()

        self.app.push_screen(ConfirmModal(
            "Roll back?", f"{self.summary()[0].upper()}{self.summary()[1:]} on the devices, "
            "as listed.", "Roll back"), callback=go)

    @work(exclusive=True, group="rollback", exit_on_error=False)
    async def execute(self) -> Any:
        return await self.rollback(self.engine, self.run_id, self.secrets, to_step=self.to_step)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "rollback" and event.state == WorkerState.ERROR:
            err = event.worker.error
            if isinstance(err, RunbookError):
                self.query_one("#rollback-log", Log).write_line(f"{err.title}: {err}")
            if err is not None:
                self.app.report_error(err)

    def action_back(self) -> None:
        if any(w.group == "rollback" and w.is_running for w in self.workers):
            self.notify("the rollback is in progress", severity="warning")
            return
        self.dismiss(self.state)
