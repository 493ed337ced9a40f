"""Widgets of the Run screen: step table, batched output, decision bar, fan-out, certificates."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from rich.markup import escape
from rich.style import Style as RichStyle
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable, Input, Log, Markdown, Static

from .fanout import FanOut, Key, StepTable, parse_key, row_key
from .format import clean

__all__ = ["MAX_LINES", "CertTable", "DecisionBar", "FanOut", "Field", "Key", "OutputPane",
           "OutputStore", "StepTable", "parse_key", "row_key"]

MAX_LINES = 5000  # lines kept on screen per step; the journal keeps everything
BURST = 200  # lines one flush writes while output pours in (more than a screen is tall)
BURST_SECONDS = 0.25  # ...and how often, at most


class Field(Input):
    """An Input that does not blink in headless runs (deterministic snapshots)."""

    def on_mount(self) -> None:
        if self.app.is_headless:
            self.cursor_blink = False


class OutputStore:
    """Recent output lines per step, bounded; lines for the shown step wait to be flushed.

    Lines are kept as the engine sent them (redacted) and made terminal-safe by `clean` only
    when they reach the screen: a step that prints a million lines shows its last few
    thousand, so cleaning each on arrival was most of the cost of streaming it."""

    def __init__(self, max_lines: int = MAX_LINES) -> None:
        self.max_lines = max_lines
        self.lines: dict[Key, deque[str]] = {}
        self.pending: deque[str] = deque(maxlen=max_lines)
        self.shown: Key | None = None
        self.received = 0

    def add(self, key: Key, line: str) -> None:
        """Take one line (already redacted by the engine)."""
        self.extend(key, (line,))

    def extend(self, key: Key, lines: Sequence[str]) -> None:
        """Take a chunk of lines (already redacted by the engine)."""
        self.received += len(lines)
        kept = self.lines.get(key)
        if kept is None:
            kept = self.lines[key] = deque(maxlen=self.max_lines)
        kept.extend(lines)
        if key == self.shown:
            self.pending.extend(lines)

    def recent(self, key: Key) -> list[str]:
        """The lines kept for `key`, terminal-safe."""
        return [clean(line) for line in self.lines.get(key, ())]

    def take(self, most: int | None = None) -> tuple[list[str], int]:
        """Lines to write to the screen now (at most the newest `most`), terminal-safe, and
        how many waiting lines were passed over."""
        waiting = list(self.pending)
        self.pending.clear()
        shown = waiting if most is None else waiting[-most:]
        return [clean(line) for line in shown], len(waiting) - len(shown)


class OutputLog(Log):
    """Textual's Log, with its style worked out once per redraw instead of once per line
    (walking the widget's ancestors each time was most of drawing an idle output pane)."""

    _style: RichStyle | None = None

    @property
    def rich_style(self) -> RichStyle:
        return self._style if self._style is not None else super().rich_style

    def render_lines(self, crop: Region) -> list[Strip]:
        self._style = super().rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._style = None


class OutputPane(Vertical):
    """The selected step's output, written in batches so keystrokes stay responsive."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = OutputStore()
        self.behind = False  # lines were passed over while output poured in
        self.burst_at = 0.0  # when the pane was last written during such a burst

    def compose(self) -> ComposeResult:
        yield OutputLog(max_lines=MAX_LINES, id="output-log")

    @property
    def log_widget(self) -> Log:
        return self.query_one(Log)

    def show(self, key: Key, fallback: list[str]) -> None:
        """Switch to another step's output (from memory, else `fallback` from the journal)."""
        self.store.shown = key
        self.store.pending.clear()
        self.behind = False
        log = self.log_widget
        log.clear()
        lines = self.store.recent(key) or [clean(x) for x in fallback]
        if lines:
            log.write_lines(lines[-MAX_LINES:])
        self.border_subtitle = f"{key[0]}{' on ' + key[1] if key[1] else ''}"

    def flush(self) -> int:
        """Write waiting lines; return how many.

        While output pours in faster than anyone reads, the pane is written at most every
        BURST_SECONDS, with only the newest BURST lines (a screenful is what is seen) behind
        a marker saying lines are passed over; the first flush with nothing new rewrites the
        pane with the step's last MAX_LINES lines, in full and in order, for scrolling back."""
        if len(self.store.pending) > BURST:
            now = time.monotonic()
            if now - self.burst_at < BURST_SECONDS:
                return 0
            self.burst_at = now
        lines, passed = self.store.take(BURST)
        log = self.log_widget
        if passed:
            self.behind = True
            log.write_lines([f"… {passed} more lines (all shown when the output pauses)",
                             *lines])
        elif lines:
            log.write_lines(lines)
        elif self.behind and self.store.shown is not None:
            self.behind = False
            following = log.is_vertical_scroll_end
            log.clear()
            log.write_lines(self.store.recent(self.store.shown), scroll_end=following)
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


class CertTable(DataTable[str | Text]):
    """Certificate facts a `cert` step produced (one column per device)."""

    ROWS = ("subject", "issuer", "serial", "not_after", "days_left", "key_matches",
            "chains_to_ca")
    STATUS_STYLE = {"ok": "green", "warn": "bold yellow", "fail": "bold red"}

    def show(self, facts: dict[str | None, dict[str, Any]]) -> None:
        """Status and problems first (visible without scrolling), then the facts.

        Columns get their widths here, from their cells: left to the table, they were
        worked out at its next idle moment, and a screen drawn before that showed every
        column cut to its heading."""
        status = [Text(("⚠ " if f.get("status") == "warn" else "") + _fact(f.get("status")),
                       style=self.STATUS_STYLE.get(str(f.get("status")), ""))
                  for f in facts.values()]
        rows: list[tuple[str, list[str | Text]]] = [("status", list(status))]
        if any(f.get("problems") for f in facts.values()):
            rows.append(("problems", [Text("; ".join(f.get("problems", [])), style="yellow")
                                      for f in facts.values()]))
        rows += [(name, [_fact(f.get(name)) for f in facts.values()]) for name in self.ROWS]
        self.clear(columns=True)
        self.add_column("fact", key="fact", width=max(len("fact"), *(len(n) for n, _ in rows)))
        for i, target in enumerate(facts):
            label = target or "value"
            self.add_column(label, key=label, width=max(
                len(label), *(Text(c).cell_len if isinstance(c, str) else c.cell_len
                              for _, cells in rows for c in cells[i:i + 1])))
        for name, cells in rows:
            self.add_row(name, *cells)


def _fact(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return str(value)
