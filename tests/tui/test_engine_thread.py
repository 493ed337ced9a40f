"""The engine's own thread: results, stopping, questions asked on the UI's loop, ordered events."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from runbook.screens.engine_thread import AskAcross, EngineThread, Outbox

UI_ONLY: contextvars.ContextVar[str] = contextvars.ContextVar("ui_only")


async def test_the_run_happens_on_another_thread_and_its_result_comes_back() -> None:
    here = threading.get_ident()

    async def main() -> int:
        return threading.get_ident()

    ran_on = await EngineThread("t", main).start().result()
    assert ran_on != here


async def test_an_error_in_the_run_reaches_the_waiting_screen() -> None:
    async def main() -> str:
        raise ValueError("journal is full")

    with pytest.raises(ValueError, match="journal is full"):
        await EngineThread("t", main).start().result()


async def test_cancelling_the_wait_stops_the_engine_and_lets_it_tidy_up() -> None:
    began, tidied = threading.Event(), threading.Event()

    async def main() -> str:
        began.set()
        try:
            await asyncio.Event().wait()  # a step that never ends by itself
        finally:
            tidied.set()
        return "finished"

    run = EngineThread("t", main).start()
    waiting = asyncio.create_task(run.result())
    await asyncio.to_thread(began.wait)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert tidied.is_set()  # the engine's finally ran before the wait gave up
    assert run.done.cancelled()
    run.thread.join()
    assert not run.thread.is_alive()


async def test_a_question_is_asked_on_the_ui_loop_in_its_context_and_answered() -> None:
    UI_ONLY.set("the app")
    asked_on: list[tuple[int, str]] = []

    class Ui:
        async def decide(self, request: str) -> str:
            asked_on.append((threading.get_ident(), UI_ONLY.get("none")))
            return f"yes to {request}"

    decider = AskAcross(Ui(), asyncio.get_running_loop())

    async def main() -> str:
        return await decider.decide("confirm")

    assert await EngineThread("t", main).start().result() == "yes to confirm"
    assert asked_on == [(threading.get_ident(), "the app")]


async def test_a_stopped_run_withdraws_its_question() -> None:
    asked, withdrawn = asyncio.Event(), asyncio.Event()

    class Ui:
        async def decide(self, request: str) -> str:
            asked.set()
            try:
                await asyncio.Event().wait()  # nobody answers
            except asyncio.CancelledError:
                withdrawn.set()
                raise
            return "never"

    decider = AskAcross(Ui(), asyncio.get_running_loop())

    async def main() -> str:
        return await decider.decide("confirm")

    run = EngineThread("t", main).start()
    await asyncio.wait_for(asked.wait(), 60)
    run.stop()
    await asyncio.wait_for(withdrawn.wait(), 60)
    with pytest.raises(asyncio.CancelledError):
        await run.result()


def test_the_outbox_gives_events_in_order_once() -> None:
    box = Outbox()
    for i in range(5):
        box.put(i)
    assert box.drain() == [0, 1, 2, 3, 4]
    assert box.drain() == [] and len(box) == 0
