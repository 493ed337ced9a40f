"""Settling in-doubt steps: the operator decides; the engine never re-runs one on its own."""

from __future__ import annotations

import re

from .context import RunContext
from .events import Notice, OutputLine, RunState, StepFinished
from .journal_records import Attempt
from .model import StepBase
from .rollback import undo
from .template import render

IN_DOUBT_CHOICES = ("rerun", "skip", "done", "verify", "rollback", "stop", "abort")


async def settle(ctx: RunContext, a: Attempt) -> tuple[RunState, str] | None:
    """Resolve one in-doubt attempt with the operator; return a stop state or None."""
    run = ctx.run
    if a.status == "running":
        ctx.journal.set_attempt_status(a.id, "in_doubt", "interrupted before it finished")
        ctx.emit(
            StepFinished(
                run.id, a.step_id, a.target, "in_doubt", None, 0.0, "interrupted before it finished"
            )
        )
    step = run.procedure.step(a.step_id)
    choices = [c for c in IN_DOUBT_CHOICES if c != "verify" or step.verify]
    where = f" on {a.target}" if a.target else ""
    prompt = (
        f"Step {a.step_id}{where} was running `{a.command}` when the run was "
        "interrupted; it may or may not have taken effect."
    )
    while True:
        answer = await ctx.ask(
            "in_doubt",
            prompt,
            choices,
            a.step_id,
            a.target,
            command=a.command,
            started_at=a.started_at,
            attempt=a.attempt,
            verify=step.verify or "",
            output=ctx.journal.output(a.id)[-8000:],
        )
        if answer == "rerun":
            return None  # the step loop runs a new attempt
        if answer == "skip":
            ctx.journal.set_attempt_status(
                a.id, "skipped", "skipped by the operator after an interruption"
            )
            return None
        if answer == "done":
            ctx.journal.set_attempt_status(
                a.id, "succeeded", "marked done by the operator after an interruption"
            )
            return None
        if answer == "rollback":
            failed = await undo(ctx, only_step=a.step_id)
            if failed:
                return "failed", failed
            return "waiting", (f"step {a.step_id}{where} was rolled back after an interruption;"
                               " `runbook resume` runs it again")
        if answer == "abort":
            return "aborted", f"aborted by the operator at in-doubt step {a.step_id}{where}"
        if answer == "stop":
            return "in_doubt", (
                f"step {a.step_id}{where} is in doubt: it was running "
                f"`{a.command}` when the run was interrupted; resume with "
                "--in-doubt rerun|skip|done|verify|abort"
            )
        if await verify(ctx, step, a):
            ctx.journal.set_attempt_status(a.id, "succeeded", "verified after an interruption")
            return None
        choices = [c for c in choices if c != "verify"]
        prompt += " Its verify command did not succeed."


async def verify(ctx: RunContext, step: StepBase, a: Attempt) -> bool:
    """Run the step's `verify` command on its device; True when it (and verify_match) passed."""
    run = ctx.run
    target = run.device(a.target)
    command = render(step.verify or "", run.template_values(target)).text
    await ctx.connect(target)
    lines: list[str] = []

    def on_line(stream: str, text: str) -> None:
        text = run.redactor(text)
        lines.append(text)
        ctx.emit(OutputLine(run.id, step.id, a.target, text))

    result = await ctx.transport.exec(target.name, command, timeout=step.timeout, on_line=on_line)
    ok = not result.timed_out and result.exit_status == 0
    values = run.template_values(target)
    for template in step.verify_match:
        pattern = re.compile(render(template, values, "regex").text)
        ok = ok and any(pattern.search(line) for line in lines)
    ctx.emit(
        Notice(
            run.id,
            f"verify `{run.redactor(command)}` {'succeeded' if ok else 'did not succeed'}",
            "info" if ok else "warning",
            step.id,
            a.target,
        )
    )
    return ok
