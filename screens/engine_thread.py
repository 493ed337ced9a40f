"""The engine's own thread and event loop, so the UI's loop only draws and answers keys.

A run's journal commits (fsyncs), SSH ciphers and output handling cost the event loop that
runs them tens of milliseconds at a time; on a 1,000-device fan-out that made a key press
wait over half a second. The engine therefore runs in `EngineThread` (a thread owning its
own `asyncio.run`), its events reach the screen through an `Outbox` the screen drains on
its flush timer (at most every 50 ms: output is coalesced, never one message per line), and
its questions are asked on the UI's loop through `AskAcross` and answered there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
STOP_WAIT = 30.0  # seconds a closing screen waits for the engine to leave its journal tidy


class EngineThread(Generic[T]):
    """Runs `main()` on a dedicated thread in its own event loop; cancel with `stop()`."""

    def __init__(self, name: str, main: Callable[[], Awaitable[T]]) -> None:
        self.main = main
        self.done: concurrent.futures.Future[T] = concurrent.futures.Future()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[Any] | None = None
        self.stopping = False
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> EngineThread[T]:
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            result = asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for the run
            if isinstance(exc, asyncio.CancelledError):
                self.done.cancel()
            else:
                self.done.set_exception(exc)
        else:
            self.done.set_result(result)

    async def _main(self) -> T:
        with self._lock:
            self.loop = asyncio.get_running_loop()
            self.task = asyncio.current_task()
            if self.stopping:  # stopped before it began: nothing was started
                raise asyncio.CancelledError
        return await self.main()

    def stop(self) -> None:
        """Cancel the engine's run (thread-safe): like Ctrl-C in the CLI, the step in
        progress stays `running` in the journal, so it is in doubt when the run resumes."""
        with self._lock:
            self.stopping = True
            loop, task = self.loop, self.task
        if loop is not None and task is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # the loop closed meanwhile: the run is over
                pass

    async def result(self) -> T:
        """Await the run from another event loop; cancelling the wait stops the engine and
        still waits for it to finish tidying (its journal writes and SSH goodbyes)."""
        try:
            return await asyncio.shield(asyncio.wrap_future(self.done))
        except asyncio.CancelledError:
            self.stop()
            await asyncio.wait([asyncio.wrap_future(self.done)], timeout=STOP_WAIT)
            raise

    def join(self, timeout: float = STOP_WAIT) -> None:
        """Stop the engine and wait for its thread (for a screen or app that closes)."""
        self.stop()
        self.thread.join(timeout)


class Outbox:
    """Events from the engine's thread, kept until the UI's thread takes them (in order)."""

    def __init__(self) -> None:
        self._items: deque[Any] = deque()

    def put(self, item: Any) -> None:
        self._items.append(item)  # deque.append is atomic: no lock on the engine's path

    def drain(self) -> list[Any]:
        out = []
        items = self._items
        while items:
            out.append(items.popleft())
        return out

    def __len__(self) -> int:
        return len(self._items)


class AskAcross:
    """The engine's decider on its thread: each question is asked by `ui` on the UI's loop
    (modals, the decision bar) and the answer comes back; a stopped run withdraws it."""

    def __init__(self, ui: Any, loop: asyncio.AbstractEventLoop) -> None:
        """Made on the UI's thread: its context (Textual's active app) is the one the
        questions are asked in."""
        self.ui = ui
        self.loop = loop
        self.context = contextvars.copy_context()

    async def decide(self, request: Any) -> str:
        asked = self.context.copy().run(asyncio.run_coroutine_threadsafe,
                                        self.ui.decide(request), self.loop)
        try:
            return await asyncio.wrap_future(asked)
        except asyncio.CancelledError:
            asked.cancel()
            raise
