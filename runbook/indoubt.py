"""Settling in-doubt steps: the operator decides; the engine never re-runs one on its own."""

from __future__ import annotations

import re

from .context import RunContext
from .errors import TransportError
from .events import Notice, OutputLine, RunState, StepFinished
from .journal_records import Attempt
from .model import StepBase
from .orphans import KILL_GRACE, RemoteGroup, RemoteProcesses, duration, since
from .rollback import undo
from .template import render

IN_DOUBT_CHOICES = ("rerun", "skip", "done", "verify", "rollback", "stop", "abort")
STILL_RUNNING_CHOICES = ("wait", "kill", "stop", "abort")
VERIFY_FAILED = "; its verify command did not succeed."
UNCHECKED = " runbook could not check whether it still runs on the device"


def remote_groups(ctx: RunContext, a: Attempt) -> list[int]:
    """The process groups journaled for attempt `a` (newest last)."""
    return [int(e.data["pgid"]) for e in ctx.journal.events(ctx.run.id, ("remote_started",))
            if e.kind == "remote_started" and e.step_id == a.step_id
            and e.target == a.target and e.data.get("attempt") == a.attempt]


async def still_running(ctx: RunContext, a: Attempt) -> RemoteGroup | None:
    """The attempt's command if it still runs on the device; raises TransportError/LookupError
    when that cannot be told."""
    groups = remote_groups(ctx, a)
    if not groups or not a.target:
        return None
    await ctx.connect(ctx.run.device(a.target))
    procs = RemoteProcesses(ctx.transport, a.target)
    for pgid in reversed(groups):
        found = await procs.find(pgid, a.started_at)
        if found is not None:
            return found
    return None


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
    where = f" on {a.target}" if a.target else ""
    prompt = (
        f"Step {a.step_id}{where} was running `{a.command}` when the run was "
        "interrupted; it may or may not have taken effect."
    )
    stop = await _orphan(ctx, a, step)
    if isinstance(stop, tuple):
        return stop
    if stop == "verified":
        return None
    prompt += stop
    choices = [c for c in IN_DOUBT_CHOICES if c != "verify" or step.verify]
    if stop.endswith(VERIFY_FAILED):
        choices.remove("verify")
    unchecked = ""
    if stop.startswith(UNCHECKED):
        choices.remove("rerun")
        unchecked = f";{UNCHECKED} (rerun is refused until it can)"
    why_not_verify = "" if step.verify else (
        f" Step {a.step_id} has no `verify` command, so verify cannot decide.")
    no_verify = "" if step.verify else " (it has no verify command, so verify cannot decide)"
    while True:
        answer = await ctx.ask(
            "in_doubt",
            prompt + why_not_verify,
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
                f"`{a.command}` when the run was interrupted{no_verify}{unchecked}; resume with "
                f"--in-doubt {'|'.join(c for c in choices if c != 'stop')}"
            )
        if await verify(ctx, step, a):
            ctx.journal.set_attempt_status(a.id, "succeeded", "verified after an interruption")
            return None
        choices = [c for c in choices if c != "verify"]
        no_verify = " (its verify command did not succeed)"
        prompt += " Its verify command did not succeed."


async def _orphan(ctx: RunContext, a: Attempt,
                  step: StepBase) -> tuple[RunState, str] | str:
    """Deal with the attempt's command if it still runs on the device.

    Returns a stop state, "verified" (it ended and its verify command succeeded), or a
    sentence to add to the in-doubt prompt ("" when nothing ran any more)."""
    run, where = ctx.run, f" on {a.target}" if a.target else ""
    try:
        group = await still_running(ctx, a)
    except (TransportError, LookupError) as exc:  # rerun is refused: it might still run
        return f"{UNCHECKED} ({run.redactor(str(exc))}), so it cannot be run again now."
    if group is None:
        return ""
    procs = RemoteProcesses(ctx.transport, group.target)
    choices = list(STILL_RUNNING_CHOICES)
    extra = ""
    while group is not None:
        head = (f"Step {a.step_id}{where} was running `{a.command}` when the run was "
                f"interrupted, and it is {group.describe()}.{extra} Wait for it to end, kill it"
                " (TERM, then KILL), or leave it; it cannot be run again while it runs.")
        answer = await ctx.ask("in_doubt", head, choices, a.step_id, a.target,
                               command=a.command, started_at=a.started_at,
                               attempt=a.attempt, verify=step.verify or "",
                               remote={"pgid": group.pgid, "pids": list(group.pids),
                                       "seconds": group.seconds},
                               output=ctx.journal.output(a.id)[-8000:])
        if answer == "stop":
            return "in_doubt", (f"step {a.step_id}{where} is {group.describe()}; resume with "
                                "--in-doubt wait (then verify) or --in-doubt kill")
        if answer == "abort":
            return "aborted", (f"aborted by the operator at in-doubt step {a.step_id}{where}, "
                               f"whose command is {group.describe()}")
        try:
            if answer == "wait":
                left = max(step.timeout - since(a.started_at), 0) + KILL_GRACE
                ctx.emit(Notice(run.id, f"waiting up to {duration(left)} for pid group "
                                   f"{group.pgid} on {group.target} to end", "info",
                                   a.step_id, a.target))
                group = await procs.wait(group, a.started_at, left)
                if group is None:
                    ctx.emit(Notice(run.id, f"the command of step {a.step_id} ended"
                                       f"{where}", "info", a.step_id, a.target))
                    if step.verify and await verify(ctx, step, a):
                        ctx.journal.set_attempt_status(
                            a.id, "succeeded", "ended on the device after an interruption "
                            "and verified")
                        return "verified"
                    return " It has since ended on the device" + (
                        VERIFY_FAILED if step.verify else ".")
                choices = [c for c in choices if c != "wait"]
                extra = f" It outlived its timeout ({step.timeout:g} s)."
            else:  # kill
                group = await procs.kill(group, a.started_at)
                if group is not None:
                    return "in_doubt", (f"step {a.step_id}{where} is {group.describe()} even "
                                        "after TERM and KILL; stop it on the device by hand")
                ctx.emit(Notice(run.id, f"stopped the command of step {a.step_id}{where} "
                                   "(TERM, then KILL)", "warning", a.step_id, a.target))
                return " Its command was then stopped on the device (TERM, then KILL)."
        except (TransportError, LookupError) as exc:
            return "in_doubt", (f"step {a.step_id}{where} is in doubt and runbook lost sight "
                                f"of its command on the device ({exc}); resume when the "
                                "device answers")
    return ""


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
