"""The Run screen's answers: the decision bar (confirm, manual), yes / not now / abort / skip."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from runbook.events import DecisionNeeded

from .base import RunbookScreen
from .format import label
from .modals import ConfirmModal, TextModal, TypedConfirmModal
from .widgets import DecisionBar, StepTable

if TYPE_CHECKING:
    from runbook.model import Procedure

    from .backend import Backend


class Decisions(RunbookScreen[None]):
    """What the run waits for and how the operator answers it; the Run screen's base."""

    backend: Backend
    engine: Any
    procedure: Procedure
    record: Any  # the run as the backend last read it
    run_id: str
    dirty: bool
    pending: tuple[DecisionNeeded, asyncio.Future[str]] | None

    @property
    def running(self) -> bool:
        return any(w.group == "run" and w.is_running for w in self.workers)

    def resume(self) -> None:
        raise NotImplementedError

    def render_steps(self) -> None:
        raise NotImplementedError

    async def ask_inline(self, request: DecisionNeeded) -> str:
        """Confirm and manual questions: the decision bar, answered by r / w / x."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.pending = (request, future)
        self.show_pending()
        if request.step_id:
            targets = request.details.get("targets") or [request.target]
            self.query_one(StepTable).select(request.step_id, targets[0] if targets else None)
        try:
            return await future
        finally:
            if self.pending is not None and self.pending[1] is future:
                self.pending = None
            self.show_pending()

    def show_pending(self) -> None:
        """The decision bar shows the pending question, and nothing when none is pending."""
        bar = self.query_one(DecisionBar)
        # the status line says "waiting for you" (or no longer) at once, not at the next redraw
        self.render_steps()
        if self.pending is None:
            bar.clear()
            return
        request = self.pending[0]
        bar.ask(request.question, request.prompt, str(request.details.get("title", "")),
                typed_name(request) if request.question == "confirm" and
                self.critical(request) else None)

    def answer(self, answer: str) -> bool:
        """Answer the pending question; False when nothing is pending or not a choice."""
        if self.pending is None:
            return False
        request, future = self.pending
        if answer not in request.details.get("choices", []) or future.done():
            return False
        future.set_result(answer)
        return True

    def _drop_pending(self) -> None:
        if self.pending is not None and not self.pending[1].done():
            self.pending[1].cancel()
        self.pending = None
        self.query_one(DecisionBar).clear()

    def action_run(self) -> None:
        """Run / confirm: answer yes (or done) to what the run waits for, else resume it.

        A step that cannot be undone (or any step of a critical procedure) is confirmed by
        typing its device's name (or the step's id when it runs on several or none)."""
        if self.pending is not None:
            request, future = self.pending
            if request.question == "confirm" and self.critical(request):
                def typed(ok: bool | None) -> None:
                    if ok and self.pending is not None and self.pending[1] is future:
                        self.answer("yes")

                step = self.procedure.step(request.step_id or "")
                self.app.push_screen(TypedConfirmModal(
                    step.id, typed_name(request), request.prompt, step.irreversible or
                    "this procedure is marked critical"), callback=typed)
                return
            self.answer("done" if request.question == "manual" else "yes")
            return
        self.resume()

    def critical(self, request: DecisionNeeded) -> bool:
        """Whether the engine (or this screen's copy of the procedure) marks it critical."""
        if request.details.get("critical"):
            return True
        if request.step_id is None:
            return False
        step = self.procedure.step(request.step_id)
        return bool(step.irreversible) or self.procedure.risk == "critical"

    def action_wait(self) -> None:
        if self.pending is None:
            self.notify("nothing is waiting for an answer")
            return
        self.answer("wait" if self.pending[0].question == "manual" else "no")

    def action_abort(self) -> None:
        if self.pending is not None and "abort" in self.pending[0].details.get("choices", []):
            self.answer("abort")
            return
        if self.pending is not None:
            self.answer("no")
            return
        if self.running:
            def stop(yes: bool | None) -> None:
                if yes:
                    self.workers.cancel_group(self, "run")
                    self.notify("run interrupted: the step in progress is in doubt; resume "
                                "with r to decide about it", severity="warning")
            self.app.push_screen(ConfirmModal(
                "Interrupt the run?", "The step in progress is stopped where it is and will "
                "be [b]in doubt[/b]: on resume you decide whether it took effect.",
                "Interrupt"), callback=stop)
            return
        if self.backend.run(self.run_id).finished:
            self.notify(f"run {self.run_id} is already {label(self.record.state)}")
            return

        def close(reason: str | None) -> None:
            if reason:
                self.app.call_with_errors(lambda: self.engine.abort(
                    self.run_id, f"closed by the operator: {reason}"))
                self.dirty = True

        self.app.push_screen(TextModal(
            f"Close run {self.run_id} without finishing it?",
            "It is recorded as aborted with your reason and leaves the unfinished runs. "
            "Nothing is sent to any device. Reason:"), callback=close)


    def action_skip(self) -> None:
        key = self.query_one(StepTable).selected()
        skip = self.engine.skip
        if key is None:
            return
        if self.query_one(StepTable).on_group():
            self.notify("skip works on one device: expand the step (space) and pick it")
            return
        if self.running:
            self.notify("stop the run first (x), then skip", severity="warning")
            return
        def go(yes: bool | None) -> None:
            if yes:
                self.app.call_with_errors(
                    lambda: skip(self.run_id, key[0], key[1], "skipped by the operator"))
                self.dirty = True

        where = f" on {key[1]}" if key[1] else ""
        self.app.push_screen(ConfirmModal(
            f"Skip {key[0]}{where}?", "The step is recorded as skipped by you and the run "
            "continues after it when resumed.", "Skip"), callback=go)
        self.dirty = True


def typed_name(request: DecisionNeeded) -> str:
    """What the operator types to confirm a critical step: its one device, else its id."""
    targets = [t for t in request.details.get("targets") or [request.target] if t]
    return str(targets[0]) if len(targets) == 1 else str(request.step_id)
