"""Widgets of the Run screen: step table, batched output, decision bar, fan-out, certificates."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Input, Log, Markdown, Static

from .fanout import FanOut, Key, StepTable, parse_key, row_key
from .format import clean

__all__ = ["MAX_LINES", "CertTable", "DecisionBar", "FanOut", "Field", "Key", "OutputPane",
           "OutputStore", "StepTable", "parse_key", "row_key"]

MAX_LINES = 5000  # lines kept on screen per step; the journal keeps everything


class Field(Input):
    """An Input that does not blink in headless runs (deterministic snapshots)."""

    def on_mount(self) -> None:
        if self.app.is_headless:
            self.cursor_blink = False


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
