"""Copy runs between journals (SQLite <-> PostgreSQL) with their hash chains intact.

Everything a run owns travels: the run row, attempts with their output, captured values,
backups with their objects (re-encrypted by the destination's store where it encrypts), and
the events verbatim, so `verify-record` gives the same answer on both sides. Attempt and backup
ids are the destination's own (they are row numbers, not part of any hash). A run that already
exists in the destination is left alone and reported, never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .backups import store_for
from .errors import JournalError
from .journal import Journal
from .journal_chain import canonical, verify_chain

_RUN_COLUMNS = ("id", "created_at", "updated_at", "state", "reason", "procedure_id",
                "procedure_title", "procedure_path", "procedure_hash", "procedure_text",
                "params", "secret_names", "inventory", "user", "hostname")
_ATTEMPT_COLUMNS = ("run_id", "step_id", "target", "attempt", "status", "command",
                    "started_at", "finished_at", "exit_status", "output_sha256", "output_bytes",
                    "output_lines", "reason")
_BACKUP_COLUMNS = ("run_id", "step_id", "target", "host", "path", "state", "sha256", "size",
                   "mode", "uid", "gid", "mtime", "method", "taken_at", "after_sha256",
                   "after_state", "restored_at", "restore_note")


@dataclass
class CopyReport:
    """What a copy did, run by run."""

    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already in the destination


def _insert(columns: tuple[str, ...], table: str, returning: bool = False) -> str:
    sql = (f"INSERT INTO {table}({', '.join(columns)}) VALUES"
           f" ({', '.join('?' for _ in columns)})")
    return sql + (" RETURNING id" if returning else "")


def copy_runs(src: Journal, dst: Journal, refs: list[str] | None = None) -> CopyReport:
    """Copy the runs named by `refs` (all when None) from `src` to `dst`.

    Raises JournalError before writing anything if a source run's hash chain is broken: a
    copy must never launder a tampered record.
    """
    runs = [src.get_run(r) for r in refs] if refs else src.list_runs()
    for rec in runs:
        broken = verify_chain(src.events(rec.id))
        if broken is not None:
            raise JournalError(f"run {rec.id}: its event chain is broken at event {broken};"
                               " not copied")
    report = CopyReport()
    src_store, dst_store = store_for(src), store_for(dst)
    for rec in sorted(runs, key=lambda r: r.created_at):
        if dst.db.execute("SELECT 1 FROM runs WHERE id = ?", (rec.id,)).fetchone():
            report.skipped.append(rec.id)
            continue
        backups = src.backups(rec.id)
        for b in backups:  # objects first: a backup row never points at a missing object
            if b.sha256:
                dst_store.put(src_store.get(b.sha256))
        with dst.tx() as db:
            row = rec.__dict__
            db.execute(_insert(_RUN_COLUMNS, "runs"),
                       [canonical(row[c]) if c in ("params", "secret_names", "inventory")
                        else row[c] for c in _RUN_COLUMNS])
            for a in src.attempts(rec.id):
                fields = {**a.__dict__, "target": a.target or ""}
                (new_id,) = db.execute(_insert(_ATTEMPT_COLUMNS, "attempts", True),
                                       [fields[c] for c in _ATTEMPT_COLUMNS]).fetchone()
                data = src.output(a.id)
                if data:
                    db.execute("INSERT INTO output(attempt_id, seq, data) VALUES (?, 1, ?)",
                               (new_id, data))
            for b in backups:
                fields = {**b.__dict__, "target": b.target or ""}
                db.execute(_insert(_BACKUP_COLUMNS, "backups"),
                           [fields[c] for c in _BACKUP_COLUMNS])
            for c in src.db.execute("SELECT name, value, step_id, target FROM captures"
                                    " WHERE run_id = ?", (rec.id,)).fetchall():
                db.execute("INSERT INTO captures VALUES (?, ?, ?, ?, ?)",
                           (rec.id, c[0], c[1], c[2], c[3]))
            for e in src.events(rec.id):
                db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (e.run_id, e.seq, e.ts, e.kind, e.step_id, e.target,
                            canonical(e.data), e.prev_hash, e.hash))
        if verify_chain(dst.events(rec.id)) is not None:
            raise JournalError(f"run {rec.id}: the copy's chain does not verify")
        report.copied.append(rec.id)
    return report
