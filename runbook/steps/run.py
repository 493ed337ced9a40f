"""The `run` step kind: one command over SSH exec, checked against `expect`."""

from __future__ import annotations

from .base import Outcome, StepContext


def timeout_reason(ctx: StepContext, seconds: float) -> str:
    """A message for a command stopped at its timeout, naming the last output seen."""
    last = ctx.output.tail[-1] if ctx.output.tail else "(no output)"
    return (f"timed out after {seconds:g} s on {ctx.target_name}; the command was stopped on "
            f"the device; last output: {last}")


async def run_command(ctx: StepContext, command: str) -> Outcome:
    """Run `command` on the step's target; raises TransportError if the connection drops."""
    result = await ctx.transport.exec(ctx.target_name, command, timeout=ctx.step.timeout,
                                      on_lines=ctx.output.take, stdin=ctx.stdin)
    ctx.output.flush()
    if result.timed_out:
        return Outcome("failed", None, timeout_reason(ctx, ctx.step.timeout))
    reason = ctx.output.check(ctx.step.expect, result.exit_status)
    if reason and ctx.output.tail and "exit status" in reason:
        reason += f"; last output: {ctx.output.tail[-1]}"
    return Outcome("failed" if reason else "succeeded", result.exit_status, reason or "")
