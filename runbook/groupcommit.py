"""Group commit: attempts that start at the same moment share one journal transaction.

A fan-out over 200 devices starts up to `concurrency` attempts in the same turn of the event
loop. Each used to be its own committed transaction (an fsync each); now the first request of
a turn schedules one flush at the end of that turn, and every request made meanwhile joins it.
The write-ahead rule is unchanged: each caller gets its attempt back only after the shared
transaction has committed, and sends nothing before that.
"""

from __future__ import annotations

import asyncio

from .journal import Journal
from .records import Attempt

Start = tuple[str, str, str | None, str, str]


class AttemptStarter:
    """Collects attempt starts made in one event-loop turn and commits them together."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._pending: list[tuple[Start, asyncio.Future[Attempt]]] = []

    async def start(self, run_id: str, step_id: str, target: str | None, command: str,
                    status: str = "running") -> Attempt:
        """The committed attempt; returns only once it is durable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Attempt] = loop.create_future()
        self._pending.append(((run_id, step_id, target, command, status), future))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        try:
            attempts = self.journal.start_attempts([start for start, _ in batch])
        except BaseException as exc:  # noqa: BLE001 - every waiter learns the commit failed
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), attempt in zip(batch, attempts, strict=True):
            if not future.done():
                future.set_result(attempt)
