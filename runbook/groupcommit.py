"""Group commit: attempts that start at the same moment share one journal transaction.

A fan-out over 200 devices starts up to `concurrency` attempts in the same turn of the event
loop. Each used to be its own committed transaction (an fsync each); now the first request of
a turn schedules one flush at the end of that turn, and every request made meanwhile joins it.
The write-ahead rule is unchanged: each caller gets its attempt back only after the shared
transaction has committed, and sends nothing before that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .events import Event
from .journal import Journal
from .journal_records import Attempt

Start = tuple[str, str, str | None, str, str]
MakeEvent = Callable[[Attempt], Event]
Pending = tuple[Start, MakeEvent, "asyncio.Future[tuple[Attempt, Event]]"]


class AttemptStarter:
    """Collects attempt starts made in one event-loop turn and commits them together, each
    with its `step_started` event (`record` appends an event to the open transaction)."""

    def __init__(self, journal: Journal, record: Callable[[Event], None]) -> None:
        self.journal = journal
        self.record = record
        self._pending: list[Pending] = []

    async def start(self, run_id: str, step_id: str, target: str | None, command: str,
                    make_event: MakeEvent, status: str = "running") -> tuple[Attempt, Event]:
        """The committed attempt and its recorded event; returns only once both are durable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Attempt, Event]] = loop.create_future()
        self._pending.append(((run_id, step_id, target, command, status), make_event, future))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        try:
            with self.journal.tx():
                attempts = self.journal.start_attempts([start for start, _, _ in batch])
                events = [make(a) for (_, make, _), a in zip(batch, attempts, strict=True)]
                for event in events:
                    self.record(event)
        except BaseException as exc:  # noqa: BLE001 - every waiter learns the commit failed
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, _, future), attempt, event in zip(batch, attempts, events, strict=True):
            if not future.done():
                future.set_result((attempt, event))
