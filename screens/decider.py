"""TuiDecider: answers the engine's questions with modals and the Run screen's decision bar."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from runbook.events import DecisionNeeded

from .modals import HostKeyModal, InDoubtModal

if TYPE_CHECKING:
    from textual.screen import Screen

SAFE = {"confirm": "no", "manual": "wait", "in_doubt": "stop", "host_key": "refuse"}


def safe_answer(request: DecisionNeeded) -> str:
    """The answer that changes nothing on a device, for when the operator gave none."""
    choices = list(request.details.get("choices", []))
    safe = SAFE.get(request.question, "")
    return safe if safe in choices or not choices else choices[-1]


def modal_for(request: DecisionNeeded) -> Screen[Any] | None:
    """The modal that asks `request`, or None when the Run screen asks it inline."""
    d = request.details
    if request.question == "host_key":
        return HostKeyModal(request.target or "?", str(d.get("host", "")), d.get("port"),
                            str(d.get("fingerprint", "unknown")), list(d.get("known", [])))
    if request.question == "in_doubt":
        return InDoubtModal(request.step_id, request.target, request.prompt, d)
    return None


class TuiDecider:
    """The engine awaits `decide`; a modal (or the decision bar) resolves the answer.

    `inline` is called for confirm and manual questions: it shows them in the Run screen and
    returns a Future that the screen's bindings resolve.
    """

    def __init__(self, app: Any, inline: Any = None) -> None:
        self.app = app
        self.inline = inline

    async def decide(self, request: DecisionNeeded) -> str:
        modal = modal_for(request)
        if modal is None and self.inline is not None:
            answer = await self.inline(request)
        elif modal is None:
            answer = safe_answer(request)
        else:
            future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

            def done(result: str | None) -> None:
                if not future.done():
                    future.set_result(result)

            self.app.push_screen(modal, callback=done)
            answer = await future
        choices = request.details.get("choices", [])
        return answer if answer in choices else safe_answer(request)
