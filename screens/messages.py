"""Messages that carry engine events into the Textual message queue."""

from __future__ import annotations

from textual.message import Message

from runbook.events import Event


class EngineEvent(Message):
    """One engine event (anything but output lines, which are batched); `reread`: the run's
    state must be read again from the engine (False: the screen already applied it)."""

    def __init__(self, event: Event, reread: bool = True) -> None:
        super().__init__()
        self.event = event
        self.reread = reread
