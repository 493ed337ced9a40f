"""The SQLite journal's schema and its forward migrations."""

from __future__ import annotations

SCHEMA_VERSION = 3  # PRAGMA user_version of a journal this runbook writes
# Forward migrations: MIGRATIONS[n] takes a journal from version n-1 to n. A change to _SCHEMA
# below (new tables, columns, indexes) needs a migration here too, or existing journals miss it.
MIGRATIONS: dict[int, str] = {
    # 1: journals from before versioning (user_version 0, meta 'schema' = '1'): no change.
    2: "CREATE INDEX IF NOT EXISTS runs_created ON runs(created_at);",
    3: "ALTER TABLE runs ADD COLUMN lock_user TEXT;",  # who holds a run, for handovers
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs(
    id TEXT PRIMARY KEY, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
    procedure_id TEXT NOT NULL, procedure_title TEXT NOT NULL, procedure_path TEXT NOT NULL,
    procedure_hash TEXT NOT NULL, procedure_text TEXT NOT NULL,
    params TEXT NOT NULL, secret_names TEXT NOT NULL, inventory TEXT NOT NULL,
    user TEXT NOT NULL, hostname TEXT NOT NULL,
    lock_pid INTEGER, lock_host TEXT, lock_at TEXT, lock_user TEXT);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created_at);
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
