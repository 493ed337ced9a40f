"""The `backup`, `restore` and `copy` step kinds: file work on devices, every hash checked."""

from __future__ import annotations

from ..backups import sha256
from ..journal_records import Backup
from ..model import BackupStep, CopyStep, RestoreStep
from ..rollback import restore
from .base import Outcome, StepContext


async def save(ctx: StepContext, description: str) -> Outcome:
    """The engine has already saved the step's paths (as for any `modifies`); report them."""
    assert isinstance(ctx.step, BackupStep)
    for b in ctx.backups:
        size = f"{b.size} bytes, mode {b.mode:o}" if b.state == "present" else b.state
        ctx.output.line("stdout", f"saved {b.path} ({size}) sha256 {b.sha256 or '-'}")
    ctx.output.flush()
    return Outcome("succeeded", 0)


def chosen_backups(ctx: StepContext) -> list[Backup]:
    """The backups a restore step puts back: its `from_step`'s on this target, maybe filtered."""
    step = ctx.step
    assert isinstance(step, RestoreStep)
    wanted = [ctx.render(p, "text") for p in step.paths]
    out = []
    for b in ctx.journal.backups(ctx.run_id, step.from_step):
        if b.target != ctx.target_name:
            continue
        if wanted and not any(b.path == w or b.path.startswith(w.rstrip("/") + "/")
                              for w in wanted):
            continue
        out.append(b)
    return out


async def put_back(ctx: StepContext, description: str) -> Outcome:
    """Restore an earlier step's backups on this target, newest first, each read back."""
    step = ctx.step
    assert isinstance(step, RestoreStep)
    chosen = chosen_backups(ctx)
    if not chosen:
        return Outcome("failed", None, f"no backups of step {step.from_step} on "
                                       f"{ctx.target_name} to restore")
    # Restore each path to its state before `from_step` first touched it: the earliest backup.
    first: dict[str, Backup] = {}
    for b in chosen:
        first.setdefault(b.path, b)
    for b in reversed(list(first.values())):
        action, note = await restore(ctx.files, ctx.store, b)
        verified = f" sha256 {b.sha256} verified" if action == "restored" else ""
        ctx.output.line("stdout", f"{action} {b.path}{verified}" + (f" ({note})" if note else ""))
    ctx.output.flush()
    return Outcome("succeeded", 0)


async def copy(ctx: StepContext, description: str) -> Outcome:
    """Copy `from` to this target's `path` through this machine; hashes checked at both ends."""
    step = ctx.step
    assert isinstance(step, CopyStep)
    source = ctx.values[step.source.target].value
    await ctx.run.connect(source)
    src = ctx.run.files(source)
    src_path = ctx.render(step.source.path, "text")
    dest_path = ctx.render(step.path, "text")
    info = await src.stat(src_path)
    if info.kind != "file":
        return Outcome("failed", None, f"{source.name}:{src_path} is not a file ({info.kind})")
    data = await src.read(src_path)
    digest = sha256(data)
    again = sha256(await src.read(src_path))
    if again != digest:
        return Outcome("failed", None, f"{source.name}:{src_path} changed while it was read")
    mode = int(step.mode, 8) if step.mode else (info.mode or 0o600)
    dest = ctx.files
    await dest.write(dest_path, data, mode)
    back = sha256(await dest.read(dest_path))
    if back != digest:
        return Outcome("failed", None, f"{ctx.target_name}:{dest_path} reads back as "
                                       f"{back[:12]}, expected {digest[:12]}")
    got = await dest.stat(dest_path)
    if got.mode != mode:
        return Outcome("failed", None, f"{ctx.target_name}:{dest_path} has mode {got.mode:o}, "
                                       f"expected {mode:o}")
    ctx.output.line("stdout", f"copied {source.name}:{src_path} -> {ctx.target_name}:{dest_path}"
                              f" ({len(data)} bytes, mode {mode:o}) sha256 {digest} verified")
    ctx.output.flush()
    return Outcome("succeeded", 0)
