"""Open the run store a user asked for: SQLite in the data directory, or a team's PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

from .journal import Journal

ENV = "RUNBOOK_JOURNAL"


def is_postgres(spec: str | None) -> bool:
    """Whether `spec` names a PostgreSQL server (`postgresql://…` or `postgres://…`)."""
    return bool(spec) and str(spec).startswith(("postgresql://", "postgres://"))


def open_journal(spec: str | None = None, data_dir: Path | None = None) -> Journal:
    """The journal named by `spec` (else $RUNBOOK_JOURNAL, else SQLite in the data directory).

    A spec is a PostgreSQL connection string or the path of a SQLite journal file.
    """
    spec = spec or os.environ.get(ENV) or None
    if is_postgres(spec):
        from .journal_pg import PgJournal  # psycopg is loaded only for teams that use it

        return PgJournal(str(spec))
    if spec:
        return Journal(Path(spec))
    return Journal.open(data_dir)
