"""The run store: SQLite in WAL mode, write-ahead step attempts and hash-chained events."""

from __future__ import annotations

import getpass
import json
import os
import secrets as _random
import socket
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import DiskFull, JournalError, RunNotFound
from .journal_chain import (
    _STORED,
    GENESIS,
    StoredEvent,
    body_json,
    canonical,
    chain_hash,
)
from .journal_records import Attempt, Backup, EventRecord, RunRecord
from .journal_schema import _SCHEMA, MIGRATIONS, SCHEMA_VERSION
from .journal_tx import Transactions
from .paths import data_dir, disk_full, is_disk_full, private_file
from .run_locks import pid_alive

OUTPUT_LIMIT = 64 * 1024 * 1024  # bytes of output kept per attempt; the digest covers all of it


def now() -> str:
    """Current UTC time, ISO 8601 with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _t(target: str | None) -> str:
    return target or ""


class Journal(Transactions):
    """The SQLite run store. Every write that matters commits before the method returns."""

    blobs_in_db = False  # backup objects live in files beside the journal (see backups.store_for)

    def __init__(self, path: Path) -> None:
        self.path: Path | None = path
        self.operator = getpass.getuser()  # who runs changes; runbook.toml may name them
        try:
            private_file(path)
        except OSError as exc:
            if is_disk_full(exc):
                raise disk_full(path.parent) from None
            raise
        try:
            self.db = sqlite3.connect(path, isolation_level=None, timeout=10,
                                      check_same_thread=False)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            if is_disk_full(exc):
                raise disk_full(path.parent) from None
            raise JournalError(f"cannot open the run store {path}: {exc}") from None
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                os.chmod(side, 0o600)
        self._held: set[str] = set()

    def _version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        """Create a new journal at SCHEMA_VERSION, or bring an older one forward (a copy of it
        is kept first as journal.db.schemaN); refuse one written by a newer runbook."""
        version = self._version()
        if version > SCHEMA_VERSION:
            raise JournalError(f"{self.path} was written by a newer runbook (journal schema "
                               f"{version}; this runbook knows up to {SCHEMA_VERSION}): "
                               "upgrade runbook to use it. The journal was not changed.")
        if version == SCHEMA_VERSION:
            return
        existing = self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs'").fetchone()
        if version == 0 and not existing:
            self.db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA}"
                                  f"INSERT OR IGNORE INTO meta VALUES ('schema', "
                                  f"'{SCHEMA_VERSION}');"
                                  f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
            return
        version = max(version, 1)
        assert self.path is not None  # a SQLite journal always has its file
        copy = self.path.with_name(f"{self.path.name}.schema{version}")
        if not copy.exists():
            private_file(copy)
            target = sqlite3.connect(copy)
            try:
                self.db.backup(target)
            finally:
                target.close()
        for step in range(version + 1, SCHEMA_VERSION + 1):
            self.db.executescript(f"BEGIN IMMEDIATE; {MIGRATIONS[step]}"
                                  f"UPDATE meta SET value = '{step}' WHERE key = 'schema';"
                                  f"PRAGMA user_version = {step}; COMMIT;")

    @property
    def schema_version(self) -> int:
        """The journal's schema version (PRAGMA user_version)."""
        return self._version()

    @classmethod
    def open(cls, directory: Path | None = None) -> Journal:
        """Open (or create) `journal.db` in the data directory."""
        return cls(data_dir(directory) / "journal.db")

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Commit what `later` left open, release this process's run locks, close.

        Raises (after closing) when the deferred writes could not be committed: the caller
        must not report those outcomes as recorded."""
        try:
            self.flush()
            for run_id in list(self._held):
                try:
                    self.unlock(run_id)
                except (JournalError, DiskFull, sqlite3.Error, OSError):
                    # A full disk or a lost file: the lock names this process, and `lock`
                    # takes over a dead holder's lock on this host, so it frees itself.
                    self._held.discard(run_id)
        finally:
            self.db.close()

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
                 canonical(inventory), self.operator, socket.gethostname()))
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
            if pid and pid != me and (lock_host != host or pid_alive(pid)):
                raise JournalError(f"run {run_id} is in use by process {pid} on {lock_host} "
                                   f"since {row['lock_at']}; wait for it or stop it first")
            db.execute("UPDATE runs SET lock_pid = ?, lock_host = ?, lock_at = ?, lock_user = ?"
                       " WHERE id = ?", (me, host, now(), getpass.getuser(), run_id))
        self._held.add(run_id)

    def unlock(self, run_id: str) -> None:
        """Release the run if this process holds it."""
        with self.tx() as db:
            db.execute("UPDATE runs SET lock_pid = NULL, lock_host = NULL, lock_at = NULL,"
                       " lock_user = NULL WHERE id = ? AND lock_pid = ?", (run_id, os.getpid()))
        self._held.discard(run_id)

    def is_held(self, run_id: str) -> bool:
        """Whether a live process (this one included) holds the run. A lock taken on another
        machine counts as held: SQLite's journal is one machine's, and we cannot see there."""
        rec = self.get_run(run_id)
        if not rec.lock_pid:
            return False
        return rec.lock_host != socket.gethostname() or pid_alive(rec.lock_pid)

    def holder(self, run_id: str) -> str | None:
        """Who holds the run, as `user@host since HH:MM` (UTC), or None when it is free."""
        if not self.is_held(run_id):
            return None
        rec = self.get_run(run_id)
        who = f"{rec.lock_user}@{rec.lock_host}" if rec.lock_user else f"{rec.lock_host}"
        return f"{who} (pid {rec.lock_pid}) since {(rec.lock_at or '')[11:16]} UTC"

    def shown_state(self, rec: RunRecord) -> str:
        """The run's state for people: `interrupted` for a run journaled as running that no
        live process (on the team journal: no live session) holds."""
        if rec.state == "running" and not self.is_held(rec.id):
            return "interrupted"
        return rec.state

    def _serialise(self, db: Any, run_id: str) -> None:
        """Order concurrent writers of one run (SQLite's BEGIN IMMEDIATE already does)."""

    def lock_file(self, device: str, path: str, run_id: str) -> None:
        """Claim a device file for this run; raises JournalError if a live process of another
        run is changing it (two runs must never interleave changes to one file)."""
        me, host = os.getpid(), socket.gethostname()
        with self.tx() as db:
            row = db.execute("SELECT run_id, pid, host, at FROM file_locks WHERE device = ? AND"
                             " path = ?", (device, path)).fetchone()
            if row and row["run_id"] != run_id and (row["host"] != host or pid_alive(row["pid"])):
                raise JournalError(f"{path} on {device} is being changed by run {row['run_id']}"
                                   f" (process {row['pid']} on {row['host']}, since "
                                   f"{row['at'][:19]}); wait for that run to finish")
            db.execute("INSERT INTO file_locks VALUES (?, ?, ?, ?, ?, ?)"
                       " ON CONFLICT(device, path) DO UPDATE SET run_id = excluded.run_id,"
                       " pid = excluded.pid, host = excluded.host, at = excluded.at",
                       (device, path, run_id, me, host, now()))

    def unlock_files(self, run_id: str) -> None:
        """Release every device file this run claimed."""
        with self.tx() as db:
            db.execute("DELETE FROM file_locks WHERE run_id = ?", (run_id,))

    # ---- attempts (write-ahead) ------------------------------------------------------------

    def start_attempt(self, run_id: str, step_id: str, target: str | None, command: str,
                      status: str = "running") -> Attempt:
        """Commit an attempt as started; call BEFORE anything is sent to the device."""
        return self.start_attempts([(run_id, step_id, target, command, status)])[0]

    def start_attempts(self, starts: list[tuple[str, str, str | None, str, str]]
                       ) -> list[Attempt]:
        """Commit several attempts as started in ONE transaction (one fsync): devices of a
        fan-out that start at the same moment share it. Each tuple is (run_id, step_id,
        target, command, status). Nothing may be sent for any of them before this returns."""
        made = []
        with self.tx() as db:
            for run_id in dict.fromkeys(s[0] for s in starts):
                self._serialise(db, run_id)
            for run_id, step_id, target, command, status in starts:
                (n,) = db.execute("SELECT COUNT(*) FROM attempts WHERE run_id = ? AND"
                                  " step_id = ? AND target = ?",
                                  (run_id, step_id, _t(target))).fetchone()
                made.append(_attempt(db.execute(
                    "INSERT INTO attempts(run_id, step_id, target, attempt, status, command,"
                    " started_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
                    (run_id, step_id, _t(target), n + 1, status, command, now())).fetchone()))
            for run_id in dict.fromkeys(s[0] for s in starts):
                db.execute("UPDATE runs SET updated_at = ? WHERE id = ?", (now(), run_id))
        return made

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
        """Store a chunk of (already redacted) output; durable with the next commit, at the
        latest after LINGER seconds (see `later`): output of an attempt cut short is partial
        anyway, and its outcome commits it."""
        with self.later() as db:
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

    def attempts(self, run_id: str, step_id: str | None = None) -> list[Attempt]:
        """Every attempt of a run (of one step), oldest first."""
        if step_id is None:
            rows = self.db.execute("SELECT * FROM attempts WHERE run_id = ? ORDER BY id",
                                   (run_id,))
        else:  # the engine asks this before every step: read that step's rows only (indexed)
            rows = self.db.execute("SELECT * FROM attempts WHERE run_id = ? AND step_id = ?"
                                   " ORDER BY id", (run_id, step_id))
        return [_attempt(r) for r in rows]

    def latest_attempts(self, run_id: str, step_id: str | None = None
                        ) -> dict[tuple[str, str | None], Attempt]:
        """The newest attempt of each (step, target) (of one step, given `step_id`)."""
        latest: dict[tuple[str, str | None], Attempt] = {}
        for a in self.attempts(run_id, step_id):
            latest[(a.step_id, a.target)] = a
        return latest

    # ---- backups ---------------------------------------------------------------------------

    def add_backup(self, *, run_id: str, step_id: str, target: str | None, host: str,
                   path: str, state: str, sha256: str | None, size: int | None,
                   mode: int | None, uid: int | None, gid: int | None, mtime: int | None,
                   method: str) -> Backup:
        """Record a backup whose bytes are already durable in the store."""
        with self.tx() as db:
            (new_id,) = db.execute(
                "INSERT INTO backups(run_id, step_id, target, host, path, state, sha256, size,"
                " mode, uid, gid, mtime, method, taken_at) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (run_id, step_id, _t(target), host, path, state, sha256, size, mode, uid, gid,
                 mtime, method, now())).fetchone()
        return self.backup(int(new_id))

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
            db.execute("INSERT INTO captures VALUES (?, ?, ?, ?, ?) ON CONFLICT(run_id, name)"
                       " DO UPDATE SET value = excluded.value, step_id = excluded.step_id,"
                       " target = excluded.target", (run_id, name, value, step_id, _t(target)))

    def captures(self, run_id: str) -> dict[str, str]:
        """The run's captured values by name."""
        rows = self.db.execute("SELECT name, value FROM captures WHERE run_id = ?", (run_id,))
        return {r[0]: r[1] for r in rows}

    # ---- events (hash chain) ---------------------------------------------------------------

    def append_event(self, run_id: str, kind: str, data: dict[str, Any],
                     step_id: str | None = None, target: str | None = None) -> EventRecord:
        """Append one event to the run's hash chain and commit it."""
        with self.tx() as db:
            self._serialise(db, run_id)
            last = db.execute("SELECT seq, hash FROM events WHERE run_id = ? ORDER BY seq DESC"
                              " LIMIT 1", (run_id,)).fetchone()
            seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
            ts, raw = now(), canonical(data)
            h = chain_hash(prev, body_json(run_id, seq, ts, kind, step_id, target, raw))
            db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (run_id, seq, ts, kind, step_id, target, raw, prev, h))
        return EventRecord(run_id, seq, ts, kind, step_id, target, json.loads(raw), prev, h)

    def events(self, run_id: str, kinds: tuple[str, ...] = ()) -> list[EventRecord]:
        """The run's events in order (only those of `kinds`, when given: a resumed run looks
        for a few kinds among thousands of events)."""
        q = "SELECT run_id, seq, ts, kind, step_id, target, data, prev_hash, hash FROM events" \
            " WHERE run_id = ?"
        if kinds:
            q += " AND kind IN (" + ", ".join("?" * len(kinds)) + ")"
        rows = self.db.execute(q + " ORDER BY seq", (run_id, *kinds))
        new, names = object.__new__, _STORED
        out: list[EventRecord] = []
        for r in rows:
            e = new(StoredEvent)
            e.__dict__.update(zip(names, r, strict=True))
            out.append(e)
        return out

    def get_meta(self, key: str) -> str | None:
        """A value of the journal's own settings (`meta` table), or None."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str, only_if_absent: bool = False) -> bool:
        """Set a journal setting; with `only_if_absent`, only the first writer wins (returns
        whether this call wrote it)."""
        with self.tx() as db:
            if only_if_absent:
                row = db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO NOTHING"
                                 " RETURNING key", (key, value)).fetchone()
                return row is not None
            db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET"
                       " value = excluded.value", (key, value))
        return True

    def database_user(self) -> str | None:
        """The server-authenticated database role, where the journal has one (SQLite: None)."""
        return None

    def put_blob(self, sha256: str, data: bytes) -> None:
        """Keep a backup object in the database: only journals with `blobs_in_db` do."""
        raise JournalError("this journal keeps backup objects as files (backups.store_for)")

    def get_blob(self, sha256: str) -> bytes | None:
        """A backup object kept in the database (see `put_blob`)."""
        raise JournalError("this journal keeps backup objects as files (backups.store_for)")

    def integrity(self) -> str:
        """SQLite's own integrity check ('ok' when sound)."""
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])


def _attempt(row: sqlite3.Row) -> Attempt:
    d = dict(row)
    d["target"] = d["target"] or None
    return Attempt(**d)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

