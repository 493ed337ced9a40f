"""The change board's observer: a read-only live view of the journal (`runbook observe`/`serve`).

It is a separate small app, not the operator's app with keys hidden: it is given a read-only
journal reader (runbook.observe_feed) and never an engine, so no screen here can resume, roll
back, approve, abort or answer a decision. Its keys move around and quit; nothing else.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Log, Static

from runbook.observe_feed import (
    POLL_SECONDS,
    AttemptRow,
    JournalReader,
    ObserveError,
    RunFollower,
    RunRow,
    open_reader,
)

from .footer import Footer
from .format import STATE_STYLE, clean, duration, icon, short_time

LABELS = {"waiting": "waiting for the operator", "rolled_back": "rolled back",
          "in_doubt": "in doubt", "created": "not started"}
OUTPUT_LINES = 5000  # kept in the output pane; the journal keeps everything
SHOWN_EVENTS = {"step_started", "step_finished", "step_skipped", "decision_needed",
                "decision_made", "notice", "run_finished", "rollback_started",
                "rollback_finished", "rollback_refusal", "step_rolled_back", "approved", "comment",
                "operator"}


def state_text(state: str) -> Text:
    """`✔ succeeded`, coloured as in the operator's UI."""
    return Text(f"{icon(state)} {LABELS.get(state, state.replace('_', ' '))}",
                style=STATE_STYLE.get(state, ""))


def cells(*values: str | Text) -> list[Text]:
    """Table cells shown as they are: text from the journal is never read as markup."""
    return [v if isinstance(v, Text) else Text(v) for v in values]


class Banner(Static):
    """Says, on every screen, that this view changes nothing."""

    DEFAULT_CSS = "Banner { background: $boost; color: $text-muted; padding: 0 1; }"


class RunsScreen(Screen[None]):
    """Every run in the journal, newest first, refreshed as the journal changes."""

    def __init__(self, reader: JournalReader, poll: float) -> None:
        super().__init__()
        self.reader = reader
        self.poll = poll
        self.busy = False
        self.failing = False
        self.banner = (f"Read-only view of {self.reader.where}: nothing here changes a run. "
                       "Enter watches the selected run.")

    def compose(self) -> ComposeResult:
        yield Header()
        yield Banner(self.banner, id="banner", markup=False)
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    async def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        table.add_columns("run", "state", "procedure", "operator", "started", "updated")
        await self.refresh_runs()
        self.set_interval(self.poll, self.refresh_runs)

    async def on_screen_resume(self) -> None:
        await self.refresh_runs()

    async def refresh_runs(self) -> None:
        if self.busy or not self.is_current:  # a run is being watched: look at that only
            return
        self.busy = True
        try:
            runs = await asyncio.to_thread(self.reader.runs)
        except ObserveError as exc:
            self.query_one("#banner", Banner).update(Text(f"⚠ {exc}", style="yellow"))
            self.failing = True
            return
        finally:
            self.busy = False
        if self.failing:  # the journal answers again
            self.query_one("#banner", Banner).update(self.banner)
            self.failing = False
        table = self.query_one("#runs", DataTable)
        keep = table.cursor_row
        table.clear()
        for r in runs:
            table.add_row(*cells(r.id, state_text(r.state), r.procedure_id,
                                 f"{r.user}@{r.hostname}", short_time(r.created_at),
                                 short_time(r.updated_at)), key=r.id)
        if runs:
            table.move_cursor(row=min(keep, len(runs) - 1))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.app.push_screen(RunScreen(self.reader, str(event.row_key.value), self.poll))


class RunScreen(Screen[None]):
    """One run as it happens: its steps and their states, and their output as it arrives."""

    BINDINGS = [Binding("escape", "app.pop_screen", "All runs")]

    def __init__(self, reader: JournalReader, run_id: str, poll: float) -> None:
        super().__init__()
        self.reader = reader
        self.run_id = run_id
        self.poll = poll
        self.follower: RunFollower | None = None
        self.planned: list[tuple[str, str]] = []
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Banner("Read-only: nothing here changes the run. Esc: all runs.")
        yield Static(id="head")
        yield DataTable(id="steps", cursor_type="row", zebra_stripes=True)
        yield Log(id="output", max_lines=OUTPUT_LINES)
        yield Footer()

    async def on_mount(self) -> None:
        table = self.query_one("#steps", DataTable)
        table.add_columns("step", "target", "try", "state", "exit", "took", "why")
        self.query_one("#head", Static).update(f"run {self.run_id}")
        await self.follow()
        self.set_interval(self.poll, self.follow)

    async def follow(self) -> None:
        if self.busy:
            return
        self.busy = True
        try:
            if self.follower is None:
                self.follower = await asyncio.to_thread(self.reader.follow, self.run_id)
                self.planned = await asyncio.to_thread(self.reader.planned_steps, self.run_id)
            update = await asyncio.to_thread(self.follower.poll)
        except ObserveError as exc:
            self.query_one("#head", Static).update(Text(f"⚠ {exc}", style="yellow"))
            return
        finally:
            self.busy = False
        self.show_head(update.run)
        if update.attempts is not None:
            self.show_steps(update.attempts)
        log = self.query_one("#output", Log)
        for e in update.events:
            if e.kind in SHOWN_EVENTS:
                where = " ".join(x for x in (e.step_id, e.target) if x)
                log.write_line(f"» {e.ts[11:19]} {e.kind.replace('_', ' ')} {where}".rstrip())
        for chunk in update.output:
            who = chunk.step_id + (f"@{chunk.target}" if chunk.target else "")
            for line in chunk.text.splitlines():
                log.write_line(f"{who} | {clean(line)}")

    def show_head(self, run: RunRow) -> None:
        head = Text.assemble((f"run {run.id}", "bold"), f"  {run.procedure_title} "
                             f"({run.procedure_id})  by {run.user}@{run.hostname}\n", "state: ",
                             state_text(run.state))
        if run.reason:
            head.append(f" — {clean(run.reason)}")
        if run.held_by:
            head.append(f"  (driven by {run.held_by})", style="dim")
        self.query_one("#head", Static).update(head)

    def show_steps(self, attempts: list[AttemptRow]) -> None:
        latest: dict[tuple[str, str | None], AttemptRow] = {}
        for a in attempts:
            latest[(a.step_id, a.target)] = a
        order = [s for s, _ in self.planned]
        order += [a.step_id for a in attempts if a.step_id not in order]
        table = self.query_one("#steps", DataTable)
        keep = table.cursor_row
        table.clear()
        for step in order:
            rows = sorted((a for (s, _), a in latest.items() if s == step),
                          key=lambda a: a.target or "")
            if not rows:
                table.add_row(*cells(step, "", "", state_text("pending"), "", "", ""))
            for a in rows:
                table.add_row(*cells(step, a.target or "", str(a.attempt), state_text(a.status),
                                     "" if a.exit_status is None else str(a.exit_status),
                                     duration(a.started_at, a.finished_at), clean(a.reason)))
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))


class ObserverApp(App[int]):
    """The read-only observer: it holds a journal reader, never an engine."""

    TITLE = "runbook observer"
    SUB_TITLE = "read-only"
    ENABLE_COMMAND_PALETTE = False  # its system commands (screenshots, themes) are not needed
    BINDINGS = [Binding("q", "quit", "Quit")]
    CSS = "#steps { height: 1fr; } #output { height: 1fr; border-top: solid $primary; }"

    def __init__(self, reader: JournalReader, open_run: str | None = None,
                 poll: float = POLL_SECONDS) -> None:
        super().__init__()
        self.reader = reader
        self.open_run = open_run
        self.poll = poll

    def on_mount(self) -> None:
        self.push_screen(RunsScreen(self.reader, self.poll))
        if self.open_run:
            self.push_screen(RunScreen(self.reader, self.open_run, self.poll))


def run_observer(spec: str | None, data_dir: Path | None, open_run: str | None = None) -> int:
    """Open the observer in this terminal on the journal `spec` (see observe_feed.open_reader);
    raises ObserveError (one line) when the journal cannot be read."""
    reader = open_reader(spec, data_dir)
    try:
        if open_run:
            open_run = reader.run(open_run).id
        ObserverApp(reader, open_run).run()
    finally:
        reader.close()
    return 0
