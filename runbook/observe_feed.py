"""Read-only follower of the run store for the change board: runs, steps and new output.

Nothing here can change a journal. A SQLite journal is opened with `mode=ro` (the file must
exist; it is never created, migrated or locked), a team's PostgreSQL journal in a session whose
transactions are all read-only (`default_transaction_read_only`), and only SELECTs are sent.
No run lock, advisory lock or row lock is taken: a writer never waits for an observer.

Following a run reads only what is new since the last look: events after the last seen
sequence number, output chunks after each attempt's last seen chunk, and the run's attempts
again only when something happened (a new event, or an attempt still running).

This module deliberately imports nothing of the engine or the writing journal (a test holds it
to that), so the observer that uses it cannot resume, roll back, approve or answer anything.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import JournalError
from .run_locks import lock_key, pid_alive

POLL_SECONDS = 0.5  # how often an observer looks at the journal: cheap, and live enough
RUNS_SHOWN = 500  # the newest runs listed; `runbook observe RUN` opens an older one
OUTPUT_BATCH = 100  # attempts whose new output is fetched in one query

_RUN_COLUMNS = ('id, state, reason, procedure_id, procedure_title, created_at, updated_at,'
                ' "user", hostname, lock_pid, lock_host, lock_user, lock_at')
_ATTEMPT_COLUMNS = ("id, step_id, target, attempt, status, command, started_at, finished_at,"
                    " exit_status, reason")


class ObserveError(JournalError):
    """The journal cannot be read (absent, unreachable, not a runbook journal)."""


@dataclass(frozen=True)
class RunRow:
    """A run as the change board sees it: `state` is the shown one (`interrupted` for a run
    journaled as running that nobody holds any more)."""

    id: str
    state: str
    reason: str
    procedure_id: str
    procedure_title: str
    created_at: str
    updated_at: str
    user: str
    hostname: str
    held_by: str | None


@dataclass(frozen=True)
class AttemptRow:
    """One try of one step on one target."""

    id: int
    step_id: str
    target: str | None
    attempt: int
    status: str
    command: str
    started_at: str
    finished_at: str | None
    exit_status: int | None
    reason: str


@dataclass(frozen=True)
class EventRow:
    """One journal event of the followed run."""

    seq: int
    ts: str
    kind: str
    step_id: str | None
    target: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class OutputChunk:
    """New output of one attempt (stored already redacted)."""

    attempt_id: int
    step_id: str
    target: str | None
    text: str


@dataclass
class Update:
    """What changed in a followed run since the last poll."""

    run: RunRow
    attempts: list[AttemptRow] | None = None  # all attempts, when any may have changed
    events: list[EventRow] = field(default_factory=list)
    output: list[OutputChunk] = field(default_factory=list)




def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class JournalReader:
    """A read-only connection to a journal; `open_reader` makes one."""

    def __init__(self, db: Any, postgres: bool, where: str) -> None:
        self._db = db
        self.postgres = postgres
        self.where = where  # for messages (a URL without its password)
        self._lock = threading.Lock()  # screens poll from worker threads; one query at a time

    # ---- plumbing --------------------------------------------------------------------------

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if self.postgres:
            sql = sql.replace("?", "%s")
        try:
            with self._lock:
                cur = self._db.execute(sql, tuple(args))
                names = [c[0] for c in cur.description or ()]
                return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        except Exception as exc:  # noqa: BLE001 - sqlite3 and psycopg errors alike
            if _no_table(exc):
                return []  # a journal no run was written to yet
            raise ObserveError(f"cannot read the journal {self.where}: "
                               f"{_first_line(exc)}") from None

    def close(self) -> None:
        """Disconnect."""
        self._db.close()

    # ---- runs ------------------------------------------------------------------------------

    def _held_keys(self) -> set[tuple[int, int]]:
        rows = self._rows("SELECT classid, objid FROM pg_locks WHERE locktype = 'advisory'"
                          " AND granted AND objsubid = 1")
        return {(int(r["classid"]), int(r["objid"])) for r in rows}

    def _holder(self, r: dict[str, Any], pg_held: set[tuple[int, int]]) -> str | None:
        if self.postgres:
            key = lock_key(r["id"]) & 0xFFFFFFFFFFFFFFFF
            if (key >> 32, key & 0xFFFFFFFF) not in pg_held:
                return None
        elif not r["lock_pid"] or (r["lock_host"] == socket.gethostname()
                                   and not pid_alive(int(r["lock_pid"]))):
            return None
        who = f"{r['lock_user']}@{r['lock_host']}" if r["lock_user"] else str(r["lock_host"])
        return f"{who} since {(r['lock_at'] or '')[11:16]} UTC"

    def _run_rows(self, rows: list[dict[str, Any]]) -> list[RunRow]:
        pg_held = self._held_keys() if self.postgres and rows else set()
        out = []
        for r in rows:
            held_by = self._holder(r, pg_held)
            state = "interrupted" if r["state"] == "running" and not held_by else r["state"]
            out.append(RunRow(r["id"], state, r["reason"], r["procedure_id"],
                              r["procedure_title"], r["created_at"], r["updated_at"],
                              r["user"], r["hostname"], held_by))
        return out

    def runs(self, limit: int = RUNS_SHOWN) -> list[RunRow]:
        """The newest `limit` runs, newest first (a team journal keeps years of them)."""
        return self._run_rows(self._rows(f"SELECT {_RUN_COLUMNS} FROM runs"
                                         " ORDER BY created_at DESC LIMIT ?", (limit,)))

    def run(self, ref: str) -> RunRow:
        """The run whose id is `ref`, ends with it, or starts with it (`last` = the newest)."""
        if ref in ("last", "latest"):
            rows = self._rows(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY created_at DESC"
                              " LIMIT 1")
        else:
            rows = self._rows(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (ref,))
            if not rows:
                rows = [r for r in self._rows(f"SELECT {_RUN_COLUMNS} FROM runs")
                        if r["id"].startswith(ref) or r["id"].endswith("-" + ref)]
        if not rows:
            raise ObserveError(f"no run matches {ref!r} in {self.where}")
        if len(rows) > 1:
            raise ObserveError(f"{ref!r} matches {len(rows)} runs; give more of the id")
        return self._run_rows(rows)[0]

    def planned_steps(self, run_id: str) -> list[tuple[str, str]]:
        """The (id, title) of each step of the run's procedure, in order, from the copy of the
        procedure the run stored (so steps not started yet can be shown)."""
        rows = self._rows("SELECT procedure_text FROM runs WHERE id = ?", (run_id,))
        try:
            doc = yaml.safe_load(rows[0]["procedure_text"]) if rows else None
        except yaml.YAMLError:
            return []
        steps = doc.get("steps") if isinstance(doc, dict) else None
        return [(str(s["id"]), str(s.get("title") or s["id"])) for s in steps or ()
                if isinstance(s, dict) and "id" in s]

    def follow(self, run_id: str) -> RunFollower:
        """A follower of one run; its first `poll` returns everything so far."""
        return RunFollower(self, self.run(run_id).id)


class RunFollower:
    """Follows one run: each `poll` returns only what is new since the previous one."""

    def __init__(self, reader: JournalReader, run_id: str) -> None:
        self.reader = reader
        self.run_id = run_id
        self.last_seq = 0
        self.seen: dict[int, int] = {}  # attempt id -> last output chunk read
        self.open: set[int] = set()  # attempts whose output may still grow
        self.attempts: dict[int, AttemptRow] = {}  # every attempt seen, by id (id order)
        self.first = True

    def poll(self) -> Update:
        """Read what is new: the run row, events after the last seen one, the attempts when
        something may have changed, and new output of attempts still running (plus a last
        read of those that finished since the previous poll)."""
        r = self.reader
        update = Update(r.run(self.run_id))
        for e in r._rows("SELECT seq, ts, kind, step_id, target, data FROM events"
                         " WHERE run_id = ? AND seq > ? ORDER BY seq",
                         (self.run_id, self.last_seq)):
            update.events.append(EventRow(int(e["seq"]), e["ts"], e["kind"], e["step_id"],
                                          e["target"], json.loads(e["data"])))
        if update.events:
            self.last_seq = update.events[-1].seq
        if self.first or update.events or self.open:
            # every attempt after a new event (a status may have changed anywhere); else only
            # from the oldest one still running on (new attempts always come after it)
            since = 0 if self.first or update.events else min(self.open)
            for a in r._rows(f"SELECT {_ATTEMPT_COLUMNS} FROM attempts WHERE run_id = ?"
                             " AND id >= ? ORDER BY id", (self.run_id, since)):
                self.attempts[int(a["id"])] = AttemptRow(
                    int(a["id"]), a["step_id"], a["target"] or None, int(a["attempt"]),
                    a["status"], a["command"], a["started_at"], a["finished_at"],
                    a["exit_status"], a["reason"])
            self.first = False
            update.attempts = list(self.attempts.values())
            read = {i for i in self.attempts if i not in self.seen or i in self.open}
            update.output = self._output(read, self.attempts)
            self.open = {a.id for a in update.attempts if a.finished_at is None}
        return update

    def _output(self, ids: set[int], by_id: dict[int, AttemptRow]) -> list[OutputChunk]:
        out: list[OutputChunk] = []
        ordered = sorted(ids)
        for start in range(0, len(ordered), OUTPUT_BATCH):
            batch = ordered[start:start + OUTPUT_BATCH]
            where = " OR ".join("(attempt_id = ? AND seq > ?)" for _ in batch)
            args = [x for i in batch for x in (i, self.seen.get(i, 0))]
            for o in self.reader._rows(f"SELECT attempt_id, seq, data FROM output WHERE {where}"
                                       " ORDER BY attempt_id, seq", args):
                aid = int(o["attempt_id"])
                self.seen[aid] = max(self.seen.get(aid, 0), int(o["seq"]))
                a = by_id[aid]
                out.append(OutputChunk(aid, a.step_id, a.target, o["data"]))
            for i in batch:
                self.seen.setdefault(i, 0)
        return out


def _no_table(exc: BaseException) -> bool:
    text = str(exc)
    return "no such table" in text or ("relation" in text and "does not exist" in text)


def open_reader(spec: str | None, data_dir: Path | None) -> JournalReader:
    """A read-only reader of the journal `spec` names (a postgresql:// URL or a SQLite file),
    else of $RUNBOOK_JOURNAL, else of journal.db in `data_dir`."""
    spec = spec or os.environ.get("RUNBOOK_JOURNAL") or None
    if spec and spec.startswith(("postgresql://", "postgres://")):
        return _open_postgres(spec)
    path = Path(spec) if spec else Path(data_dir or ".") / "journal.db"
    if not path.is_file():
        raise ObserveError(f"no journal at {path} (nothing has been run with it yet)")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                             check_same_thread=False, timeout=10)
        db.execute("PRAGMA query_only = ON")
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise ObserveError(f"cannot read the journal {path}: {exc}") from None
    return JournalReader(db, False, str(path))


def _open_postgres(url: str) -> JournalReader:
    import psycopg  # only for teams that use it

    from .journal_url import redact_url

    where = redact_url(url)
    try:
        conn = psycopg.connect(url, autocommit=True, application_name="runbook-observer",
                               connect_timeout=10)
        conn.execute("SET default_transaction_read_only = on")
    except psycopg.Error as exc:
        raise ObserveError(f"cannot open the team journal {where}: {_first_line(exc)}") from None
    return JournalReader(conn, True, where)
