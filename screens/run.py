"""The Run screen: steps beside live output; run, confirm, skip, retry, abort, roll back, export."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.notifications import SeverityLevel
from textual.widgets import DataTable, Header, Markdown, Static
from textual.worker import Worker, WorkerState

from runbook.engine import StepView
from runbook.events import (
    BackupTaken,
    CertFactsFound,
    Comment,
    Connected,
    DecisionMade,
    DecisionNeeded,
    Event,
    HostKeyRejected,
    Notice,
    OutputLine,
    OutputLines,
    RemoteStarted,
    RunFinished,
    StepFinished,
    StepSkipped,
    StepStarted,
)

from .decider import TuiDecider, take_over_first
from .engine_thread import EngineThread, Outbox
from .fanout import BATCH, FAILED, FanOut, Groups, Key, StepTable, apply_event
from .fanout_keys import FanOutKeys
from .footer import Footer
from .format import STATE_STYLE, icon, label, same_shape, seconds
from .messages import EngineEvent
from .modals import (
    HostKeyModal,
    SecretsModal,
    TextModal,
    confirm_resume,
    refuse_if_held,
)
from .run_decisions import Decisions
from .run_live import LiveRun
from .widgets import MAX_LINES, CertTable, DecisionBar, OutputPane

if TYPE_CHECKING:
    from .backend import Backend

FLUSH_SECONDS = 0.05
READ_SHARE = 4  # the engine's view is read again after at least 4x the time the last read took
REDRAW_SECONDS = 0.5  # progress moves on screen at most twice a second; keys redraw at once
QUIET = (Connected, RemoteStarted)  # events that change nothing the screen shows
LEVELS: dict[str, SeverityLevel] = {"info": "information", "warning": "warning",
                                    "error": "error"}

COMMANDS = [("Run / confirm", "Start or resume the run, or answer yes to what it waits for",
             "run"),
            ("Not now", "Answer no to a confirmation / leave a manual step waiting", "wait"),
            ("Skip step", "Skip the selected step", "skip"),
            ("Retry step", "Resume the run: the failed step runs again", "retry"),
            ("Abort", "Stop the run (interrupts the step in progress)", "abort"),
            ("Roll back to here", "Undo the selected step and every step after it", "rollback"),
            ("Add comment", "Add a note to the change record", "comment"),
            ("Export change record", "Write the run's record as Markdown, JSON or HTML",
             "export"),
            ("Expand / collapse devices", "Show or hide the devices of a fan-out step",
             "expand"),
            ("Filter devices", "Cycle all / failed / running / waiting devices", "filter"),
            ("Next failure", "Jump to the next device that failed", "next_failure")]


class RunScreen(LiveRun, FanOutKeys, Decisions):
    """One run: rebuilt from the engine's view and journal, kept current by its events."""

    BINDINGS = [
        Binding("r", "run", "Run/OK", id="run.run", tooltip="Run, resume, or answer yes"),
        Binding("w", "wait", "Not now", id="run.wait", show=False),
        Binding("s", "skip", "Skip", id="run.skip"),
        Binding("t", "retry", "Retry", id="run.retry", show=False),  # as r: in ? and ctrl+p
        Binding("x", "abort", "Abort", id="run.abort"),
        Binding("b", "rollback", "Rollback", id="run.rollback",
                tooltip="Roll back the selected step and every step after it"),
        Binding("c", "comment", "Note", id="run.comment", tooltip="Add a comment", show=False),
        Binding("e", "export", "Export", id="run.export"),
        Binding("space", "expand", "Open", id="run.toggle",
                tooltip="Expand or collapse a fan-out step's devices (also Enter)"),
        Binding("f", "filter", "Filter", id="run.filter",
                tooltip="Show all / failed / running / waiting devices of fan-out steps"),
        Binding("n", "next_failure", "Failed", id="run.next_failure",
                tooltip="Jump to the next failed device (expands its step)"),
        Binding("escape", "back", "Home", id="run.back", show=False),
    ]
    COMMANDS_LIST = COMMANDS

    def __init__(self, backend: Backend, run_id: str, secrets: dict[str, str] | None = None,
                 autostart: bool = False) -> None:
        super().__init__()
        self.backend = backend
        self.record = backend.run(run_id)
        self.run_id = self.record.id
        self.procedure = backend.procedure_of(self.record)
        self.secrets: dict[str, str] = dict(secrets or {})
        self.autostart = autostart
        self.decider = TuiDecider(self, self.ask_inline)
        self.engine = backend.engine(self.decider)
        self.engine.subscribe(self.feed)  # the operator's own writes (comment, skip, close)
        self.outbox = Outbox()  # the running engine's events, from its thread
        self.engine_run: EngineThread[str] | None = None
        self.pending: tuple[DecisionNeeded, asyncio.Future[str]] | None = None
        self.facts: dict[str, dict[str | None, dict[str, Any]]] = {}
        self.dirty = True
        self.follow = True
        self.description_shown = ""
        self.polls: dict[Key, int] = {}
        self.backup_lines: dict[Key, list[str]] = {}
        self.live_since: float | None = None
        self.fanouts = {s.id for s in self.procedure.steps if s.foreach}
        self.groups = Groups(set())
        self.batches: dict[str, str] = {}  # rollout name -> `batch 3 of 10`
        self.views: list[StepView] = []
        self.view_index: dict[Key, int] = {}
        self.redraw = False
        self.read_at = self.read_cost = 0.0
        self.last_started: str | None = None
        self.failure_told: set[str] = set()

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

    def on_resize(self) -> None:
        """Under 100 columns the footer drops its padding and palette hint so the keys fit."""
        footer = self.query_one(Footer)
        footer.compact = self.size.width < 100
        footer.show_command_palette = self.size.width >= 100

    def on_mount(self) -> None:
        self.title = self.procedure.title
        self.sub_title = f"run {self.run_id}"
        self.query_one(DecisionBar).clear()
        self.query_one(FanOut).display = False
        self.query_one(CertTable).display = False
        self.query_one(OutputPane).border_title = "output"
        for e in self.backend.events(self.run_id):  # replay what the journal holds
            if e.kind == "cert_facts_found" and e.step_id:
                self.facts.setdefault(e.step_id, {})[e.target] = e.data.get("facts", {})
            elif e.kind == "backup_taken" and e.step_id:
                self.backup_lines.setdefault((e.step_id, e.target), []).append(
                    backup_line(e.data.get("path"), e.data.get("sha256"), e.data.get("state")))
            elif e.kind == "batch_started":
                self.batches[str(e.data.get("rollout"))] = \
                    f"batch {e.data.get('batch')} of {e.data.get('of')}"
        self.refresh_steps()
        self._select_current()
        self.set_interval(FLUSH_SECONDS, self.flush)
        self.set_interval(1.0, self._tick)
        self.query_one(StepTable).focus()
        if self.autostart:
            self.start()

    # ---- engine events ---------------------------------------------------------------------

    def feed(self, event: Event) -> None:
        """Each engine event, on the UI's thread: output is batched, every other event
        becomes a message."""
        if isinstance(event, OutputLines):
            self.query_one(OutputPane).store.extend((event.step_id, event.target), event.lines)
        elif isinstance(event, OutputLine):
            self.query_one(OutputPane).store.add((event.step_id, event.target), event.line)
        elif isinstance(event, QUIET):
            return
        elif isinstance(event, StepStarted | StepFinished | StepSkipped) and \
                apply_event(self.views, self.view_index, event, now := now_iso()):
            self.applied(event, now)
            self.redraw = True
            if isinstance(event, StepStarted) and event.step_id != self.last_started or \
                    isinstance(event, StepFinished) and event.status == "failed":
                self.post_message(EngineEvent(event, reread=False))
        else:
            self.post_message(EngineEvent(event))

    def _tick(self) -> None:
        """Every second while the run is live here: elapsed times move."""
        if self.running:
            self.redraw = True

    def flush(self) -> None:
        """Timer: write waiting output and refresh the step list if something changed.

        The engine's view of a 1,000-device run costs milliseconds to read, so it is read
        again only after READ_SHARE times that cost has passed: the event loop stays free for
        key presses, which redraw from the last view at once."""
        self.deliver()
        self.query_one(OutputPane).flush()
        now = time.monotonic()
        if self.dirty and now - self.read_at >= self.read_cost * READ_SHARE and \
                now - self.drawn_at >= REDRAW_SECONDS:
            if self.running:
                self.refresh_aside()  # a key press never waits for the read
            else:
                self.refresh_steps()
        elif self.redraw and now - self.drawn_at >= max(self.draw_cost * READ_SHARE,
                                                        REDRAW_SECONDS):
            self.render_steps()

    @on(EngineEvent)
    def _event(self, message: EngineEvent) -> None:
        event = message.event
        self.dirty = self.dirty or message.reread
        match event:
            case StepStarted():
                # the cursor follows the run from step to step, not from device to device
                # (on a fan-out that would take it from under the operator many times a second)
                if self.follow and not self.pending and event.step_id != self.last_started:
                    self.query_one(StepTable).select(event.step_id, event.target)
                self.last_started = event.step_id
            case StepFinished() if event.status == "failed":
                if event.step_id in self.fanouts:  # one toast per fan-out step: the row counts
                    if event.step_id in self.failure_told:
                        return
                    self.failure_told.add(event.step_id)
                where = f" on {event.target}" if event.target else ""
                self.notify(event.reason or "step failed", title=f"{event.step_id} failed{where}",
                            severity="error", timeout=8)
            case BackupTaken():
                line = backup_line(event.path, event.sha256, event.state)
                self.backup_lines.setdefault((event.step_id, event.target), []).append(line)
                self.query_one(OutputPane).store.add((event.step_id, event.target), line)
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
                # events are handled after the engine moved on: a newer question may already
                # be pending, and it must stay visible until it is answered
                self.show_pending()
            case RunFinished():
                self.show_pending()
                sev: SeverityLevel = "information" if event.state == "succeeded" else "warning"
                self.notify(event.reason or f"run {event.state}", title=f"run {event.state}",
                            severity=sev, timeout=10)

    def _notice(self, event: Notice) -> None:
        if "HOST KEY CHANGED" in event.message:
            return  # shown by the HostKeyRejected modal
        if event.step_id and event.message.startswith("not yet ("):  # a wait step polls again
            key = (event.step_id, event.target)
            self.polls[key] = self.polls.get(key, 1) + 1
            self.query_one(OutputPane).store.add(key, f"# {event.message}")
            return
        if event.step_id and (m := BATCH.match(event.message)):
            self.batches[m["name"]] = f"batch {m['n']} of {m['of']}"
        self.notify(event.message, severity=LEVELS.get(event.level, "information"), timeout=8)

    # ---- state from the engine -------------------------------------------------------------

    drawn_at = draw_cost = 0.0
    status_shown = ""

    def render_steps(self) -> None:
        """Draw the step list, status line and detail from the last view read."""
        self.redraw = False
        started = time.monotonic()
        running = self.running
        step_batches = {s.id: self.batches[s.rollout or s.id] for s in self.procedure.steps
                        if (s.rollout or s.id) in self.batches}
        self.query_one(StepTable).show(self.views, now_iso() if running else None,
                                       self._marks(), self._notes(), self.fanouts, self.groups,
                                       step_batches)
        filtered = self.groups.state_filter
        self.query_one(StepTable).border_title = \
            f"devices: {filtered} (f)" if filtered != "all" else ""
        rec = self.record
        state = "running" if running else self.backend.shown_state(rec)
        if self.pending is not None:
            state = "waiting"
        style = STATE_STYLE.get(state, "")
        reason = "" if running else rec.reason
        if state == "interrupted":
            reason = ("no process holds this run: it was interrupted (the TUI or CLI running "
                      "it stopped). r resumes it; the step that was running is then in doubt.")
        hint = "" if running or rec.finished else \
            "   [dim]r: resume (asks first) · x: close the run[/]"
        elapsed = ""
        if running and self.live_since is not None:
            elapsed = f" · {seconds(time.monotonic() - self.live_since)}"
        status = (f"[{style or 'b'}]{icon(state)} {label(state)}{elapsed}[/] "
                  f"{rec.procedure_id} · {rec.user}@{rec.hostname}"
                  + (f"\n{escape(reason)}" if reason else hint))
        if status != self.status_shown:  # the clock ticks without a layout pass of the screen
            self.query_one("#run-status", Static).update(
                status, layout=not same_shape(self.status_shown, status))
            self.status_shown = status
        self.sub_title = f"run {self.run_id} · {label(state)}"  # the clock ticks in the status
        self.show_detail()
        self.drawn_at = time.monotonic()
        self.draw_cost = self.drawn_at - started

    def _marks(self) -> dict[Key, str]:
        """A cert step whose certificate is only just good enough shows a warning."""
        return {(step_id, target): "warn" for step_id, per in self.facts.items()
                for target, facts in per.items() if facts.get("status") == "warn"}

    def _notes(self) -> dict[Key, str]:
        """A wait step's polls so far and its timeout."""
        out: dict[Key, str] = {}
        for v in self.views:
            if v.kind == "wait" and v.status == "running":
                step = self.procedure.step(v.step_id)
                n = self.polls.get((v.step_id, v.target), 1)
                out[(v.step_id, v.target)] = f"poll {n} · ≤{seconds(getattr(step, 'timeout', 0))}"
        return out

    def _select_current(self) -> None:
        """Put the cursor where the run stands: the first step not done."""
        for v in self.views:
            if v.status not in ("succeeded", "skipped"):
                self.query_one(StepTable).select(v.step_id, v.target)
                return

    @on(DataTable.RowHighlighted, "#steps")
    def _highlighted(self) -> None:
        self.show_detail()

    def show_detail(self) -> None:
        """Description, fan-out, certificates and output of the selected step."""
        key = self.query_one(StepTable).selected()
        if key is None:
            return
        step = self.procedure.step(key[0])
        md = f"**{step.title}** · `{getattr(step, 'kind', '')}`"
        problems = [f"{t + ': ' if t else ''}{p}" for t, f in self.facts.get(step.id, {}).items()
                    for p in f.get("problems", [])]
        if problems:  # a certificate warning is read first, wrapped, never cut off
            md += "\n\n" + "\n".join(f"- ⚠ **{p}**" for p in problems)
        if step.description:
            md += "\n\n" + self._render_text(step.description)
        if self.description_shown != md:
            self.description_shown = md
            self.query_one("#description", Markdown).update(md)
        fan = self.query_one(FanOut)
        fan.display = bool(step.foreach)
        devices = [v for v in self.views if v.step_id == step.id]
        if step.foreach:
            fan.show(devices, self.running, self.batches.get(step.rollout or step.id, ""))
            if key[1] is None and devices:  # the grouped row: a failed device's output first
                failed = [v for v in devices if v.status in FAILED]
                shown = self.query_one(OutputPane).store.shown
                if failed and (shown is None or shown[1] not in {v.target for v in failed}):
                    key = (step.id, failed[0].target)
                elif shown is not None and shown[0] == step.id:
                    key = shown
                else:
                    key = (step.id, next((v.target for v in devices if v.status == "running"),
                                         devices[0].target))
        certs = self.query_one(CertTable)
        certs.display = step.id in self.facts
        if step.id in self.facts:
            certs.show(self.facts[step.id])
        pane = self.query_one(OutputPane)
        if pane.store.shown != key:
            pane.show(key, self._journal_output(key))

    def _render_text(self, text: str) -> str:
        return self.backend.render_text(self.run_id, text)

    def _journal_output(self, key: Key) -> list[str]:
        """What the journal holds for a step: its backups, then its latest output."""
        return (self.backup_lines.get(key, []) + self.backend.output(self.run_id, key))[
            -MAX_LINES:]

    # ---- running ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start (or resume) the run, asking for its secrets first when needed."""
        if self.running:
            self.notify("the run is already in progress")
            return
        if self.backend.run(self.run_id).finished:
            self.notify(f"run {self.run_id} is {self.record.state}; nothing left to do")
            return
        if refuse_if_held(self, self.run_id):  # a live session: nothing to take over
            return
        if take_over_first(self, self.decider, self.run_id, self.start):
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

    def run_worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "run":
            return
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.app.report_error(event.worker.error)
        if event.state in (WorkerState.ERROR, WorkerState.CANCELLED, WorkerState.SUCCESS):
            self._drop_pending()

    # ---- actions ---------------------------------------------------------------------------

    def resume(self) -> None:
        """Resume after a one-line confirmation naming the next step and device."""
        if self.running:
            self.notify("the run is already in progress")
            return
        confirm_resume(self, self.run_id, self.start)

    def action_retry(self) -> None:
        """A failed (or waiting) run resumes at the step that stopped it."""
        self.resume()

    def action_rollback(self) -> None:
        from .rollback import RollbackScreen

        if self.running:
            self.notify("stop the run first (x)", severity="warning")
            return
        key = self.query_one(StepTable).selected()
        if key is None:
            return
        self.app.call_with_errors(lambda: self.app.push_screen(
            RollbackScreen(self.backend, self.run_id, key[0], self.secrets)))

    def action_comment(self) -> None:
        key = self.query_one(StepTable).selected()

        def save(text: str | None) -> None:
            if text:
                self.app.call_with_errors(
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
        self.app.back()

    def on_screen_resume(self) -> None:
        self.dirty = True


def now_iso() -> str:
    """The current time as the journal writes it (for elapsed times of running steps)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def backup_line(path: object, sha256: object, state: object) -> str:
    """`# backed up /etc/x (sha256 0a1b…)` for the output pane."""
    sha = str(sha256 or "")[:16]
    return f"# backed up {path} ({f'sha256 {sha}…' if sha else state})"
