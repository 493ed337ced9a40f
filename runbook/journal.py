"""The run store: SQLite in WAL mode, write-ahead step attempts and hash-chained events."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import secrets as _random
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import JournalError, RunNotFound
from .journal_records import Attempt, Backup, EventRecord, RunRecord
from .paths import data_dir, private_file

SCHEMA_VERSION = 1
GENESIS = "0" * 64
OUTPUT_LIMIT = 64 * 1024 * 1024  # bytes of output kept per attempt; the digest covers all of it

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs(
    id TEXT PRIMARY KEY, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
    procedure_id TEXT NOT NULL, procedure_title TEXT NOT NULL, procedure_path TEXT NOT NULL,
    procedure_hash TEXT NOT NULL, procedure_text TEXT NOT NULL,
    params TEXT NOT NULL, secret_names TEXT NOT NULL, inventory TEXT NOT NULL,
    user TEXT NOT NULL, hostname TEXT NOT NULL,
    lock_pid INTEGER, lock_host TEXT, lock_at TEXT);
CREATE TABLE IF NOT EXISTS attempts(
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL REFERENCES runs(id),
    step_id TEXT NOT NULL, target TEXT NOT NULL, attempt INTEGER NOT NULL,
    status TEXT NOT NULL, command TEXT NOT NULL, started_at TEXT NOT NULL,
    finished_at TEXT, exit_status INTEGER, output_sha256 TEXT, output_bytes INTEGER,
    output_lines INTEGER, reason TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS attempts_run ON attempts(run_id, step_id, target);
CREATE TABLE IF NOT EXISTS output(
    attempt_id INTEGER NOT NULL REFERENCES attempts(id), seq INTEGER NOT NULL,
    data TEXT NOT NULL, PRIMARY KEY(attempt_id, seq));
CREATE TABLE IF NOT EXISTS captures(
    run_id TEXT NOT NULL REFERENCES runs(id), name TEXT NOT NULL, value TEXT NOT NULL,
    step_id TEXT NOT NULL, target TEXT NOT NULL, PRIMARY KEY(run_id, name));
CREATE TABLE IF NOT EXISTS backups(
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL REFERENCES runs(id),
    step_id TEXT NOT NULL, target TEXT NOT NULL, host TEXT NOT NULL, path TEXT NOT NULL,
    state TEXT NOT NULL, sha256 TEXT, size INTEGER, mode INTEGER, uid INTEGER, gid INTEGER,
    mtime INTEGER, method TEXT NOT NULL, taken_at TEXT NOT NULL, after_sha256 TEXT,
    after_state TEXT, restored_at TEXT, restore_note TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS backups_run ON backups(run_id, step_id, target);
CREATE TABLE IF NOT EXISTS file_locks(
    device TEXT NOT NULL, path TEXT NOT NULL, run_id TEXT NOT NULL, pid INTEGER NOT NULL,
    host TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY(device, path));
CREATE TABLE IF NOT EXISTS events(
    run_id TEXT NOT NULL REFERENCES runs(id), seq INTEGER NOT NULL, ts TEXT NOT NULL,
    kind TEXT NOT NULL, step_id TEXT, target TEXT, data TEXT NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY(run_id, seq));
"""


def now() -> str:
    """Current UTC time, ISO 8601 with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def canonical(obj: Any) -> str:
    """The JSON form that hashes are computed over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """Hash of one event: sha256 over the previous hash and the event's canonical JSON."""
    return hashlib.sha256((prev_hash + canonical(body)).encode()).hexdigest()


def _t(target: str | None) -> str:
    return target or ""


class Journal:
    """The SQLite run store. Every write that matters commits before the method returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        private_file(path)
        try:
            self.db = sqlite3.connect(path, isolation_level=None, timeout=10,
                                      check_same_thread=False)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.executescript(_SCHEMA)
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)",
                            (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"cannot open the run store {path}: {exc}") from None
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                os.chmod(side, 0o600)
        self._held: set[str] = set()

    @classmethod
    def open(cls, directory: Path | None = None) -> Journal:
        """Open (or create) `journal.db` in the data directory."""
        return cls(data_dir(directory) / "journal.db")

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release this process's run locks and close the database."""
        for run_id in list(self._held):
            self.unlock(run_id)
        self.db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that commits on success (durably: synchronous=FULL)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ---- runs ------------------------------------------------------------------------------

    def create_run(self, *, procedure_id: str, procedure_title: str, procedure_path: str,
                   procedure_hash: str, procedure_text: str, params: dict[str, Any],
                   secret_names: list[str], inventory: dict[str, Any]) -> str:
        """Store a new run (no secret values: only their names) and return its id."""
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        run_id = f"{stamp}-{_random.token_hex(2)}"
        ts = now()
        with self.tx() as db:
            db.execute(
                "INSERT INTO runs(id, created_at, updated_at, state, procedure_id,"
                " procedure_title, procedure_path, procedure_hash, procedure_text, params,"
                " secret_names, inventory, user, hostname) VALUES"
                " (?, ?, ?, 'created', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, ts, ts, procedure_id, procedure_title, procedure_path, procedure_hash,
                 procedure_text, canonical(params), canonical(secret_names),
                 canonical(inventory), getpass.getuser(), socket.gethostname()))
        return run_id

    def _run(self, row: sqlite3.Row) -> RunRecord:
        d = dict(row)
        for key in ("params", "secret_names", "inventory"):
            d[key] = json.loads(d[key])
        return RunRecord(**d)

    def get_run(self, ref: str) -> RunRecord:
        """The run whose id is `ref` or starts with it (`last` = newest); raises RunNotFound."""
        if ref in ("last", "latest"):
            rows = self.db.execute("SELECT * FROM runs ORDER BY created_at DESC LIMIT 1").fetchall()
        else:
            rows = self.db.execute("SELECT * FROM runs WHERE id = ? OR id LIKE ? ESCAPE '\\'"
                                   " OR id LIKE ? ESCAPE '\\' ORDER BY created_at",
                                   (ref, _like(ref) + "%", "%-" + _like(ref))).fetchall()
            exact = [r for r in rows if r["id"] == ref]
            rows = exact or rows
        if not rows:
            raise RunNotFound(f"no run matches {ref!r} (see `runbook runs`)")
        if len(rows) > 1:
            raise RunNotFound(f"{ref!r} matches {len(rows)} runs; give more of the id")
        return self._run(rows[0])

    def list_runs(self) -> list[RunRecord]:
        """Every run, newest first."""
        rows = self.db.execute("SELECT * FROM runs ORDER BY created_at DESC").fetchall()
        return [self._run(r) for r in rows]

    def set_run_state(self, run_id: str, state: str, reason: str = "") -> None:
        """Record the run's overall state."""
        with self.tx() as db:
            db.execute("UPDATE runs SET state = ?, reason = ?, updated_at = ? WHERE id = ?",
                       (state, reason, now(), run_id))

    # ---- locks -----------------------------------------------------------------------------

    def lock(self, run_id: str) -> None:
        """Take the run for this process; raises JournalError if a live process holds it."""
        me, host = os.getpid(), socket.gethostname()
        with self.tx() as db:
            row = db.execute("SELECT lock_pid, lock_host, lock_at FROM runs WHERE id = ?",
                             (run_id,)).fetchone()
            if row is None:
                raise RunNotFound(f"no run {run_id!r}")
            pid, lock_host = row["lock_pid"], row["lock_host"]
            if pid and pid != me and (lock_host != host or _alive(pid)):
                raise JournalError(f"run {run_id} is in use by process {pid} on {lock_host} "
                                   f"since {row['lock_at']}; wait for it or stop it first")
            db.execute("UPDATE runs SET lock_pid = ?, lock_host = ?, lock_at = ? WHERE id = ?",
                       (me, host, now(), run_id))
        self._held.add(run_id)

    def unlock(self, run_id: str) -> None:
        """Release the run if this process holds it."""
        with self.tx() as db:
            db.execute("UPDATE runs SET lock_pid = NULL, lock_host = NULL, lock_at = NULL"
                       " WHERE id = ? AND lock_pid = ?", (run_id, os.getpid()))
        self._held.discard(run_id)

    def lock_file(self, device: str, path: str, run_id: str) -> None:
        """Claim a device file for this run; raises JournalError if a live process of another
        run is changing it (two runs must never interleave changes to one file)."""
        me, host = os.getpid(), socket.gethostname()
        with self.tx() as db:
            row = db.execute("SELECT run_id, pid, host, at FROM file_locks WHERE device = ? AND"
                             " path = ?", (device, path)).fetchone()
            if row and row["run_id"] != run_id and (row["host"] != host or _alive(row["pid"])):
                raise JournalError(f"{path} on {device} is being changed by run {row['run_id']}"
                                   f" (process {row['pid']} on {row['host']}, since "
                                   f"{row['at'][:19]}); wait for that run to finish")
            db.execute("INSERT OR REPLACE INTO file_locks VALUES (?, ?, ?, ?, ?, ?)",
                       (device, path, run_id, me, host, now()))

    def unlock_files(self, run_id: str) -> None:
        """Release every device file this run claimed."""
        with self.tx() as db:
            db.execute("DELETE FROM file_locks WHERE run_id = ?", (run_id,))

    # ---- attempts (write-ahead) ------------------------------------------------------------

    def start_attempt(self, run_id: str, step_id: str, target: str | None, command: str,
                      status: str = "running") -> Attempt:
        """Commit an attempt as started; call BEFORE anything is sent to the device."""
        with self.tx() as db:
            (n,) = db.execute("SELECT COUNT(*) FROM attempts WHERE run_id = ? AND step_id = ?"
                              " AND target = ?", (run_id, step_id, _t(target))).fetchone()
            cur = db.execute(
                "INSERT INTO attempts(run_id, step_id, target, attempt, status, command,"
                " started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, step_id, _t(target), n + 1, status, command, now()))
            db.execute("UPDATE runs SET updated_at = ? WHERE id = ?", (now(), run_id))
        return self.attempt(int(cur.lastrowid or 0))

    def finish_attempt(self, attempt_id: int, *, status: str, exit_status: int | None = None,
                       output_sha256: str | None = None, output_bytes: int | None = None,
                       output_lines: int | None = None, reason: str = "") -> None:
        """Commit an attempt's outcome."""
        with self.tx() as db:
            db.execute(
                "UPDATE attempts SET status = ?, finished_at = ?, exit_status = ?,"
                " output_sha256 = COALESCE(?, output_sha256),"
                " output_bytes = COALESCE(?, output_bytes),"
                " output_lines = COALESCE(?, output_lines), reason = ? WHERE id = ?",
                (status, now(), exit_status, output_sha256, output_bytes, output_lines, reason,
                 attempt_id))

    def set_attempt_status(self, attempt_id: int, status: str, reason: str | None = None) -> None:
        """Change an attempt's status (in_doubt, rolled_back, ...) without touching its result."""
        with self.tx() as db:
            db.execute("UPDATE attempts SET status = ?, reason = COALESCE(?, reason)"
                       " WHERE id = ?", (status, reason, attempt_id))

    def append_output(self, attempt_id: int, data: str) -> None:
        """Store a chunk of (already redacted) output; committed at once."""
        with self.tx() as db:
            db.execute("INSERT INTO output(attempt_id, seq, data) VALUES (?, (SELECT"
                       " COALESCE(MAX(seq), 0) + 1 FROM output WHERE attempt_id = ?), ?)",
                       (attempt_id, attempt_id, data))

    def output(self, attempt_id: int) -> str:
        """All stored output of an attempt."""
        rows = self.db.execute("SELECT data FROM output WHERE attempt_id = ? ORDER BY seq",
                               (attempt_id,))
        return "".join(r[0] for r in rows)

    def attempt(self, attempt_id: int) -> Attempt:
        """One attempt by id."""
        row = self.db.execute("SELECT * FROM attempts WHERE id = ?", (attempt_id,)).fetchone()
        return _attempt(row)

    def attempts(self, run_id: str) -> list[Attempt]:
        """Every attempt of a run, oldest first."""
        rows = self.db.execute("SELECT * FROM attempts WHERE run_id = ? ORDER BY id", (run_id,))
        return [_attempt(r) for r in rows]

    def latest_attempts(self, run_id: str) -> dict[tuple[str, str | None], Attempt]:
        """The newest attempt of each (step, target)."""
        latest: dict[tuple[str, str | None], Attempt] = {}
        for a in self.attempts(run_id):
            latest[(a.step_id, a.target)] = a
        return latest

    # ---- backups ---------------------------------------------------------------------------

    def add_backup(self, *, run_id: str, step_id: str, target: str | None, host: str,
                   path: str, state: str, sha256: str | None, size: int | None,
                   mode: int | None, uid: int | None, gid: int | None, mtime: int | None,
                   method: str) -> Backup:
        """Record a backup whose bytes are already durable in the store."""
        with self.tx() as db:
            cur = db.execute(
                "INSERT INTO backups(run_id, step_id, target, host, path, state, sha256, size,"
                " mode, uid, gid, mtime, method, taken_at) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, step_id, _t(target), host, path, state, sha256, size, mode, uid, gid,
                 mtime, method, now()))
        return self.backup(int(cur.lastrowid or 0))

    def set_backup_after(self, backup_id: int, state: str, sha256: str | None) -> None:
        """Record the file as the step left it."""
        with self.tx() as db:
            db.execute("UPDATE backups SET after_state = ?, after_sha256 = ? WHERE id = ?",
                       (state, sha256, backup_id))

    def set_backup_restored(self, backup_id: int, note: str) -> None:
        """Record that the file was put back (and checked)."""
        with self.tx() as db:
            db.execute("UPDATE backups SET restored_at = ?, restore_note = ? WHERE id = ?",
                       (now(), note, backup_id))

    def backup(self, backup_id: int) -> Backup:
        """One backup by id."""
        row = self.db.execute("SELECT * FROM backups WHERE id = ?", (backup_id,)).fetchone()
        return Backup(**{**dict(row), "target": row["target"] or None})

    def backups(self, run_id: str, step_id: str | None = None) -> list[Backup]:
        """A run's backups (of one step), in the order they were taken."""
        q, args = "SELECT * FROM backups WHERE run_id = ?", [run_id]
        if step_id is not None:
            q, args = q + " AND step_id = ?", [run_id, step_id]
        rows = self.db.execute(q + " ORDER BY id", args)
        return [Backup(**{**dict(r), "target": r["target"] or None}) for r in rows]

    # ---- captures --------------------------------------------------------------------------

    def set_capture(self, run_id: str, name: str, value: str, step_id: str,
                    target: str | None) -> None:
        """Remember a value read from a step's output (already redacted)."""
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO captures VALUES (?, ?, ?, ?, ?)",
                       (run_id, name, value, step_id, _t(target)))

    def captures(self, run_id: str) -> dict[str, str]:
        """The run's captured values by name."""
        rows = self.db.execute("SELECT name, value FROM captures WHERE run_id = ?", (run_id,))
        return {r[0]: r[1] for r in rows}

    # ---- events (hash chain) ---------------------------------------------------------------

    def append_event(self, run_id: str, kind: str, data: dict[str, Any],
                     step_id: str | None = None, target: str | None = None) -> EventRecord:
        """Append one event to the run's hash chain and commit it."""
        with self.tx() as db:
            last = db.execute("SELECT seq, hash FROM events WHERE run_id = ? ORDER BY seq DESC"
                              " LIMIT 1", (run_id,)).fetchone()
            seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
            rec = EventRecord(run_id, seq, now(), kind, step_id, target,
                              json.loads(canonical(data)), prev, "")
            h = event_hash(prev, rec.body())
            db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (run_id, seq, rec.ts, kind, step_id, target, canonical(rec.data), prev, h))
        return EventRecord(**{**rec.__dict__, "hash": h})

    def events(self, run_id: str) -> list[EventRecord]:
        """The run's events in order."""
        rows = self.db.execute("SELECT * FROM events WHERE run_id = ? ORDER BY seq", (run_id,))
        return [EventRecord(**{**dict(r), "data": json.loads(r["data"])}) for r in rows]

    def integrity(self) -> str:
        """SQLite's own integrity check ('ok' when sound)."""
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])


def verify_chain(events: list[EventRecord] | list[dict[str, Any]]) -> int | None:
    """Return the seq of the first event whose link is broken, or None when the chain holds."""
    prev = GENESIS
    for e in events:
        rec = e if isinstance(e, EventRecord) else EventRecord(**e)
        if rec.prev_hash != prev or event_hash(prev, rec.body()) != rec.hash:
            return rec.seq
        prev = rec.hash
    return None


def _attempt(row: sqlite3.Row) -> Attempt:
    d = dict(row)
    d["target"] = d["target"] or None
    return Attempt(**d)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def held_by_live_process(rec: RunRecord) -> bool:
    """Whether a live process holds the run's lock: a run in state `running` that no process
    holds was interrupted (killed, crashed). A lock taken on another host counts as held,
    since that process cannot be checked from here."""
    if not rec.lock_pid:
        return False
    if rec.lock_host != socket.gethostname():
        return True
    return rec.lock_pid == os.getpid() or _alive(rec.lock_pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
