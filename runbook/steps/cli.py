"""The `cli` step kind: send lines to a prompt-driven CLI and check each command's output."""

from __future__ import annotations

import re

from .. import access
from ..model import CliStep
from ..promptsession import CliSession
from ..template import references
from .base import Outcome, StepContext

UNSAFE = re.compile(r"[\r\n\"\x00-\x1f]")


async def run_cli(ctx: StepContext, description: str) -> Outcome:
    """Open a session, send every line, fail on an error pattern; raises TransportError."""
    step = ctx.step
    assert isinstance(step, CliStep)
    lines = []
    for template in step.lines:
        for ref in references(template):
            one = "{{ " + ref.name + (f".{ref.attr}" if ref.attr else "") + " }}"
            if UNSAFE.search(ctx.render(one, "text")):
                return Outcome("failed", None, f"the value of {ref.name} holds a line break, a "
                                               "quote or a control character; it cannot be "
                                               "typed into a CLI safely")
        lines.append(ctx.render(template, "text"))
    answers = {question: ctx.render(answer, "text") for question, answer in step.answers.items()}
    platform = access.for_target(ctx.target)
    prompt = step.prompt or platform.levels[0].prompt  # the step's own prompt overrides
    session = await CliSession.open(ctx.transport, ctx.target_name, prompt,
                                    step.command_timeout, ctx.redactor, platform.paging)
    try:
        for line in lines:
            ctx.output.line("stdout", f"> {line}")
            output = await session.send(line, step.command_timeout, answers)
            for out in output:
                ctx.output.line("stdout", out)
                for pattern in step.errors:
                    if re.search(pattern, out):
                        ctx.output.flush()
                        return Outcome("failed", None, f"`{ctx.redactor(line)}` on "
                                                       f"{ctx.target_name}: {ctx.redactor(out)}")
    finally:
        ctx.output.flush()
        await session.close()
    reason = ctx.output.check(step.expect.model_copy(update={"exit": "any"}), None)
    return Outcome("failed" if reason else "succeeded", 0, reason or "")
