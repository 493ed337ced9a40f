"""Small presentation helpers: state icons, durations, terminal-safe text."""

from __future__ import annotations

import re
from datetime import datetime

ICONS = {"pending": "·", "running": "▶", "succeeded": "✔", "failed": "✘", "skipped": "↷",
         "in_doubt": "?", "rolled_back": "↶", "waiting": "…", "created": "·",
         "aborted": "■", "interrupted": "⏸", "warn": "⚠"}
STATE_STYLE = {"succeeded": "green", "failed": "red", "in_doubt": "yellow", "running": "cyan",
               "waiting": "yellow", "aborted": "red", "rolled_back": "magenta",
               "interrupted": "yellow", "warn": "bold yellow"}
LABELS = {"waiting": "waiting for you", "rolled_back": "rolled back", "in_doubt": "in doubt",
          "created": "not started"}
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|"
                      r"[\x00-\x08\x0b-\x1f\x7f]")


def icon(status: str) -> str:
    """One-character symbol for a step or run state."""
    return ICONS.get(status, "·")


def label(state: str) -> str:
    """A state in words: `waiting for you`, `rolled back`, `interrupted`…"""
    return LABELS.get(state, state.replace("_", " "))


def clean(line: str) -> str:
    """Strip ANSI sequences and control characters (device output is shown as plain text)."""
    return _CONTROL.sub("", line.replace("\t", "    "))


def duration(started: str | None, finished: str | None) -> str:
    """`12.3s` / `4m05s` between two ISO times; empty when not finished."""
    if not started or not finished:
        return ""
    try:
        secs = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    except ValueError:
        return ""
    return seconds(secs)


def seconds(secs: float) -> str:
    """`12.3s` / `4m05s` / `1h02m`."""
    if secs < 60:
        return f"{secs:.1f}s"
    minutes, s = divmod(int(secs), 60)
    return f"{minutes}m{s:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def short_time(iso: str) -> str:
    """`2026-11-22 01:31` from an ISO timestamp."""
    return iso[:16].replace("T", " ")


def same_shape(before: str, after: str) -> bool:
    """Whether `after` takes exactly the room `before` took at any width: the same length,
    spaces and non-ASCII characters in the same places, only ASCII letters and digits
    changed (a ticking clock, a count). Then a Static can skip the layout pass."""
    def shape(text: str) -> list[tuple[int, str]]:
        return [(i, c) for i, c in enumerate(text) if c.isspace() or not c.isascii()]
    return len(before) == len(after) and shape(before) == shape(after)
