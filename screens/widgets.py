"""Widgets of the Run screen: step table, batched output, decision bar, fan-out, certificates."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Input, Log, Markdown, ProgressBar, Static

from runbook.engine import StepView

from .format import STATE_STYLE, clean, duration, icon

MAX_LINES = 5000  # lines kept on screen per step; the journal keeps everything
Key = tuple[str, str | None]
TITLE_WIDTH = 24


class Field(Input):
    """An Input that does not blink in headless runs (deterministic snapshots)."""

    def on_mount(self) -> None:
        if self.app.is_headless:
            self.cursor_blink = False


def row_key(step_id: str, target: str | None) -> str:
    """The DataTable row key of one step on one target."""
    return f"{step_id}\t{target or ''}"


def parse_key(key: str) -> Key:
    """Inverse of `row_key`."""
    step_id, _, target = key.partition("\t")
    return step_id, target or None


class StepTable(DataTable[Text | str]):
    """The run's steps: state icon, title, target, duration."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = False
        self.add_column(" ", key="icon", width=1)
        self.add_column("Step", key="title", width=TITLE_WIDTH)
        self.add_column("Target", key="target")
        self.add_column("Time", key="time")

    def show(self, views: list[StepView], now: str | None = None,
             marks: dict[Key, str] | None = None, notes: dict[Key, str] | None = None) -> None:
        """Bring the table in line with the engine's view (adds rows, updates cells).

        `now`: the run is live here, so running steps show their elapsed time (else a
        `running` step no process holds shows as interrupted); `marks`: a state shown
        instead of the step's (`warn`); `notes`: text after the time (a wait step's polls).
        """
        existing = {k.value for k in self.rows}
        marks, notes = marks or {}, notes or {}
        numbers: dict[str, int] = {}
        for v in views:
            numbers.setdefault(v.step_id, len(numbers) + 1)
        for v in views:
            key = row_key(v.step_id, v.target)
            status = marks.get((v.step_id, v.target), v.status)
            if status == "running" and now is None:
                status = "interrupted"
            style = STATE_STYLE.get(status, "")
            title = Text(f"{numbers[v.step_id]:>2} {v.title}", style=style, overflow="ellipsis",
                         no_wrap=True)
            title.truncate(TITLE_WIDTH, overflow="ellipsis")
            finished = v.finished_at or (now if v.status == "running" else None)
            time = duration(v.started_at, finished)
            note = notes.get((v.step_id, v.target))
            cells: tuple[Text | str, ...] = (Text(icon(status), style=style), title,
                                             v.target or "", f"{time} {note}" if note else time)
            if key in existing:
                for col, value in zip(("icon", "title", "target", "time"), cells, strict=True):
                    self.update_cell(key, col, value)
            else:
                self.add_row(*cells, key=key)

    def selected(self) -> Key | None:
        """The step under the cursor."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return parse_key(key) if key else None

    def select(self, step_id: str, target: str | None) -> None:
        """Move the cursor to a step."""
        try:
            self.move_cursor(row=self.get_row_index(row_key(step_id, target)))
        except Exception:  # noqa: BLE001 - unknown row: leave the cursor where it is
            pass


class OutputStore:
    """Recent output lines per step, bounded; lines for the shown step wait to be flushed."""

    def __init__(self, max_lines: int = MAX_LINES) -> None:
        self.max_lines = max_lines
        self.lines: dict[Key, deque[str]] = {}
        self.pending: deque[str] = deque(maxlen=max_lines)
        self.shown: Key | None = None
        self.received = 0

    def add(self, key: Key, line: str) -> None:
        """Take one line (already redacted by the engine)."""
        self.extend(key, [line])

    def extend(self, key: Key, lines: Iterable[str]) -> None:
        """Take a chunk of lines (already redacted by the engine)."""
        cleaned = [clean(line) for line in lines]
        self.received += len(cleaned)
        self.lines.setdefault(key, deque(maxlen=self.max_lines)).extend(cleaned)
        if key == self.shown:
            self.pending.extend(cleaned)

    def take(self) -> list[str]:
        """Lines to write to the screen now."""
        out = list(self.pending)
        self.pending.clear()
        return out


class OutputPane(Vertical):
    """The selected step's output, written in batches so keystrokes stay responsive."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = OutputStore()

    def compose(self) -> ComposeResult:
        yield Log(max_lines=MAX_LINES, id="output-log")

    @property
    def log_widget(self) -> Log:
        return self.query_one(Log)

    def show(self, key: Key, fallback: list[str]) -> None:
        """Switch to another step's output (from memory, else `fallback` from the journal)."""
        self.store.shown = key
        self.store.pending.clear()
        log = self.log_widget
        log.clear()
        lines = list(self.store.lines.get(key, ())) or [clean(x) for x in fallback]
        if lines:
            log.write_lines(lines[-MAX_LINES:])
        self.border_subtitle = f"{key[0]}{' on ' + key[1] if key[1] else ''}"

    def flush(self) -> int:
        """Write waiting lines; return how many."""
        lines = self.store.take()
        if lines:
            self.log_widget.write_lines(lines)
        return len(lines)


class DecisionBar(Vertical):
    """What the engine waits for (a confirmation, a manual step) and which keys answer it."""

    shown_prompt = ""

    def compose(self) -> ComposeResult:
        yield Static(id="decision-title")
        yield Markdown(id="decision-body")
        yield Static(id="decision-keys")

    def ask(self, question: str, prompt: str, title: str = "", typed: str | None = None) -> None:
        """Show a question; the screen's bindings answer it (`typed`: a name to type)."""
        if typed is not None:
            head = "[b]Confirmation needed: this step cannot be undone[/b]"
            keys = (f"[b]r[/b] type {escape(typed)} to run it   [b]w[/b] no, stop here "
                    "(run waits)")
        elif question == "manual":
            head = (f"[b]Manual step[/b] {escape(title)}: do this, then press [b]r[/b] when it "
                    "is done")
            keys = "[b]r[/b] done   [b]w[/b] not yet (run waits)   [b]x[/b] abort the run"
        else:
            head = "[b]Confirmation needed[/b]"
            keys = "[b]r[/b] yes, run it   [b]w[/b] no, stop here (run waits)"
        self.query_one("#decision-title", Static).update(head)
        self.query_one("#decision-body", Markdown).update(prompt)
        self.query_one("#decision-keys", Static).update(keys)
        self.shown_prompt = prompt
        self.display = True

    def clear(self) -> None:
        self.shown_prompt = ""
        self.display = False


class FanOut(Vertical):
    """Progress and per-device status of a step that runs on many devices."""

    def compose(self) -> ComposeResult:
        yield ProgressBar(show_eta=False, id="fanout-progress")
        yield Static(id="fanout-devices")

    def show(self, views: list[StepView]) -> None:
        done = sum(v.status in ("succeeded", "failed", "skipped", "rolled_back") for v in views)
        self.query_one(ProgressBar).update(total=len(views), progress=done)
        parts = []
        for v in views:
            style = STATE_STYLE.get(v.status, "dim")
            parts.append(f"[{style}]{icon(v.status)} {escape(v.target or '')}[/]")
        self.query_one("#fanout-devices", Static).update("  ".join(parts))


class CertTable(DataTable[str | Text]):
    """Certificate facts a `cert` step produced (one column per device)."""

    ROWS = ("subject", "issuer", "serial", "not_after", "days_left", "key_matches",
            "chains_to_ca")
    STATUS_STYLE = {"ok": "green", "warn": "bold yellow", "fail": "bold red"}

    def show(self, facts: dict[str | None, dict[str, Any]]) -> None:
        """Status and problems first (visible without scrolling), then the facts."""
        self.clear(columns=True)
        self.add_column("fact", key="fact")
        for target in facts:
            self.add_column(target or "value", key=target or "value")
        status = [Text(("⚠ " if f.get("status") == "warn" else "") + _fact(f.get("status")),
                       style=self.STATUS_STYLE.get(str(f.get("status")), ""))
                  for f in facts.values()]
        self.add_row("status", *status)
        if any(f.get("problems") for f in facts.values()):
            self.add_row("problems", *[Text("; ".join(f.get("problems", [])), style="yellow")
                                       for f in facts.values()])
        for name in self.ROWS:
            self.add_row(name, *[_fact(f.get(name)) for f in facts.values()])


def _fact(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return str(value)
