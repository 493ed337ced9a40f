"""The `wait` step kind: poll a command until its result meets `expect`, or give up."""

from __future__ import annotations

import asyncio

from ..events import Notice
from ..model import WaitStep
from .base import Outcome, StepContext


async def wait_until(ctx: StepContext, command: str) -> Outcome:
    """Poll `command` every `interval` s until `expect` holds or `timeout` s have passed."""
    step = ctx.step
    assert isinstance(step, WaitStep)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + step.timeout
    polls = 0
    while True:
        polls += 1
        ctx.output.reset_checks()
        remaining = max(deadline - loop.time(), 0.1)
        result = await ctx.transport.exec(ctx.target_name, command,
                                          timeout=min(step.poll_timeout, remaining),
                                          on_lines=ctx.output.take,
                                          stdin=ctx.stdin)
        ctx.output.flush()
        reason = ("the poll timed out" if result.timed_out
                  else ctx.output.check(step.expect, result.exit_status))
        if reason is None:
            return Outcome("succeeded", result.exit_status, "")
        remaining = deadline - loop.time()
        if remaining <= 0:
            return Outcome("failed", result.exit_status,
                           f"condition not met after {polls} polls in {step.timeout:g} s on "
                           f"{ctx.target_name}: {reason}")
        ctx.emit(Notice(ctx.run_id, f"not yet ({reason}); polling again in "
                                    f"{min(step.interval, remaining):g} s",
                        step_id=step.id, target=ctx.target_name))
        await asyncio.sleep(min(step.interval, remaining))
