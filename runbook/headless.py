"""Headless operation: answer the engine's questions from flags and print its events."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field
from typing import TextIO

from .events import (
    DecisionMade,
    DecisionNeeded,
    Event,
    Notice,
    OutputLine,
    OutputLines,
    RunFinished,
    RunStarted,
    StepFinished,
    StepSkipped,
    StepStarted,
)

FLUSH_DELAY = 0.05  # seconds: how long an output line may wait in the buffer
EXIT_CODES = {"succeeded": 0, "failed": 1, "waiting": 3, "in_doubt": 4, "aborted": 7,
              "rolled_back": 0}


@dataclass
class FlagDecider:
    """Decides as the command line said: nothing is approved that was not asked for.

    - confirm steps: approved with `--yes` or `--confirm STEP`; a step that cannot be undone
      (or any step of a critical procedure) only with `--confirm STEP`;
    - manual steps: done only with `--confirm STEP`, else the run waits (exit 3);
    - in-doubt steps: the `--in-doubt` choice, else the run stops and says why (exit 4);
      `wait` waits for a command still running on the device, then verifies; `kill` stops
      it, then the run stops (exit 4) for the operator to decide; `rerun` is refused
      (exit 4) while the command still runs;
    - unknown host keys: accepted only with `--accept-new-host-key`;
    - a run another operator drove: taken over only with `--take-over`.
    """

    yes: bool = False
    confirmed: set[str] = field(default_factory=set)
    in_doubt: str | None = None
    accept_new_host_key: bool = False
    take_over: bool = False

    async def decide(self, request: DecisionNeeded) -> str:
        choices = request.details.get("choices", [])
        match request.question:
            case "confirm":
                if request.step_id in self.confirmed:
                    return "yes"
                if self.yes and request.details.get("critical"):
                    print(f"runbook: step {request.step_id} cannot be undone (or the procedure "
                          f"is critical): --yes does not cover it; give --confirm "
                          f"{request.step_id}", file=sys.stderr)
                    return "no"
                return "yes" if self.yes else "no"
            case "manual":
                return "done" if request.step_id in self.confirmed else "wait"
            case "in_doubt":
                pick = self.in_doubt
                if pick == "wait" and "wait" not in choices:
                    pick = "verify"  # nothing runs any more: waiting is over, verify decides
                return pick if pick is not None and pick in choices else "stop"
            case "host_key":
                return "accept" if self.accept_new_host_key else "refuse"
            case "take_over":
                return "yes" if self.take_over else "no"
        return choices[-1] if choices else ""


class Printer:
    """Prints engine events for people (default) or as JSON lines (`--json`)."""

    def __init__(self, out: TextIO | None = None, as_json: bool = False) -> None:
        self.out = out or sys.stdout
        self.as_json = as_json
        self._flush_pending = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, OutputLines):  # streamed output: one write per chunk
            if self.as_json:
                line: str | None = "\n".join(self._json(e) for e in event.each())
            else:
                prefix = _prefix(event.target)
                line = prefix + f"\n{prefix}".join(event.lines)
        elif self.as_json:
            line = self._json(event)
        else:
            line = self.format(event)
        if line is None:
            return
        self.out.write(line + "\n")
        if isinstance(event, OutputLine | OutputLines):
            self._flush_soon()  # output lines are flushed together, within 50 ms
        else:
            self.out.flush()

    @staticmethod
    def _json(event: Event) -> str:
        return json.dumps({"event": event.kind, "run_id": event.run_id, **event.data()})

    def _flush_soon(self) -> None:
        if self._flush_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.out.flush()
            return
        self._flush_pending = True
        loop.call_later(FLUSH_DELAY, self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        try:
            self.out.flush()
        except (OSError, ValueError):  # the reader went away; the journal has everything
            pass

    @staticmethod
    def format(event: Event) -> str | None:
        """One human line for an event (None for events not worth a line)."""
        where = ""
        target = getattr(event, "target", None)  # not every kind of event is about a device
        if target:
            where = f" on {target}"
        match event:
            case RunStarted():
                verb = "resuming" if event.resumed else "starting"
                return f"== {verb} run {event.run_id}: {event.title} ({event.procedure_id})"
            case StepStarted():
                cmd = f": $ {event.command}" if event.command else ""
                return f"-- {event.step_id}{where} (attempt {event.attempt}){cmd}"
            case OutputLine():
                return _prefix(event.target) + event.line
            case StepFinished():
                mark = {"succeeded": "ok", "in_doubt": "??"}.get(event.status, "!!")
                code = f", exit {event.exit_status}" if event.exit_status is not None else ""
                why = f": {event.reason}" if event.reason else ""
                return (f"{mark} {event.step_id}{where} {event.status}{code} "
                        f"({event.duration:.1f} s){why}")
            case StepSkipped():
                return f"-- {event.step_id}{where} skipped: {event.reason}"
            case Notice():
                return f"!  {event.message}"
            case DecisionNeeded():
                return f"?  {event.question}{where}: {event.prompt}"
            case DecisionMade():
                return f"   -> {event.answer}"
            case RunFinished():
                why = f": {event.reason}" if event.reason else ""
                return f"== run {event.run_id} {event.state}{why}"
        return None


def _prefix(target: str | None) -> str:
    """How an output line starts: indented, with its device."""
    return f"   {target}| " if target else "   | "
