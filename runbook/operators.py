"""Who drives a run and who approves its steps: operator identity, handover and four-eyes.

Identity is `$RUNBOOK_OPERATOR` when set (a name from the team's config), else the OS account
and machine, `user@host`. On the PostgreSQL journal each event also names the database role
that wrote it, which the server authenticated. What this proves: which account on which
workstation (and, on PostgreSQL, which database login) recorded a decision. What it does not
prove: the person at the keyboard — anyone who can use that account can act as it. Use
personal OS accounts and personal database roles where four-eyes approval must mean something.
"""

from __future__ import annotations

import getpass
import os
import socket
from typing import Any

from .errors import UsageError
from .inventory import Inventory
from .journal import Journal
from .journal_records import RunRecord


def identity(journal: Journal | None = None) -> str:
    """This process's operator identity: $RUNBOOK_OPERATOR, else the operator name the journal
    records (runbook.toml's `operator`, else the OS account) at this machine."""
    name = journal.operator if journal is not None else getpass.getuser()
    return os.environ.get("RUNBOOK_OPERATOR") or f"{name}@{socket.gethostname()}"


def operators(journal: Journal, run_id: str) -> list[str]:
    """Everyone who has driven the run, in order: its creator, then each handover."""
    seen: list[str] = []
    for e in journal.events(run_id, ("operator",)):
        if e.kind == "operator" and e.data.get("by") and e.data["by"] not in seen[-1:]:
            seen.append(str(e.data["by"]))
    if not seen:
        rec = journal.get_run(run_id)
        seen = [f"{rec.user}@{rec.hostname}"]
    return seen


def first_drive(journal: Journal, run_id: str) -> bool:
    """Whether nobody has driven the run yet (no operator recorded, no step attempted)."""
    return not any(e.kind == "operator" for e in journal.events(run_id, ("operator",))) and \
        not journal.attempts(run_id)


def take_over_from(journal: Journal, run_id: str) -> str | None:
    """The operator this one would take the run over from on resuming it, else None (nobody
    drove it yet, or this operator drove it last). The engine's handover asks the same."""
    if first_drive(journal, run_id):
        return None
    last = operators(journal, run_id)[-1]
    return None if last == identity(journal) else last


def approvers(journal: Journal, run_id: str, step_id: str) -> list[str]:
    """Distinct people who approved the step, in order of approval."""
    out: list[str] = []
    for e in journal.events(run_id, ("approved",)):
        if e.kind == "approved" and e.step_id == step_id and e.data.get("by") not in out:
            out.append(str(e.data["by"]))
    return out


def needed(approve: int | str | None) -> int:
    """How many approvers a step's `approve` asks for (`other` is one)."""
    if approve is None:
        return 0
    return 1 if approve == "other" else int(approve)


def missing(journal: Journal, run_id: str, step_id: str, approve: int | str | None) -> int:
    """How many more approvals the step needs before it may run."""
    drivers = set(operators(journal, run_id))
    valid = [a for a in approvers(journal, run_id, step_id) if a not in drivers]
    return max(0, needed(approve) - len(valid))


def approve(journal: Journal, run_id: str, step_id: str, approve_rule: int | str | None,
            comment: str = "", who: str | None = None) -> int:
    """Record `who`'s approval of a step in the hash chain; return how many are still missing.

    Raises UsageError when the step asks for no approval, or when the approver has driven
    the run (nobody approves their own step), or approved it already.
    """
    who = who or identity(journal)
    if not needed(approve_rule):
        raise UsageError(f"step {step_id} does not ask for approval")
    if who in operators(journal, run_id):
        raise UsageError(f"{who} has driven run {run_id}: the approval must come from someone "
                         "else (four eyes)")
    if who in approvers(journal, run_id, step_id):
        raise UsageError(f"{who} has already approved step {step_id}")
    data: dict[str, object] = {"by": who, "comment": comment}
    role = journal.database_user()
    if role:
        data["database_user"] = role
    journal.append_event(run_id, "approved", data, step_id=step_id)
    return missing(journal, run_id, step_id, approve_rule)


def on_this_workstation(recorded: Inventory, local: Inventory) -> Inventory:
    """The run's devices as this workstation reaches them, for a handover.

    The run keeps the devices it started on (names, addresses, ports, groups); credentials,
    key files, jump hosts and pinned host keys come from this operator's own inventory. A
    device that is missing there, or that names another address or port, is refused: the
    morning shift must not finish the night's change on a different box.
    """
    targets = {}
    for name, t in recorded.targets.items():
        mine = local.targets.get(name)
        if mine is None:
            raise UsageError(f"{name} is not in your inventory {local.source}; the run was "
                             f"started on {t.host}:{t.port}")
        if (mine.host, mine.port) != (t.host, t.port):
            raise UsageError(f"{name} is {mine.host}:{mine.port} in {local.source} but the run "
                             f"was started on {t.host}:{t.port}: refusing to continue on "
                             "another device")
        targets[name] = mine
    return Inventory(targets, recorded.groups, recorded.source)


def last_session(journal: Journal, rec: RunRecord, previous: str) -> dict[str, Any]:
    """What is known of the previous operator's session, for the take-over question.

    `rec` is the run as read before this session locked it: a session that ended without
    releasing the run (killed, crashed, the laptop closed) left its lock behind, which names
    the OS account, machine and process and since when it held the run. A session that
    ended cleanly left none; then only the operator and their last recorded action are known.
    """
    events = [e for e in journal.events(rec.id) if e.kind != "decision_needed"]
    out: dict[str, Any] = {"previous": previous,
                              "last_seen": events[-1].ts if events else rec.updated_at}
    if rec.lock_pid:
        who = f"{rec.lock_user}@{rec.lock_host}" if rec.lock_user else str(rec.lock_host)
        out.update({"session": who, "pid": rec.lock_pid, "since": rec.lock_at,
                    "left_locked": True})
    else:
        out["left_locked"] = False
    return out
