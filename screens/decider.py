"""Answers the engine's questions with modal screens: the TUI's side of the Decider protocol."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from runbook.events import DecisionNeeded

from .modals import QuestionModal

if TYPE_CHECKING:
    from textual.app import App


class TuiDecider:
    """Pushes a modal for each question and waits for the operator's choice."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def decide(self, request: DecisionNeeded) -> str:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def done(answer: str | None) -> None:
            if not future.done():
                future.set_result(answer or _fallback(request))

        self.app.push_screen(QuestionModal(request), done)
        return await future


def _fallback(request: DecisionNeeded) -> str:
    """What closing a modal without choosing means: never the risky answer."""
    return {"confirm": "no", "manual": "wait", "in_doubt": "stop",
            "host_key": "refuse"}.get(request.question, request.details["choices"][-1])
