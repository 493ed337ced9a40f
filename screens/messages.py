"""Messages that carry engine events into the Textual message queue."""

from __future__ import annotations

from textual.message import Message

from runbook.events import Event


class EngineEvent(Message):
    """One engine event (anything but output lines, which are batched)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event
