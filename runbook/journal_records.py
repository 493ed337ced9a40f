"""Plain records read from the run store: runs, attempts, backups and events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FINISHED = ("succeeded", "aborted", "rolled_back")


@dataclass(frozen=True)
class RunRecord:
    """A run as stored."""

    id: str
    created_at: str
    updated_at: str
    state: str
    reason: str
    procedure_id: str
    procedure_title: str
    procedure_path: str
    procedure_hash: str
    procedure_text: str
    params: dict[str, Any]
    secret_names: list[str]
    inventory: dict[str, Any]
    user: str
    hostname: str
    lock_pid: int | None
    lock_host: str | None
    lock_at: str | None
    lock_user: str | None = None

    @property
    def finished(self) -> bool:
        """Whether the run has nothing left to do."""
        return self.state in FINISHED


@dataclass(frozen=True)
class Attempt:
    """One try of one step on one target."""

    id: int
    run_id: str
    step_id: str
    target: str | None
    attempt: int
    status: str
    command: str
    started_at: str
    finished_at: str | None
    exit_status: int | None
    output_sha256: str | None
    output_bytes: int | None
    output_lines: int | None
    reason: str


@dataclass(frozen=True)
class EventRecord:
    """One hash-chained journal event."""

    run_id: str
    seq: int
    ts: str
    kind: str
    step_id: str | None
    target: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        """The fields the hash covers."""
        return {"run_id": self.run_id, "seq": self.seq, "ts": self.ts, "kind": self.kind,
                "step_id": self.step_id, "target": self.target, "data": self.data}


@dataclass(frozen=True)
class Backup:
    """One remote file as it was before a step changed it (`state` absent: it did not exist)."""

    id: int
    run_id: str
    step_id: str
    target: str | None
    host: str
    path: str
    state: str  # present | absent
    sha256: str | None
    size: int | None
    mode: int | None
    uid: int | None
    gid: int | None
    mtime: int | None
    method: str  # sftp | exec
    taken_at: str
    after_sha256: str | None  # the file when the step finished; rollback checks it
    after_state: str | None
    restored_at: str | None
    restore_note: str


@dataclass(frozen=True)
class StepView:
    """One row of a run's step list, for `runbook show` and the TUI."""

    step_id: str
    title: str
    kind: str
    target: str | None
    status: str
    attempt: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    exit_status: int | None = None
    reason: str = ""
