"""The Run screen: steps beside live output; run, confirm, skip, retry, abort, roll back, export."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Markdown, Static
from textual.worker import Worker, WorkerState

from runbook.errors import TemplateError
from runbook.events import (
    BackupTaken,
    CertFactsFound,
    Comment,
    DecisionMade,
    DecisionNeeded,
    Event,
    HostKeyRejected,
    Notice,
    OutputLine,
    OutputLines,
    RunFinished,
    StepFinished,
    StepStarted,
)
from runbook.loader import load_procedure_text
from runbook.template import Value, render

from .decider import TuiDecider
from .format import STATE_STYLE, icon
from .messages import EngineEvent
from .modals import ConfirmModal, HostKeyModal, SecretsModal, TextModal
from .widgets import MAX_LINES, CertTable, DecisionBar, FanOut, Key, OutputPane, StepTable

if TYPE_CHECKING:
    from .backend import Backend

FLUSH_SECONDS = 0.05
LEVELS = {"info": "information", "warning": "warning", "error": "error"}

COMMANDS = [("Run / confirm", "Start or resume the run, or answer yes to what it waits for",
             "run"),
            ("Not now", "Answer no to a confirmation / leave a manual step waiting", "wait"),
            ("Skip step", "Skip the selected step", "skip"),
            ("Retry step", "Resume the run: the failed step runs again", "retry"),
            ("Abort", "Stop the run (interrupts the step in progress)", "abort"),
            ("Roll back to here", "Undo the selected step and every step after it", "rollback"),
            ("Add comment", "Add a note to the change record", "comment"),
            ("Export change record", "Write the run's record as Markdown, JSON or HTML",
             "export")]


class RunScreen(Screen[None]):
    """One run: rebuilt from the engine's view and journal, kept current by its events."""

    BINDINGS = [
        Binding("r", "run", "Run/OK", id="run.run", tooltip="Run, resume, or answer yes"),
        Binding("w", "wait", "Not now", id="run.wait", show=False),
        Binding("s", "skip", "Skip", id="run.skip"),
        Binding("t", "retry", "Retry", id="run.retry"),
        Binding("x", "abort", "Abort", id="run.abort"),
        Binding("b", "rollback", "Rollback", id="run.rollback",
                tooltip="Roll back the selected step and every step after it"),
        Binding("c", "comment", "Note", id="run.comment", tooltip="Add a comment"),
        Binding("e", "export", "Export", id="run.export"),
        Binding("escape", "back", "Home", id="run.back", show=False),
    ]
    COMMANDS_LIST = COMMANDS

    def __init__(self, backend: Backend, run_id: str, secrets: dict[str, str] | None = None,
                 autostart: bool = False) -> None:
        super().__init__()
        self.backend = backend
        self.record = backend.run(run_id)
        self.run_id = self.record.id
        self.procedure = load_procedure_text(self.record.procedure_text,
                                             self.record.procedure_path)
        self.secrets: dict[str, str] = dict(secrets or {})
        self.autostart = autostart
        self.engine = backend.engine(TuiDecider(None, self.ask_inline))
        self.engine.subscribe(self.feed)
        self.pending: tuple[DecisionNeeded, asyncio.Future[str]] | None = None
        self.facts: dict[str, dict[str | None, dict[str, Any]]] = {}
        self.dirty = True
        self.follow = True

    # ---- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="run-status")
        with Horizontal(id="run-body"):
            yield StepTable(id="steps")
            with Vertical(id="detail"):
                with VerticalScroll(id="description-box"):
                    yield Markdown(id="description")
                yield DecisionBar(id="decision")
                yield FanOut(id="fanout")
                yield CertTable(id="certs", show_cursor=False)
                yield OutputPane(id="output")
        yield Footer()

    def on_mount(self) -> None:
        self.engine.decider.app = self.app  # type: ignore[attr-defined]
        self.title = self.procedure.title
        self.sub_title = f"run {self.run_id}"
        self.query_one(DecisionBar).clear()
        self.query_one(FanOut).display = False
        self.query_one(CertTable).display = False
        self.query_one(OutputPane).border_title = "output"
        for e in self.backend.journal.events(self.run_id):
            if e.kind == "cert_facts_found" and e.step_id:
                self.facts.setdefault(e.step_id, {})[e.target] = e.data.get("facts", {})
        self.refresh_steps()
        self._select_current()
        self.set_interval(FLUSH_SECONDS, self.flush)
        self.query_one(StepTable).focus()
        if self.autostart:
            self.action_run()

    # ---- engine events ---------------------------------------------------------------------

    def feed(self, event: Event) -> None:
        """The engine's subscriber: output is batched, every other event becomes a message."""
        if isinstance(event, OutputLines):
            self.query_one(OutputPane).store.extend((event.step_id, event.target), event.lines)
        elif isinstance(event, OutputLine):
            self.query_one(OutputPane).store.add((event.step_id, event.target), event.line)
        else:
            self.post_message(EngineEvent(event))

    def flush(self) -> None:
        """Timer: write waiting output and refresh the step list if something changed."""
        self.query_one(OutputPane).flush()
        if self.dirty:
            self.refresh_steps()

    @on(EngineEvent)
    def _event(self, message: EngineEvent) -> None:
        event = message.event
        self.dirty = True
        match event:
            case StepStarted():
                if self.follow and not self.pending:
                    self.query_one(StepTable).select(event.step_id, event.target)
            case StepFinished() if event.status == "failed":
                self.notify(event.reason or "step failed", title=f"{event.step_id} failed",
                            severity="error", timeout=8)
            case BackupTaken():
                sha = (event.sha256 or "")[:16]
                note = f"sha256 {sha}…" if sha else event.state
                self.query_one(OutputPane).store.add(
                    (event.step_id, event.target), f"# backed up {event.path} ({note})")
            case CertFactsFound():
                self.facts.setdefault(event.step_id, {})[event.target] = event.facts
                self.show_detail()
            case HostKeyRejected():  # the engine stops on a changed key: show both
                self.app.push_screen(HostKeyModal(event.target, event.host, event.port,
                                                  event.fingerprint, list(event.known)))
            case Notice():
                self._notice(event)
            case Comment():
                self.notify(event.text, title="comment saved")
            case DecisionMade():
                self.query_one(DecisionBar).clear()
            case RunFinished():
                self.query_one(DecisionBar).clear()
                sev = "information" if event.state == "succeeded" else "warning"
                self.notify(event.reason or f"run {event.state}", title=f"run {event.state}",
                            severity=sev, timeout=10)

    def _notice(self, event: Notice) -> None:
        if "HOST KEY CHANGED" in event.message:
            return  # shown by the HostKeyRejected modal
        self.notify(event.message, severity=LEVELS.get(event.level, "information"),  # type: ignore[arg-type]
                    timeout=8)

    # ---- state from the engine -------------------------------------------------------------

    def refresh_steps(self) -> None:
        """Re-read the run's state from the engine (the screen keeps none of its own)."""
        self.dirty = False
        self.record = self.backend.run(self.run_id)
        self.views = self.engine.view(self.run_id)
        self.query_one(StepTable).show(self.views)
        rec = self.record
        style = STATE_STYLE.get(rec.state, "")
        running = self.running
        state = "running" if running else rec.state
        reason = "" if running else rec.reason
        hint = "" if running or rec.finished else "   [dim]r: run / resume[/]"
        self.query_one("#run-status", Static).update(
            f"[{style or 'b'}]{icon(state)} {state}[/] {rec.procedure_id} · {rec.user}@"
            f"{rec.hostname}" + (f"\n{escape(reason)}" if reason else hint))
        self.sub_title = f"run {self.run_id} · {state}"
        self.show_detail()

    def _select_current(self) -> None:
        """Put the cursor where the run stands: the first step not done."""
        for v in self.views:
            if v.status not in ("succeeded", "skipped"):
                self.query_one(StepTable).select(v.step_id, v.target)
                return

    @property
    def running(self) -> bool:
        return any(w.group == "run" and w.is_running for w in self.workers)

    @on(DataTable.RowHighlighted, "#steps")
    def _highlighted(self) -> None:
        self.show_detail()

    def show_detail(self) -> None:
        """Description, fan-out, certificates and output of the selected step."""
        key = self.query_one(StepTable).selected()
        if key is None:
            return
        step = self.procedure.step(key[0])
        md = f"**{step.title}** · `{step.kind}`"
        if step.description:
            md += "\n\n" + self._render_text(step.description)
        box = self.query_one("#description-box")
        if getattr(box, "_shown", None) != md:
            box._shown = md  # type: ignore[attr-defined]
            self.query_one("#description", Markdown).update(md)
        fan = self.query_one(FanOut)
        fan.display = bool(step.foreach)
        if step.foreach:
            fan.show([v for v in self.views if v.step_id == step.id])
        certs = self.query_one(CertTable)
        certs.display = step.id in self.facts
        if step.id in self.facts:
            certs.show(self.facts[step.id])
        pane = self.query_one(OutputPane)
        if pane.store.shown != key:
            pane.show(key, self._journal_output(key))

    def _render_text(self, text: str) -> str:
        values = {k: Value(v) for k, v in self.record.params.items()}
        values.update({k: Value(v) for k, v in self.backend.journal.captures(self.run_id).items()})
        values.update({n: Value("********") for n in self.record.secret_names})
        try:
            return render(text, values, "text").text
        except TemplateError:
            return text

    def _journal_output(self, key: Key) -> list[str]:
        a = self.backend.journal.latest_attempts(self.run_id).get(key)
        if a is None:
            return []
        return self.backend.journal.output(a.id).splitlines()[-MAX_LINES:]

    # ---- running ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start (or resume) the run, asking for its secrets first when needed."""
        if self.running:
            self.notify("the run is already in progress")
            return
        if self.backend.run(self.run_id).finished:
            self.notify(f"run {self.run_id} is {self.record.state}; nothing left to do")
            return
        missing = [n for n in self.record.secret_names if n not in self.secrets]
        if missing:
            def got(values: dict[str, str] | None) -> None:
                if values:
                    self.secrets.update(values)
                    self.execute()
            self.app.push_screen(SecretsModal(self.run_id, missing), callback=got)
            return
        self.execute()

    @work(exclusive=True, group="run", exit_on_error=False)
    async def execute(self) -> str:
        """The engine, in this screen's event loop."""
        self.dirty = True
        return await self.engine.execute(self.run_id, self.secrets)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.dirty = True
        if event.worker.group != "run":
            return
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.app.report_error(event.worker.error)  # type: ignore[attr-defined]
        if event.state in (WorkerState.ERROR, WorkerState.CANCELLED, WorkerState.SUCCESS):
            self._drop_pending()

    async def ask_inline(self, request: DecisionNeeded) -> str:
        """Confirm and manual questions: the decision bar, answered by r / w / x."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.pending = (request, future)
        title = str(request.details.get("title", ""))
        self.query_one(DecisionBar).ask(request.question, request.prompt, title)
        if request.step_id:
            targets = request.details.get("targets") or [request.target]
            self.query_one(StepTable).select(request.step_id, targets[0] if targets else None)
        try:
            return await future
        finally:
            self.pending = None
            self.query_one(DecisionBar).clear()

    def answer(self, answer: str) -> bool:
        """Answer the pending question; False when nothing is pending or not a choice."""
        if self.pending is None:
            return False
        request, future = self.pending
        if answer not in request.details.get("choices", []) or future.done():
            return False
        future.set_result(answer)
        return True

    def _drop_pending(self) -> None:
        if self.pending is not None and not self.pending[1].done():
            self.pending[1].cancel()
        self.pending = None
        self.query_one(DecisionBar).clear()

    # ---- actions ---------------------------------------------------------------------------

    def action_run(self) -> None:
        """Run / confirm: answer yes (or done) to what the run waits for, else start it."""
        if self.pending is not None:
            self.answer("done" if self.pending[0].question == "manual" else "yes")
            return
        self.start()

    def action_wait(self) -> None:
        if self.pending is None:
            self.notify("nothing is waiting for an answer")
            return
        self.answer("wait" if self.pending[0].question == "manual" else "no")

    def action_skip(self) -> None:
        key = self.query_one(StepTable).selected()
        skip = self.engine.skip
        if key is None:
            return
        if self.running:
            self.notify("stop the run first (x), then skip", severity="warning")
            return
        def go(yes: bool | None) -> None:
            if yes:
                self.app.call_with_errors(  # type: ignore[attr-defined]
                    lambda: skip(self.run_id, key[0], key[1], "skipped by the operator"))
                self.dirty = True

        where = f" on {key[1]}" if key[1] else ""
        self.app.push_screen(ConfirmModal(
            f"Skip {key[0]}{where}?", "The step is recorded as skipped by you and the run "
            "continues after it when resumed.", "Skip"), callback=go)
        self.dirty = True

    def action_retry(self) -> None:
        """A failed (or waiting) run resumes at the step that stopped it."""
        if self.running:
            self.notify("the run is in progress", severity="warning")
            return
        self.start()

    def action_abort(self) -> None:
        if self.pending is not None and "abort" in self.pending[0].details.get("choices", []):
            self.answer("abort")
            return
        if self.pending is not None:
            self.answer("no")
            return
        if self.running:
            def stop(yes: bool | None) -> None:
                if yes:
                    self.workers.cancel_group(self, "run")
                    self.notify("run interrupted: the step in progress is in doubt; resume "
                                "with r to decide about it", severity="warning")
            self.app.push_screen(ConfirmModal(
                "Interrupt the run?", "The step in progress is stopped where it is and will "
                "be [b]in doubt[/b]: on resume you decide whether it took effect.",
                "Interrupt"), callback=stop)
            return
        abort = self.engine.abort
        self.app.call_with_errors(lambda: abort(self.run_id))  # type: ignore[attr-defined]
        self.dirty = True

    def action_rollback(self) -> None:
        from .rollback import RollbackScreen

        if self.running:
            self.notify("stop the run first (x)", severity="warning")
            return
        key = self.query_one(StepTable).selected()
        if key is None:
            return
        self.app.call_with_errors(lambda: self.app.push_screen(  # type: ignore[attr-defined]
            RollbackScreen(self.backend, self.run_id, key[0], self.secrets)))

    def action_comment(self) -> None:
        key = self.query_one(StepTable).selected()

        def save(text: str | None) -> None:
            if text:
                self.app.call_with_errors(  # type: ignore[attr-defined]
                    lambda: self.engine.comment(self.run_id, text, key[0] if key else None,
                                                key[1] if key else None))

        step = f" about step {key[0]}" if key else ""
        self.app.push_screen(TextModal(f"Comment{step}", "Kept in the change record."),
                             callback=save)

    def action_export(self) -> None:
        from .export import ExportScreen

        self.app.push_screen(ExportScreen(self.backend, run_id=self.run_id))

    def action_back(self) -> None:
        if self.running:
            self.notify("the run is in progress: interrupt it (x) before leaving",
                        severity="warning")
            return
        self.app.pop_screen()

    def on_screen_resume(self) -> None:
        self.dirty = True
