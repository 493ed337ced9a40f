"""The `cert` step kind: read a certificate from a device and check it with `cryptography`."""

from __future__ import annotations

from ..certfacts import facts, load_certs
from ..conditions import evaluate
from ..errors import CertError, ConditionError
from ..events import CertFactsFound
from ..model import CertStep
from .base import Outcome, StepContext

MAX_OUTPUT = 1024 * 1024
CAPTURED = {"subject": "subject", "issuer": "issuer", "serial": "serial",
            "not_after": "not_after", "days_left": "days_left",
            "fingerprint": "fingerprint_sha256"}


async def _command_output(ctx: StepContext, command: str) -> tuple[bytes, int | None, bool]:
    chunks: list[str] = []
    size = 0

    def on_line(stream: str, line: str) -> None:
        nonlocal size
        ctx.output.line(stream, line)  # shown and stored redacted, like any output
        if stream == "stdout" and size < MAX_OUTPUT:
            chunks.append(line + "\n")
            size += len(line) + 1

    result = await ctx.transport.exec(ctx.target_name, command, timeout=ctx.step.timeout,
                                      on_line=on_line)
    return "".join(chunks).encode(), result.exit_status, result.timed_out


async def check_cert(ctx: StepContext, description: str) -> Outcome:
    """Read the certificate (and key/CA), emit its facts, and apply thresholds and `require`."""
    step = ctx.step
    assert isinstance(step, CertStep)
    files = ctx.files
    try:
        if step.command:
            data, status, timed_out = await _command_output(ctx, ctx.render(step.command))
            if timed_out or status != 0:
                return Outcome("failed", status, f"`{step.command}` did not succeed "
                                                 f"(exit {status})")
        else:
            data = await files.read(ctx.render(step.path or "", "text"))
        cert = load_certs(data)[0]
        key = await files.read(ctx.render(step.key, "text")) if step.key else None
        ca = load_certs(await files.read(ctx.render(step.ca, "text"))) if step.ca else None
    except CertError as exc:
        return Outcome("failed", None, f"{ctx.target_name}: {exc}")
    found = facts(cert, key=key, ca=ca, warn_days=step.warn_days, fail_days=step.fail_days,
                  expired=step.expired)
    del key
    values = found.as_dict()
    ctx.emit(CertFactsFound(ctx.run_id, step.id, ctx.target_name, values))
    for name in ("subject", "issuer", "serial", "not_after", "days_left", "key_matches",
                 "chains_to_ca", "status"):
        ctx.output.line("stdout", f"{name}: {values[name]}")
    for problem in found.problems:
        ctx.output.line("stdout", f"{found.status}: {problem}")
    if step.facts_as:
        for short, key_name in CAPTURED.items():
            ctx.output.captured[f"{step.facts_as}_{short}"] = str(values[key_name])
    env = {**{k: v.value for k, v in ctx.values.items() if k != "target"},
           **ctx.captures, **values}
    failed_req = []
    for cond in step.require:
        try:
            if not evaluate(cond, env):
                failed_req.append(cond)
        except ConditionError as exc:
            return Outcome("failed", None, str(exc))
    ctx.output.flush()
    if found.status == "fail":
        return Outcome("failed", 0, "; ".join(found.problems))
    if failed_req:
        return Outcome("failed", 0, f"requirement not met: {failed_req[0]}")
    return Outcome("succeeded", 0, "; ".join(found.problems))
