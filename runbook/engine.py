"""The run state machine: executes a procedure's steps, journals every move, emits events.

The engine is the only writer of run state. A user interface (the CLI, the TUI) subscribes to
events and answers `DecisionNeeded` requests through a `Decider`; it never changes state itself.

Write-ahead rule: an attempt is committed as `running` before its command is sent, and as
finished afterwards. An attempt found `running` when a run is resumed is *in doubt*: the decider
chooses rerun, skip, done, verify (run the step's `verify` command), stop or abort; the engine
never re-runs it on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from . import operators
from .backups import record_after, take
from .conditions import evaluate
from .context import Decider, LoadedRun, RunContext
from .delivery import handover
from .errors import DiskFull, JournalError, RunbookError, TransportError, UsageError
from .events import (
    BackupTaken,
    Comment,
    Connected,
    DecisionMade,
    Event,
    Notice,
    OutputLine,
    OutputLines,
    RemoteStarted,
    RunFinished,
    RunStarted,
    RunState,
    StepFinished,
    StepSkipped,
    StepStarted,
)
from .groupcommit import AttemptStarter
from .indoubt import settle
from .inventory import Inventory, Target
from .journal import Journal
from .journal_records import Backup, RunRecord, StepView
from .loader import load_procedure_text, procedure_hash
from .model import BackupStep, ManualStep, Procedure, StepBase
from .orphans import StartedCommands
from .params import resolve, storable
from .redact import Redactor
from .rollout import roll_out
from .step_facts import critical, describe, paths_to_save, posix_shell
from .steps.base import Outcome, Output, StepContext
from .template import render

if TYPE_CHECKING:  # annotations only: the transport is made by the caller's factory
    from .transport import Transport

DONE = ("succeeded", "skipped")  # rolled-back steps run again when a run is resumed


def _name(target: Target | None) -> str | None:
    return target.name if target is not None else None


class Engine:
    """Runs and resumes procedures against devices, journaling before and after every step."""

    def __init__(self, journal: Journal, decider: Decider, *,
                 transport_factory: Callable[[Inventory | None], Transport],
                 inventory_from_snapshot: Callable[[dict[str, Any]], Inventory]) -> None:
        self.journal = journal
        self.decider = decider
        self.transport_factory = transport_factory
        self.inventory_from_snapshot = inventory_from_snapshot
        self._subscribers: list[Callable[[Event], None]] = []
        self.failure_code: int | None = None  # exit code hint when a device was unreachable
        self.starter = AttemptStarter(journal, self.record)  # group commit of attempt starts
        self.local_inventory: Inventory | None = None  # this workstation's, on a handover
        self.default_concurrency: int | None = None  # fan-out for steps that set none
        self.started = StartedCommands(self.emit)  # journals each command's process group

    # ---- events ----------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Call `callback` with every event, in order, as it happens."""
        self._subscribers.append(callback)

    def emit(self, event: Event) -> None:
        """Journal the event (output lines go to the output table instead) and publish it.

        A command's process group (`remote_started`) is published only once it is durable,
        and so is a device's `connected` before output is shown: whoever sees a command's
        output or its group may rely on a resume finding the group (see `record`). Output
        itself is not committed before it is shown; it commits with the next journal write
        (LINGER at the latest), and a crash before that leaves the attempt in doubt."""
        self.record(event)
        if isinstance(event, RemoteStarted):
            self.journal.after_commit(lambda: self.publish(event))
            return
        if isinstance(event, OutputLine | OutputLines):
            self.journal.flush_for_output()
        self.publish(event)

    def record(self, event: Event) -> None:
        """Append the event to the journal's hash chain (joins an open transaction).

        Two kinds are journaled with `later` (see Journal.later): `connected` (a device's
        verified host key), which commits with that device's first attempt start, before
        anything is sent to it; and a command's process group (`remote_started`), durable
        LINGER (20 ms) after the command started or with its outcome, whichever is first. A
        command that ends within those 20 ms thus costs one fsync, not two. What a crash in
        those 20 ms loses: the group of a command that may still run, so a resume cannot see
        it running and offers a rerun; the watchdog (orphans.py, on by default) stops such a
        command within a second of the session's end, before anyone can resume. Before this,
        the same held from the command's start until its group's line arrived."""
        if isinstance(event, OutputLine | OutputLines):
            return
        data = event.data()
        if isinstance(event, RemoteStarted | Connected):
            with self.journal.later(before_output=True):
                self.journal.append_event(event.run_id, event.kind, data,
                                          data.get("step_id"), data.get("target"))
            return
        self.journal.append_event(event.run_id, event.kind, data,
                                  data.get("step_id"), data.get("target"))

    def publish(self, event: Event) -> None:
        """Hand the event to every subscriber (the TUI, the CLI's printer)."""
        for cb in self._subscribers:
            cb(event)

    # ---- creating and loading runs ---------------------------------------------------------

    def create(self, procedure: Procedure, text: str, path: str, given: Mapping[str, Any],
               secrets: Mapping[str, str], inventory: Inventory | None) -> str:
        """Validate the params and store a new run; raises UsageError on a bad parameter."""
        values = resolve(procedure, given, secrets, inventory)
        return self.journal.create_run(
            procedure_id=procedure.id, procedure_title=procedure.title,
            procedure_path=path, procedure_hash=procedure_hash(text), procedure_text=text,
            params=storable(procedure, values), secret_names=procedure.secret_params,
            inventory=inventory.snapshot() if inventory is not None else {})

    def load(self, run_id: str, secrets: Mapping[str, str]) -> LoadedRun:
        """Rebuild a run from the journal; raises UsageError when a secret is missing."""
        rec = self.journal.get_run(run_id)
        procedure = load_procedure_text(rec.procedure_text, rec.procedure_path)
        inventory = self.inventory_from_snapshot(rec.inventory) if rec.inventory else None
        if inventory is not None and self.local_inventory is not None:
            inventory = operators.on_this_workstation(inventory, self.local_inventory)
        missing = [n for n in rec.secret_names if n not in secrets]
        if missing:
            raise UsageError(f"run {rec.id} needs the secret(s) {', '.join(missing)} again "
                             "(secrets are never stored)")
        values = resolve(procedure, rec.params, secrets, inventory)
        return LoadedRun(rec.id, procedure, values, inventory,
                         Redactor(s for s in secrets.values()), self.journal.captures(rec.id))

    def targets(self, run: LoadedRun, step: StepBase) -> list[Target | None]:
        """The devices a step runs on: its target, every device of its foreach, or [None]."""
        if step.target:
            return [run.values[step.target].value]
        if step.foreach:
            return list(run.values[step.foreach].value)
        return [None]

    def view(self, run_id: str) -> list[StepView]:
        """The run's steps with their current state, per target (works without secrets)."""
        rec = self.journal.get_run(run_id)
        procedure = load_procedure_text(rec.procedure_text, rec.procedure_path)
        latest = self.journal.latest_attempts(run_id)
        rows = []
        for step in procedure.steps:
            names: list[str | None] = [None]
            ref = step.target or step.foreach
            if ref and ref in rec.params:
                names = [n.strip() for n in str(rec.params[ref]).split(",") if n.strip()]
                if step.foreach and rec.inventory:
                    inv = self.inventory_from_snapshot(rec.inventory)
                    names = [t.name for t in inv.select(str(rec.params[ref]))]
            seen = {t for (s, t) in latest if s == step.id}
            names += sorted(n for n in seen if n not in names and n is not None)
            for name in names:
                a = latest.get((step.id, name))
                rows.append(StepView(step.id, step.title, step.kind, name,
                                     a.status if a else "pending", a.attempt if a else 0,
                                     a.started_at if a else None, a.finished_at if a else None,
                                     a.exit_status if a else None, a.reason if a else ""))
        return rows

    def comment(self, run_id: str, text: str, step_id: str | None = None,
                target: str | None = None) -> None:
        """Add an operator's comment to the run's record; refuses a step the run does not have."""
        rec = self.journal.get_run(run_id)
        steps = load_procedure_text(rec.procedure_text, rec.procedure_path).steps
        if step_id is not None and step_id not in (known := [s.id for s in steps]):
            raise UsageError(f"run {rec.id} has no step {step_id!r}; its steps are "
                             f"{', '.join(known)}")
        self.emit(Comment(rec.id, text, step_id, target))

    def skip(self, run_id: str, step_id: str, target: str | None, reason: str) -> None:
        """Mark a failed or pending step as skipped by the operator (journaled with why)."""
        rec = self.journal.get_run(run_id)
        a = self.journal.start_attempt(rec.id, step_id, target, "", "skipped")
        self.journal.finish_attempt(a.id, status="skipped", reason=reason)
        self.emit(DecisionMade(rec.id, step_id, target, "skip", "skip"))
        self.emit(StepSkipped(rec.id, step_id, target, reason))

    def abort(self, run_id: str, reason: str) -> None:
        """Close a stopped run as aborted, with the operator's reason (journaled).

        Raises JournalError while a live process holds the run, UsageError when it is
        already finished.
        """
        rec = self.journal.get_run(run_id)
        if rec.finished:
            raise UsageError(f"run {rec.id} is already {rec.state}")
        self.journal.lock(rec.id)
        try:
            self.journal.set_run_state(rec.id, "aborted", reason)
            self.emit(RunFinished(rec.id, "aborted", reason))
        finally:
            self.journal.unlock(rec.id)

    # ---- running ---------------------------------------------------------------------------

    async def execute(self, run_id: str, secrets: Mapping[str, str]) -> str:
        """Run or resume `run_id` until it ends, waits, fails or is in doubt; return the state.

        Raises RunbookError for problems before the run could start (lock held, secret
        missing, run already finished). Cancellation leaves the current attempt `running`,
        so it is in doubt when the run is resumed.
        """
        rec = self.journal.get_run(run_id)
        if rec.finished:
            raise UsageError(f"run {rec.id} is already {rec.state}; nothing to resume")
        run = self.load(rec.id, secrets)
        self.journal.lock(rec.id)
        ctx = self.context(run)
        resumed = bool(self.journal.attempts(rec.id)) or rec.state != "created"
        try:
            # Durable with the first attempt's start, before anything is sent (or with the
            # first question or the run's end): three fsyncs fewer before a run's first step.
            with self.journal.later():
                self.journal.set_run_state(rec.id, "running")
                self.emit(RunStarted(rec.id, run.procedure.id, run.procedure.title, resumed))
            state, reason = await self._hand_over(ctx, rec) or await self._drive(ctx)
            self.journal.set_run_state(rec.id, state, reason)
            self.emit(RunFinished(rec.id, state, reason))
            return state
        finally:
            await ctx.close()
            self.journal.unlock_files(rec.id)  # on a full disk these fail: a dead process's
            self.journal.unlock(rec.id)  # locks count as free anyway

    def context(self, run: LoadedRun) -> RunContext:
        """A fresh working set (and transport) for one execution or rollback of `run`."""
        transport = self.transport_factory(run.inventory)
        transport.on_secret = lambda s: run.redactor.add([s])  # access passwords
        transport.on_remote_start = self.started
        return RunContext(run, self.journal, transport, self.emit, self.decider)

    async def _hand_over(self, ctx: RunContext, before: RunRecord) -> tuple[RunState, str] | None:
        """Record who drives the run now; taking over from another operator is confirmed
        (`before`: the run as read before this session locked it, naming the last session)."""
        run = ctx.run
        who = operators.identity(self.journal)
        drivers = operators.operators(self.journal, run.id)
        if operators.first_drive(self.journal, run.id):
            with self.journal.later():  # with the first attempt's start, as above
                self.journal.append_event(run.id, "operator", {
                    "by": who, "previous": None, "database_user": self.journal.database_user()})
            return None
        if who == drivers[-1]:
            return None
        answer = await ctx.ask("take_over", f"Take over run {run.id} from {drivers[-1]}? It is "
                               "not held by any live process.", ["yes", "no"],
                               **operators.last_session(self.journal, before, drivers[-1]))
        if answer != "yes":
            return "waiting", f"run {run.id} was left to {drivers[-1]} (not taken over)"
        self.journal.append_event(run.id, "operator", {
            "by": who, "previous": drivers[-1], "database_user": self.journal.database_user()})
        return None

    async def _drive(self, ctx: RunContext) -> tuple[RunState, str]:
        run = ctx.run
        for a in self.journal.latest_attempts(run.id).values():
            if a.status in ("running", "in_doubt"):
                stop = await settle(ctx, a)
                if stop:
                    return stop
        steps = run.procedure.steps
        i = 0
        while i < len(steps):
            group = [steps[i]]
            if steps[i].rollout or steps[i].serial is not None:
                while steps[i].rollout and i + len(group) < len(steps) and \
                        steps[i + len(group)].rollout == steps[i].rollout:
                    group.append(steps[i + len(group)])
                stop = await roll_out(self, ctx, group)
            else:
                stop = await self._step(ctx, steps[i])
            if stop:
                return stop
            i += len(group)
        return "succeeded", ""


    async def _step(self, ctx: RunContext, step: StepBase, only: set[str] | None = None,
                    failures: list[str] | None = None) -> tuple[RunState, str] | None:
        """Run one step on its devices (`only` those, in a rollout batch). A device that fails
        fails the run, unless `failures` collects it (a rollout counts against max_fail)."""
        run = ctx.run
        latest = self.journal.latest_attempts(run.id, step.id)
        ref = step.target or step.foreach
        if ref and ref not in run.values:
            if (step.id, None) not in latest:
                reason = f"no device was given for {ref}"
                a = self.journal.start_attempt(run.id, step.id, None, "", "skipped")
                self.journal.finish_attempt(a.id, status="skipped", reason=reason)
                self.emit(StepSkipped(run.id, step.id, None, reason))
            return None
        todo = [t for t in self.targets(run, step)
                if ((done := latest.get((step.id, _name(t)))) is None
                    or done.status not in DONE) and (only is None or _name(t) in only)]
        if not todo:
            return None
        if step.when:
            values = run.condition_values()
            keep = [t for t in todo if evaluate(step.when, {**values, "target": _name(t)})]
            for t in todo:
                if t not in keep:
                    reason = f"condition `{step.when}` is false"
                    a = self.journal.start_attempt(run.id, step.id, _name(t), "", "skipped")
                    self.journal.finish_attempt(a.id, status="skipped", reason=reason)
                    self.emit(StepSkipped(run.id, step.id, _name(t), reason))
            todo = keep
            if not todo:
                return None
        if step.approve and (short := operators.missing(self.journal, run.id, step.id,
                                                        step.approve)):
            return "waiting", (f"step {step.id} waits for {short} more approval(s) from "
                               f"someone not driving the run: runbook approve {run.id} "
                               f"{step.id}")
        if step.confirm:
            prompt = step.confirm if isinstance(step.confirm, str) else f"Run step {step.id}: " \
                f"{step.title}?"
            text = render(prompt, run.template_values(), "text").text
            answer = await ctx.ask("confirm", text, ["yes", "no"], step.id,
                                   targets=[_name(t) for t in todo],
                                   critical=critical(run.procedure, step))
            if answer != "yes":
                return "waiting", f"step {step.id} waits for the operator's confirmation"
        if isinstance(step, ManualStep):
            return await self._manual(ctx, step)
        devices = [t for t in todo if t is not None]  # checks.py: device kinds name a target
        limit = step.concurrency
        if self.default_concurrency and "concurrency" not in step.model_fields_set:
            limit = self.default_concurrency
        sem = asyncio.Semaphore(limit)
        if len(devices) > limit:
            ctx.transport.warm([t.name for t in devices[limit:]], limit)
        outcomes = await asyncio.gather(*(self._instance(ctx, step, t, sem) for t in devices))
        for t, o in zip(devices, outcomes, strict=True):
            if o.status == "in_doubt":
                return "in_doubt", f"step {step.id} on {t.name} is in doubt: {o.reason}"
        for t, o in zip(devices, outcomes, strict=True):
            if o.status != "succeeded" and failures is not None:
                failures.append(t.name)
            elif o.status != "succeeded":
                return "failed", f"step {step.id} on {t.name} failed: {o.reason}"
        return None

    async def _manual(self, ctx: RunContext, step: ManualStep) -> tuple[RunState, str] | None:
        run = ctx.run
        text = render(step.description or step.title, run.template_values(), "text").text
        answer = await ctx.ask("manual", text, ["done", "wait", "abort"], step.id,
                               title=step.title)
        if answer == "wait":
            return "waiting", f"manual step {step.id} waits for the operator"
        if answer == "abort":
            return "aborted", f"aborted by the operator at manual step {step.id}"
        a = self.journal.start_attempt(run.id, step.id, None, "")
        self.emit(StepStarted(run.id, step.id, None, a.attempt))
        self.journal.finish_attempt(a.id, status="succeeded", reason="done by the operator")
        self.emit(StepFinished(run.id, step.id, None, "succeeded", None, 0.0,
                               "done by the operator"))
        return None

    async def _instance(self, ctx: RunContext, step: StepBase, target: Target,
                        sem: asyncio.Semaphore) -> Outcome:
        run = ctx.run
        async with sem:
            for n in range(step.retries + 1):
                outcome = await self._attempt(ctx, step, target)
                if outcome.status != "failed" or n == step.retries:
                    return outcome
                self.emit(Notice(run.id, f"attempt {n + 1} failed ({outcome.reason}); retrying "
                                         f"in {step.retry_delay:g} s", "warning", step.id,
                                 target.name))
                await asyncio.sleep(step.retry_delay)
        raise AssertionError("unreachable")

    async def _save(self, ctx: RunContext, step: StepBase, target: Target) -> list[Backup]:
        """Back up every path the step changes; the bytes and records are durable on return."""
        run = ctx.run
        saved: list[Backup] = []
        for path in paths_to_save(self.journal, run, step, target):
            self.journal.lock_file(f"{target.host}:{target.port}", path, run.id)
            for b in await take(self.journal, ctx.store, ctx.files(target), run_id=run.id,
                                step_id=step.id, host=target.host, path=path):
                saved.append(b)
                self.emit(BackupTaken(run.id, step.id, target.name, b.path, b.state, b.sha256,
                                      b.size, b.mode))
        return saved

    async def _attempt(self, ctx: RunContext, step: StepBase, target: Target) -> Outcome:
        from .steps import RUNNERS  # the step kinds (and asyncssh) load with the first step

        run = ctx.run
        name = target.name
        values = run.template_values(target)
        command = getattr(step, "command", None)
        handed = handover(step, values, posix_shell(target)) if command else None
        rendered = handed.command if handed else render(describe(step), values, "text")
        run.redactor.add(rendered.secrets)
        match = [render(p, values, "regex").text for p in step.expect.match]
        not_match = [render(p, values, "regex").text for p in step.expect.not_match]
        try:
            await ctx.connect(target)
        except TransportError as exc:
            reason = run.redactor(str(exc))
            self.failure_code = exc.exit_code
            self.emit(Notice(run.id, reason, "error", step.id, name))
            return Outcome("failed", None, reason)
        try:
            saved = await self._save(ctx, step, target)
        except JournalError as exc:  # not DiskFull: that stops the run
            self.emit(Notice(run.id, str(exc), "error", step.id, name))
            return Outcome("failed", None, f"{exc}; the step was not started")
        except TransportError as exc:
            reason = run.redactor(f"could not back up a file on {name} ({exc}); the step "
                                  "was not started")
            self.emit(Notice(run.id, reason, "error", step.id, name))
            return Outcome("failed", None, reason)
        a, started_event = await self.starter.start(
            run.id, step.id, name, run.redactor(rendered.text),
            lambda a: StepStarted(run.id, step.id, name, a.attempt, a.command))
        self.publish(started_event)
        output = Output(run_id=run.id, step=step, target=name, attempt_id=a.id,
                        journal=self.journal, redactor=run.redactor, emit=self.emit,
                        match=match, not_match=not_match)
        output.emit_lines = bool(self._subscribers)
        started = time.monotonic()
        self.started.now[name] = (run.id, step.id, a.attempt)
        try:
            outcome = await RUNNERS[step.kind](StepContext(
                ctx, step, target, values, output, saved, handed.stdin if handed else None),
                rendered.text)
        except TransportError as exc:
            output.flush()
            outcome = Outcome("in_doubt", None, run.redactor(str(exc)))
        except asyncio.CancelledError:
            output.flush()
            raise
        except DiskFull:
            raise  # nothing more can be journaled: the attempt stays `running`, in doubt
        except RunbookError as exc:
            output.flush()
            outcome = Outcome("failed", None, run.redactor(str(exc)))
        finally:
            self.started.now.pop(name, None)
        if saved and outcome.status != "in_doubt" and not isinstance(step, BackupStep):
            try:
                await record_after(self.journal, ctx.files(target), saved)
            except TransportError as exc:
                self.emit(Notice(run.id, run.redactor(f"could not read back changed files on "
                                                      f"{name}: {exc}"), "warning", step.id, name))
        finished = StepFinished(run.id, step.id, name, outcome.status, outcome.exit_status,
                                time.monotonic() - started, outcome.reason)
        # The outcome, its captures and its event: one transaction, committed with the next
        # journal write (the next attempt's start at the latest; see Journal.later). A crash
        # before that leaves this attempt `running`, so in doubt on resume, never lost.
        with self.journal.later():
            self.journal.finish_attempt(
                a.id, status=outcome.status, exit_status=outcome.exit_status,
                output_sha256=output.digest.hexdigest(), output_bytes=output.bytes,
                output_lines=output.lines, reason=outcome.reason)
            if outcome.status == "succeeded":
                for cap, value in output.captured.items():
                    self.journal.set_capture(run.id, cap, value, step.id, name)
            self.record(finished)
        if outcome.status == "succeeded":
            run.captures.update(output.captured)
        self.publish(finished)
        return outcome
