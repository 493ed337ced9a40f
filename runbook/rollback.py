"""Undo a run: restore backed-up files newest first, then run `rollback` commands last step first.

Every action is journaled as it completes, so a rollback that is interrupted can simply be
started again: files already put back (and checked) are not touched twice, and rollback
commands that finished are not run again. Before anything changes, each file's present state
is compared with the state its step left it in; if someone else changed it since, rollback
refuses (unless forced) and names the files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import operators
from .backupkeys import BackupKeyError
from .backups import BackupStore, JournalBlobStore, current, sha256
from .context import RunContext
from .errors import CorruptBackup, RemoteFileError, RestoreMismatch, RollbackRefused, UsageError
from .events import (
    FileRestored,
    Notice,
    OutputLine,
    RollbackCommand,
    RollbackFinished,
    RollbackRefusal,
    RollbackStarted,
    StepRolledBack,
)
from .inventory import Target
from .journal import Journal
from .journal_records import Attempt, Backup
from .model import Procedure, StepBase
from .remote import RemoteFiles
from .template import render

if TYPE_CHECKING:  # annotation only: the engine imports this module (through indoubt)
    from .engine import Engine

UNDOABLE = ("succeeded", "failed", "in_doubt")


async def restore(files: RemoteFiles, store: BackupStore | JournalBlobStore,
                  b: Backup) -> tuple[str, str]:
    """Put one backup back; return (action, note). Raises RestoreMismatch if the check fails."""
    if b.state == "absent":
        await files.remove(b.path)
        state, _ = await current(files, b.path)
        if state != "absent":
            raise RestoreMismatch(f"{files.name}:{b.path} still exists after removing it")
        return "removed", "did not exist before the step"
    if b.state == "dir":
        keep = set(json.loads(store.get(b.sha256 or "")))
        extra = [p for p in await files.files_under(b.path) if p not in keep]
        for p in extra:
            await files.remove(p)
        return "cleaned", f"removed {len(extra)} file(s) created since" if extra else ""
    data = store.get(b.sha256 or "")
    await files.write(b.path, data, b.mode if b.mode is not None else 0o600)
    note = ""
    info = await files.stat(b.path)
    if b.uid is not None and (info.uid, info.gid) != (b.uid, b.gid):
        try:
            await files.chown(b.path, b.uid, b.gid or 0)
        except (RemoteFileError, OSError) as exc:
            note = f"owner not restored: {exc}"
    back = sha256(await files.read(b.path))
    if back != b.sha256:
        raise RestoreMismatch(f"{files.name}:{b.path} reads back as {back[:12]}, expected "
                              f"{(b.sha256 or '')[:12]}")
    if b.mode is not None and info.mode != b.mode:
        raise RestoreMismatch(f"{files.name}:{b.path} has mode {info.mode:o}, expected "
                              f"{b.mode:o}")
    return "restored", note


def select_steps(procedure: Procedure, latest: Mapping[tuple[str, str | None], Attempt],
                 backups: list[Backup], to_step: str | None,
                 only_step: str | None) -> list[StepBase]:
    """The steps to undo, in procedure order; raises UsageError for an unknown step id."""
    ids = [s.id for s in procedure.steps]
    for ref in (to_step, only_step):
        if ref is not None and ref not in ids:
            raise UsageError(f"no step {ref!r} in this procedure ({', '.join(ids)})")
    touched = {sid for (sid, _), a in latest.items() if a.status in UNDOABLE}
    touched |= {b.step_id for b in backups if b.restored_at is None}
    if only_step:
        chosen = [only_step]
    elif to_step:
        chosen = ids[ids.index(to_step):]
    else:
        chosen = ids
    return [s for s in procedure.steps if s.id in chosen and s.id in touched]


@dataclass(frozen=True)
class RollbackPlan:
    """What a rollback will do, computed once for the screen, the CLI and the engine alike.

    A step that was retried backed up its files once per attempt. Its first unrestored backup
    of a path holds the file as it was before the step, the later ones the file as a failed
    attempt left it: the path is put back once, from the first (`files`), and the later ones
    (`superseded`) are only marked as handled. Rollback commands are one per device the
    step's latest attempt touched (`commands`), less those that already ran in an
    interrupted rollback. So the counts people see equal the actions the engine takes.
    """

    steps: list[StepBase]
    backups: list[Backup]  # every unrestored backup of the chosen steps (checked before)
    files: list[Backup]  # one per (step, device, path), in the order they were taken
    superseded: dict[int, list[Backup]]  # backup id in `files` -> later copies of that path
    commands: list[tuple[StepBase, str, int, str]]  # (step, device, index, template), run order
    latest: Mapping[tuple[str, str | None], Attempt]

    def summary(self) -> str:
        """`2 file(s) to restore and 1 rollback command(s)`: the one count shown everywhere."""
        return (f"{len(self.files)} file(s) to restore and {len(self.commands)} rollback "
                "command(s)")


def plan(journal: Journal, procedure: Procedure, run_id: str, to_step: str | None = None,
         only_step: str | None = None) -> RollbackPlan:
    """The rollback of a run, without changing anything; raises UsageError for a bad step."""
    latest = journal.latest_attempts(run_id)
    all_backups = journal.backups(run_id)
    steps = select_steps(procedure, latest, all_backups, to_step, only_step)
    ids = {s.id for s in steps}
    backups = [b for b in all_backups if b.step_id in ids and b.restored_at is None]
    first: dict[tuple[str, str | None, str], Backup] = {}
    superseded: dict[int, list[Backup]] = {}
    for b in backups:
        key = (b.step_id, b.target, b.path)
        if key in first:
            superseded.setdefault(first[key].id, []).append(b)
        else:
            first[key] = b
    done = {(e.step_id, e.target, e.data["index"])
            for e in journal.events(run_id, ("rollback_command",))
            if e.data["status"] == "succeeded"}
    commands = []
    for step in reversed(steps):
        names = sorted({t for (sid, t), a in latest.items()
                        if sid == step.id and a.status in UNDOABLE and t})
        commands += [(step, name, i, template) for name in names
                     for i, template in enumerate(step.rollback) if (step.id, name, i) not in done]
    return RollbackPlan(steps, backups, list(first.values()), superseded, commands, latest)


async def rollback(engine: Engine, run_id: str, secrets: Mapping[str, str], *,
                   to_step: str | None = None, only_step: str | None = None,
                   force: bool = False) -> str:
    """Undo steps of a run (all, from `to_step` on, or just `only_step`); return the run state.

    Raises RollbackRefused before changing anything when a file changed behind our back or a
    step that cannot be undone ran (CorruptBackup / BackupKeyError when a backup cannot be
    trusted or opened). Each of these refusals is journaled first, as a `rollback_refusal`
    event in the hash chain, so that the change record shows that a rollback was asked for
    and why runbook refused it. The run's state is left as it was: nothing changed.
    """
    journal = engine.journal
    rec = journal.get_run(run_id)
    run = engine.load(rec.id, secrets)
    journal.lock(rec.id)
    ctx = engine.context(run)
    try:
        try:
            failed = await undo(ctx, to_step=to_step, only_step=only_step, force=force)
        except (RollbackRefused, CorruptBackup, BackupKeyError) as exc:
            ctx.emit(RollbackRefusal(rec.id, str(exc), to_step, only_step, force,
                                     operators.identity(journal)))
            raise
        if failed:
            journal.set_run_state(rec.id, "failed", failed)
            ctx.emit(RollbackFinished(rec.id, "failed", failed))
            return "failed"
        partial = bool(to_step or only_step)
        state = "waiting" if partial else "rolled_back"
        reason = ("rolled back from step " + (to_step or only_step or "") + "; `runbook resume`"
                  " runs the rolled-back steps again") if partial else ""
        journal.set_run_state(rec.id, state, reason)
        ctx.emit(RollbackFinished(rec.id, state, reason))
        return state
    finally:
        await ctx.close()
        journal.unlock(rec.id)


async def undo(ctx: RunContext, *, to_step: str | None = None,
               only_step: str | None = None, force: bool = False) -> str | None:
    """Restore and run rollback commands on the context's transport; None when it worked,
    else why a rollback command failed. Raises RollbackRefused before changing anything."""
    run, journal, store = ctx.run, ctx.journal, ctx.store

    def remote(name: str | None) -> RemoteFiles:
        return ctx.files(run.device(name))

    p = plan(journal, run.procedure, run.id, to_step, only_step)
    steps, latest = p.steps, p.latest
    _refuse_irreversible(run.procedure, steps, latest, p.backups)
    # Every backup to restore is decrypted and verified first: a missing or wrong backup key
    # is found before anything on a device changes.
    store.check([b.sha256 for b in p.files if b.sha256 and b.state in ("present", "dir")])
    ctx.emit(RollbackStarted(run.id, [s.id for s in steps], force))
    await _preflight(ctx, p.backups, remote, force)
    # Files first, newest change first; then the steps' rollback commands, last step first
    # (so that e.g. a daemon restarted by a rollback command reads the restored files).
    for b in reversed(p.files):
        # The later copies are marked first: were the rollback interrupted right after, the
        # next one must put the path back from this first copy, never from a later one.
        for later in p.superseded.get(b.id, []):
            journal.set_backup_restored(later.id, f"not needed: step {b.step_id} was retried; "
                                        f"{b.path} is put back from its first backup")
        await ctx.connect(run.device(b.target))
        action, note = await restore(remote(b.target or ""), store, b)
        journal.set_backup_restored(b.id, f"{action}: {note}" if note else action)
        ctx.emit(FileRestored(run.id, b.step_id, b.target, b.path, action, b.sha256, True,
                                 note))
    for step in reversed(steps):
        for s, name, i, template in p.commands:
            if s.id != step.id:
                continue
            target = run.device(name)
            await ctx.connect(target)
            if not await _command(ctx, step, target, i, template):
                return f"rollback command {i + 1} of step {step.id} failed on {name}"
        for (sid, t), a in latest.items():
            if sid == step.id and a.status in UNDOABLE:
                journal.set_attempt_status(a.id, "rolled_back")
                ctx.emit(StepRolledBack(run.id, sid, t))
    return None


def _refuse_irreversible(procedure: Procedure, steps: list[StepBase],
                        latest: Mapping[tuple[str, str | None], Attempt],
                        backups: list[Backup]) -> None:
    """Refuse before anything changes when a chosen step that cannot be undone took effect (or
    may have): undoing the steps before it would leave the devices worse off, not as before."""
    ids = [s.id for s in procedure.steps]
    saved = {b.step_id for b in backups if b.restored_at is None}
    for step in reversed(steps):
        if not step.irreversible:
            continue
        took = sorted(t or "-" for (sid, t), a in latest.items()
                      if sid == step.id and a.status in ("succeeded", "in_doubt"))
        if not took:
            continue
        later = [s.id for s in steps if ids.index(s.id) > ids.index(step.id)
                 and (s.rollback or s.id in saved)]
        hint = (" To undo only the steps after it, use `runbook rollback RUN --to "
                f"{later[0]}`." if later else " No step after it needs undoing.")
        raise RollbackRefused(
            f"step {step.id} (on {', '.join(took)}) cannot be undone: {step.irreversible} "
            f"Nothing was restored.{hint}")


async def _preflight(ctx: RunContext, backups: list[Backup],
                     remote: Callable[[str | None], RemoteFiles], force: bool) -> None:
    """Refuse when a file is not as its last step left it (someone else changed it)."""
    run = ctx.run
    latest: dict[tuple[str | None, str], Backup] = {}
    for b in backups:
        if b.restored_at is None:
            latest[(b.target, b.path)] = b
    changed = []
    for (target, path), b in latest.items():
        if b.after_state is None:
            ctx.emit(Notice(run.id, f"{target}:{path}: no state after step {b.step_id} was "
                                       "recorded (a backup step's snapshot, or the step was "
                                       "interrupted); restoring it without that check",
                               "warning", b.step_id, target))
            continue
        await ctx.connect(run.device(target))
        state, digest = await current(remote(target), path)
        if b.state == "dir" or (state, digest) == (b.after_state, b.after_sha256):
            continue
        changed.append(f"{target}:{path}")
    if changed and not force:
        raise RollbackRefused(
            f"{', '.join(changed)} changed since the step that modified "
            f"{'it' if len(changed) == 1 else 'them'} finished; someone else may have changed "
            "it. Nothing was restored. Check, then use --force to restore anyway.")
    for c in changed:
        ctx.emit(Notice(run.id, f"{c} changed since its step; restoring it anyway (--force)",
                           "warning"))


async def _command(ctx: RunContext, step: StepBase, target: Target, index: int,
                   template: str) -> bool:
    """Run one rollback command, journaling it before and after."""
    run = ctx.run
    rendered = render(template, run.template_values(target))
    run.redactor.add(rendered.secrets)
    shown = run.redactor(rendered.text)
    ctx.emit(RollbackCommand(run.id, step.id, target.name, index, shown, "started"))

    def on_line(stream: str, line: str) -> None:
        ctx.emit(OutputLine(run.id, step.id, target.name, run.redactor(line)))

    result = await ctx.transport.exec(target.name, rendered.text, timeout=step.timeout,
                                         on_line=on_line)
    ok = not result.timed_out and result.exit_status == 0
    ctx.emit(RollbackCommand(run.id, step.id, target.name, index, shown,
                                "succeeded" if ok else "failed", result.exit_status))
    return ok
