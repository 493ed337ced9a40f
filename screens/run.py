"""Run: the step list beside the live output, the step's instructions, certificate facts."""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, Markdown, ProgressBar, RichLog

from runbook.errors import RunbookError
from runbook.events import (
    CertFactsFound,
    Event,
    Notice,
    OutputLine,
    RunFinished,
    StepFinished,
    StepSkipped,
    StepStarted,
)

from .modals import ExportModal, MessageModal, TextModal

if TYPE_CHECKING:
    from .app import RunbookApp

ICONS = {"pending": "·", "running": "▶", "succeeded": "✔", "failed": "✘", "skipped": "↷",
         "in_doubt": "?", "rolled_back": "↺", "waiting": "…"}
MAX_LINES = 5000
KEEP_PER_STEP = 2000


class RunScreen(Screen[None]):
    """One run, live. The engine owns the state; this screen shows it and sends intents."""

    BINDINGS = [
        Binding("r", "resume", "Run/resume", id="resume"),
        Binding("s", "skip", "Skip step", id="skip"),
        Binding("x", "stop", "Stop (resumable)", id="stop"),
        Binding("b", "rollback", "Roll back to here", id="rollback"),
        Binding("m", "comment", "Comment", id="comment"),
        Binding("e", "export", "Export", id="export"),
        Binding("escape", "home", "Home", id="home"),
    ]

    app: RunbookApp

    def __init__(self, run_id: str, secrets: dict[str, str]) -> None:
        super().__init__()
        self.run_id, self.secrets = run_id, secrets
        self.engine = None  # created on mount, one per screen
        self.pending: list[OutputLine] = []
        self.lines: dict[str, deque[str]] = {}
        self.facts: dict[str, dict[str, Any]] = {}
        self.selected: str | None = None
        self.follow = True
        self.procedure: Any = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="run"):
            with Vertical(id="steps-pane"):
                yield Label("", id="run-state")
                yield DataTable(id="steps", cursor_type="row")
                yield ProgressBar(id="fanout", show_eta=False)
            with Vertical(id="detail-pane"):
                yield Label("Output", classes="pane-title", id="output-title")
                yield RichLog(id="output", max_lines=MAX_LINES, wrap=False, markup=False)
                yield Markdown("", id="description")
                yield DataTable(id="facts", show_cursor=False)
        yield Footer()

    def on_mount(self) -> None:
        self.engine = self.app.engine()
        self.engine.subscribe(self.on_engine_event)
        rec = self.app.journal.get_run(self.run_id)
        from runbook.loader import load_procedure_text
        self.procedure = load_procedure_text(rec.procedure_text, rec.procedure_path)
        self.sub_title = f"{rec.procedure_title} — run {rec.id}"
        steps = self.query_one("#steps", DataTable)
        steps.add_column("", key="icon", width=1)
        steps.add_column("Step", key="title")
        steps.add_column("Device", key="target")
        steps.add_column("Time", key="time")
        self.query_one("#facts", DataTable).add_columns("Fact", "Value")
        self.query_one("#fanout", ProgressBar).display = False
        self.rebuild()
        self.set_interval(0.05, self.flush_output)

    # ---- state from the engine ---------------------------------------------------------------

    def rebuild(self) -> None:
        """Redraw the step list from the journal (the engine's view), the only source of truth."""
        table = self.query_one("#steps", DataTable)
        keep = table.cursor_row
        table.clear()
        for v in self.engine.view(self.run_id):
            key = f"{v.step_id}|{v.target or ''}"
            table.add_row(ICONS.get(v.status, "?"), v.title, v.target or "",
                          _duration(v.started_at, v.finished_at), key=key)
        rec = self.app.journal.get_run(self.run_id)
        self.query_one("#run-state", Label).update(
            f"State: {rec.state}" + (f" — {rec.reason}" if rec.reason else ""))
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))
        self.show_selected()

    def on_engine_event(self, event: Event) -> None:
        if isinstance(event, OutputLine):
            self.pending.append(event)
            return
        if isinstance(event, StepStarted):
            self.selected = event.step_id
            self.follow = True
        if isinstance(event, CertFactsFound):
            self.facts[event.step_id] = event.facts
        if isinstance(event, StepStarted | StepFinished | StepSkipped | RunFinished):
            self.flush_output()
            self.rebuild()
            self.update_fanout(event)
        if isinstance(event, Notice) and event.level != "info":
            self.notify(event.message, severity="warning" if event.level == "warning"
                        else "error")
        if isinstance(event, RunFinished) and "HOST KEY CHANGED" in event.reason:
            self.app.push_screen(MessageModal("Host key changed: run stopped", event.reason))

    def update_fanout(self, event: Event) -> None:
        step_id = getattr(event, "step_id", None)
        bar = self.query_one("#fanout", ProgressBar)
        step = next((s for s in self.procedure.steps if s.id == step_id), None)
        if step is None or not step.foreach:
            bar.display = False
            return
        rows = [v for v in self.engine.view(self.run_id) if v.step_id == step_id]
        done = sum(v.status in ("succeeded", "failed", "skipped") for v in rows)
        bar.display = True
        bar.update(total=len(rows), progress=done)

    def flush_output(self) -> None:
        """Write buffered lines in one batch, so a flood of output never blocks keystrokes."""
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        log = self.query_one("#output", RichLog)
        for ev in batch:
            text = f"{ev.target}| {ev.line}" if ev.target else ev.line
            self.lines.setdefault(ev.step_id, deque(maxlen=KEEP_PER_STEP)).append(text)
            if ev.step_id == self.current_step():
                log.write(text)

    def current_step(self) -> str | None:
        table = self.query_one("#steps", DataTable)
        if self.follow and self.selected:
            return self.selected
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
        return key.split("|")[0]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "steps" and event.row_key.value:
            step_id = event.row_key.value.split("|")[0]
            if step_id != self.selected:
                self.follow = False
                self.selected = step_id
                self.show_selected()

    def show_selected(self) -> None:
        step_id = self.current_step()
        step = next((s for s in self.procedure.steps if s.id == step_id), None)
        log = self.query_one("#output", RichLog)
        log.clear()
        if step is None:
            return
        self.query_one("#output-title", Label).update(f"Output — {step.title}")
        for line in self.lines.get(step.id, ()):
            log.write(line)
        if not self.lines.get(step.id):
            for a in self.app.journal.attempts(self.run_id):
                if a.step_id == step.id:
                    for line in self.app.journal.output(a.id).splitlines()[-KEEP_PER_STEP:]:
                        log.write(line)
        self.query_one("#description", Markdown).update(step.description or step.title)
        facts = self.query_one("#facts", DataTable)
        facts.clear()
        shown = self.facts.get(step.id) or self.stored_facts(step.id)
        facts.display = bool(shown)
        for k in ("subject", "issuer", "days_left", "not_after", "key_matches", "chains_to_ca",
                  "status"):
            if shown and k in shown:
                facts.add_row(k, str(shown[k]))

    def stored_facts(self, step_id: str) -> dict[str, Any] | None:
        for e in reversed(self.app.journal.events(self.run_id)):
            if e.kind == "cert_facts_found" and e.step_id == step_id:
                return e.data["facts"]
        return None

    # ---- intents -----------------------------------------------------------------------------

    @work(exclusive=True, group="run", exit_on_error=False)
    async def execute(self) -> None:
        try:
            state = await self.engine.execute(self.run_id, self.secrets)
            self.notify(f"Run {state}.", severity="information" if state == "succeeded"
                        else "warning")
        except RunbookError as exc:
            self.notify(str(exc), title=exc.title, severity="error")
        finally:
            self.rebuild()

    def action_resume(self) -> None:
        if any(w.group == "run" and w.is_running for w in self.app.workers):
            self.notify("The run is already going.")
            return
        self.execute()

    def action_stop(self) -> None:
        self.app.workers.cancel_group(self, "run")
        self.notify("Stopped. The step that was running is in doubt; resume to decide.")

    def action_skip(self) -> None:
        table = self.query_one("#steps", DataTable)
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
        step_id, _, target = key.partition("|")
        if any(w.group == "run" and w.is_running for w in self.app.workers):
            self.notify("Stop the run before skipping a step.", severity="warning")
            return

        def done(reason: str | None) -> None:
            if reason:
                self.engine.skip(self.run_id, step_id, target or None,
                                 f"skipped by the operator: {reason}")
                self.rebuild()

        self.app.push_screen(TextModal(f"Skip {step_id}? Say why (kept in the record):"), done)

    def action_comment(self) -> None:
        step = self.current_step()

        def done(text: str | None) -> None:
            if text:
                self.engine.comment(self.run_id, text, step)
                self.notify("Comment added to the record.")

        self.app.push_screen(TextModal("Comment for the change record"), done)

    def action_export(self) -> None:
        def done(choice: tuple[str, str] | None) -> None:
            if choice:
                path = self.app.export(self.run_id, *choice)
                if path:
                    self.notify(f"written: {path}", title="Exported")

        self.app.push_screen(ExportModal(self.app.data_dir / "exports", self.run_id), done)

    def action_rollback(self) -> None:
        if any(w.group == "run" and w.is_running for w in self.app.workers):
            self.notify("Stop the run before rolling back.", severity="warning")
            return
        from .rollback import RollbackScreen
        self.app.push_screen(RollbackScreen(self.run_id, self.secrets, self.current_step()),
                             lambda _: self.rebuild())

    def action_home(self) -> None:
        self.app.go_home()


def _duration(start: str | None, end: str | None) -> str:
    if not start or not end:
        return ""
    seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    return f"{seconds:.1f}s"
