"""Rollback: what will be undone (backups with hashes, steps), then each file's hash check."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Label, RichLog

from runbook.errors import RunbookError
from runbook.events import Event, FileRestored, RollbackCommand, StepRolledBack
from runbook.rollback import rollback, select_steps

if TYPE_CHECKING:
    from .app import RunbookApp


class RollbackScreen(Screen[None]):
    """Undo a run from a step on: preview, confirm, watch every restore being verified."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="back")]

    app: RunbookApp

    def __init__(self, run_id: str, secrets: dict[str, str], from_step: str | None) -> None:
        super().__init__()
        self.run_id, self.secrets, self.from_step = run_id, secrets, from_step

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="rollback"):
            yield Label("", id="rollback-title")
            yield DataTable(id="backups", cursor_type="row")
            with Horizontal(id="rollback-buttons"):
                yield Button("Roll back", id="go", variant="error")
                yield Button("Cancel", id="cancel")
            yield RichLog(id="rollback-log", max_lines=2000, markup=False)
        yield Footer()

    def on_mount(self) -> None:
        from runbook.loader import load_procedure_text
        j = self.app.journal
        rec = j.get_run(self.run_id)
        proc = load_procedure_text(rec.procedure_text, rec.procedure_path)
        steps = select_steps(proc, j.latest_attempts(rec.id), j.backups(rec.id),
                             self.from_step, None)
        ids = [s.id for s in steps]
        self.query_one("#rollback-title", Label).update(
            f"Undo steps {', '.join(reversed(ids)) or '(none)'} — newest change first")
        table = self.query_one("#backups", DataTable)
        table.add_columns("Step", "Device", "Path", "State", "sha256", "Mode")
        for b in reversed([b for b in j.backups(rec.id) if b.step_id in ids]):
            table.add_row(b.step_id, b.target or "", b.path, b.state,
                          (b.sha256 or "-")[:16], f"{b.mode:o}" if b.mode else "")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "go":
            event.button.disabled = True
            self.run_rollback()
        else:
            self.app.pop_screen()

    def log_event(self, event: Event) -> None:
        log = self.query_one("#rollback-log", RichLog)
        if isinstance(event, FileRestored):
            check = "hash verified" if event.action == "restored" else event.note
            log.write(f"{event.action} {event.target}:{event.path} — {check}")
        elif isinstance(event, RollbackCommand) and event.status != "started":
            log.write(f"rollback command on {event.target}: {event.command} -> {event.status}")
        elif isinstance(event, StepRolledBack):
            log.write(f"step {event.step_id} rolled back")

    @work(exclusive=True, group="rollback", exit_on_error=False)
    async def run_rollback(self) -> None:
        engine = self.app.engine()
        engine.subscribe(self.log_event)
        try:
            state = await rollback(engine, self.run_id, self.secrets, to_step=self.from_step)
            self.query_one("#rollback-log", RichLog).write(f"rollback finished: run {state}")
            self.notify(f"Rolled back: run {state}.")
        except RunbookError as exc:
            self.query_one("#rollback-log", RichLog).write(f"{exc.title}: {exc}")
            self.notify(str(exc), title=exc.title, severity="error")
