"""The Run screen's live side: the engine on its own thread, its events, and reading its view.

The engine runs in an EngineThread (engine_thread.py); this screen's worker only waits for
it. While a run is live, the engine's view of a 1,000-device run (a few hundred
milliseconds to read: the run, the procedure, the inventory, every attempt) is read on a
thread of its own with its own connection, so a key press never waits behind it; the step
events that arrive meanwhile are applied again to the view read. Once the run stops, the
view is read at once, in the UI's thread, as before.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from textual import work
from textual.worker import Worker, WorkerState

from runbook.engine import StepView
from runbook.events import Event, StepFinished, StepSkipped, StepStarted

from .base import RunbookScreen
from .engine_thread import AskAcross, EngineThread, Outbox
from .fanout import Key, apply_event

if TYPE_CHECKING:
    from .backend import Backend
    from .decider import TuiDecider

StepEvent = StepStarted | StepFinished | StepSkipped


class LiveRun(RunbookScreen[None]):
    """Starts the engine's thread, takes its events, reads its view without blocking keys."""

    backend: Backend
    decider: TuiDecider
    run_id: str
    secrets: dict[str, str]
    record: Any  # the run as the backend last read it
    views: list[StepView]
    view_index: dict[Key, int]
    dirty: bool
    live_since: float | None
    read_at: float
    read_cost: float
    outbox: Outbox
    engine_run: EngineThread[str] | None
    reading: list[tuple[StepEvent, str]] | None = None  # step events since a read began
    read_started = 0.0
    reads = 0  # a read's number: a later one (or one in the UI's thread) wins

    def feed(self, event: Event) -> None:
        raise NotImplementedError

    def render_steps(self) -> None:
        raise NotImplementedError

    # ---- the engine's thread ---------------------------------------------------------------

    @work(exclusive=True, group="run", exit_on_error=False)
    async def execute(self) -> str:
        """The engine, on its own thread and loop (engine_thread.py): this worker waits for
        it, and cancelling the worker (x, quitting) stops it and waits for it to finish."""
        self.dirty = True
        self.live_since = time.monotonic()
        decider = AskAcross(self.decider, asyncio.get_running_loop())
        self.engine_run = self.backend.start_run(self.run_id, self.secrets, decider,
                                                 self.outbox.put)
        try:
            return await self.engine_run.result()
        finally:
            self.deliver()

    def deliver(self) -> None:
        """Take what the engine's thread said since the last flush (in order)."""
        for event in self.outbox.drain():
            self.feed(event)

    def applied(self, event: StepEvent, now: str) -> None:
        """A step event was applied to the view: a read under way gets it too."""
        if self.reading is not None:
            self.reading.append((event, now))

    def on_unmount(self) -> None:
        """A closing app stops the engine and waits for it (the journal stays resumable)."""
        if self.engine_run is not None and self.engine_run.thread.is_alive():
            self.engine_run.join()

    # ---- the engine's view -----------------------------------------------------------------

    def refresh_steps(self) -> None:
        """Re-read the run's state from the engine (the screen keeps none of its own)."""
        self.dirty = False
        self.reads += 1
        self.reading = None
        started = time.monotonic()
        self.record = self.backend.run(self.run_id)
        self._take_view(self.backend.view(self.run_id), started)

    def refresh_aside(self) -> None:
        """Re-read the run's state on a reading thread (while the engine runs)."""
        if self.reading is not None:
            return
        self.dirty = False
        self.reads += 1
        self.reading = []
        self.read_started = time.monotonic()
        self._read(self.reads)

    @work(thread=True, group="view", exit_on_error=False)
    def _read(self, number: int) -> None:
        record, views = self.backend.read_view(self.run_id)
        self.app.call_from_thread(self._read_done, number, record, views)

    def _read_done(self, number: int, record: Any, views: list[StepView]) -> None:
        replay, self.reading = self.reading or [], None
        if number != self.reads or not self.is_attached:
            return  # a newer read, or the screen closed
        self.record = record
        self._take_view(views, self.read_started, replay)

    def _take_view(self, views: list[StepView], started: float,
                   replay: list[tuple[StepEvent, str]] | None = None) -> None:
        self.views = views
        self.view_index = {(v.step_id, v.target): i for i, v in enumerate(views)}
        for event, now in replay or []:
            apply_event(self.views, self.view_index, event, now)
        self.read_at = time.monotonic()
        self.read_cost = self.read_at - started
        self.render_steps()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "view":
            self.dirty = True
        elif event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
            self.reading = None  # read again (in the UI's thread once the run stops)
            self.dirty = True
            if event.worker.error is not None:
                self.backend.log_bug(event.worker.error)
            return
        self.run_worker_changed(event)

    def run_worker_changed(self, event: Worker.StateChanged) -> None:
        raise NotImplementedError
