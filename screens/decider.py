"""TuiDecider: answers the engine's questions with modals and the Run screen's decision bar."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from runbook.events import DecisionNeeded

from .modals import HostKeyModal, InDoubtModal, TakeOverModal

if TYPE_CHECKING:
    from textual.screen import Screen

    from .base import RunbookScreen

SAFE = {"confirm": "no", "manual": "wait", "in_doubt": "stop", "host_key": "refuse",
        "take_over": "no"}


def safe_answer(request: DecisionNeeded) -> str:
    """The answer that changes nothing on a device, for when the operator gave none."""
    choices = list(request.details.get("choices", []))
    safe = SAFE.get(request.question, "")
    return safe if safe in choices or not choices else choices[-1]


def modal_for(request: DecisionNeeded) -> Screen[str] | None:
    """The modal that asks `request`, or None when the Run screen asks it inline."""
    d = request.details
    if request.question == "host_key":
        return HostKeyModal(request.target or "?", str(d.get("host", "")), d.get("port"),
                            str(d.get("fingerprint", "unknown")), list(d.get("known", [])))
    if request.question == "in_doubt":
        return InDoubtModal(request.step_id, request.target, request.prompt, d)
    if request.question == "take_over":  # its own words, never the generic decision bar
        return TakeOverModal(request.run_id, d)
    return None


class TuiDecider:
    """The engine awaits `decide` (on the UI's loop: through AskAcross from the engine's
    thread, or in a screen's worker); a modal answers it.

    `screen` is the screen whose app shows the modals. `inline` is called for confirm
    and manual questions: the Run screen shows them in its decision bar.
    """

    def __init__(self, screen: Screen[Any],
                 inline: Callable[[DecisionNeeded], Awaitable[str]] | None = None) -> None:
        self.screen = screen
        self.inline = inline
        self.answered: dict[str, str] = {}  # questions the operator answered before the run

    async def decide(self, request: DecisionNeeded) -> str:
        modal = modal_for(request)
        if request.question in self.answered:
            answer: str | None = self.answered[request.question]
        elif modal is None and self.inline is not None:
            answer = await self.inline(request)
        elif modal is None:
            answer = safe_answer(request)
        else:
            answer = await self._ask(modal)
        choices = request.details.get("choices", [])
        return answer if answer is not None and answer in choices else safe_answer(request)

    async def _ask(self, modal: Screen[str]) -> str | None:
        """Show `modal` and wait for its answer (from any task on the UI's loop: the engine
        asks from its own thread); a withdrawn question closes its modal unanswered."""
        answered: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

        def got(answer: str | None) -> None:
            if not answered.done():
                answered.set_result(answer)

        self.screen.app.push_screen(modal, callback=got)
        try:
            return await answered
        except asyncio.CancelledError:
            if modal.is_attached and modal is self.screen.app.screen:
                modal.dismiss(None)
            raise


def take_over_first(screen: RunbookScreen[Any], decider: TuiDecider, run_id: str,
                    then: Callable[[], None]) -> bool:
    """Ask the take-over question before the run's secrets are asked (the operator decides
    first, then types them); True when it was asked. On Take over, `then` continues and the
    engine's own take-over question gets that answer (journaled as the operator's); on
    Cancel nothing starts and the run stays as the other operator left it."""
    if "take_over" in decider.answered:
        return False
    details = screen.app.backend.take_over_question(run_id)
    if details is None:
        return False

    def answered(answer: str | None) -> None:
        if answer == "yes":
            decider.answered["take_over"] = "yes"
            then()
        else:
            screen.notify(f"run {run_id} is left to {details.get('previous')}; nothing changed")

    screen.app.push_screen(TakeOverModal(run_id, details), callback=answered)
    return True
