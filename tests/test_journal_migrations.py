"""Journal schema versions: new journals are current, older ones move forward, newer refused."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from runbook.errors import JournalError
from runbook.journal import SCHEMA_VERSION, Journal

from .helpers import cli, cli_env

FIXTURE = Path(__file__).parent / "fixtures" / "journal-schema1.db"  # written by version 0.1.0


def test_a_new_journal_has_the_current_version(tmp_path) -> None:
    with Journal.open(tmp_path) as j:
        assert j.schema_version == SCHEMA_VERSION
        assert j.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0] == \
            str(SCHEMA_VERSION)
    assert not list(tmp_path.glob("journal.db.schema*"))


async def test_a_journal_from_the_first_release_is_upgraded_and_still_reads(tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    shutil.copy(FIXTURE, data / "journal.db")
    (data / "journal.db").chmod(0o600)
    with Journal.open(data) as j:
        assert j.schema_version == SCHEMA_VERSION
        runs = j.list_runs()
        assert [(r.state, r.procedure_id) for r in runs] == [("succeeded", "fixture.manual")]
        indexes = {r[0] for r in j.db.execute("SELECT name FROM sqlite_master WHERE type = "
                                              "'index'")}
        assert "runs_created" in indexes
    kept = data / "journal.db.schema1"
    assert kept.exists() and kept.stat().st_mode & 0o777 == 0o600
    assert sqlite3.connect(kept).execute("PRAGMA user_version").fetchone()[0] == 0
    env = cli_env(data, tmp_path)
    code, out, err = await cli(["show", "last"], env)
    assert code == 0 and "succeeded" in out, err
    code, out, err = await cli(["export", "last", "--format", "json", "-o",
                                str(tmp_path / "r.json")], env)
    assert code == 0, err
    code, out, err = await cli(["verify-record", str(tmp_path / "r.json")], env)
    assert code == 0 and "record intact" in out, err  # the upgrade kept the hash chain whole


def test_a_journal_from_a_newer_runbook_is_refused_untouched(tmp_path) -> None:
    with Journal.open(tmp_path) as j:
        j.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = (tmp_path / "journal.db").read_bytes()
    with pytest.raises(JournalError, match=rf"written by a newer runbook \(journal schema "
                                           rf"{SCHEMA_VERSION + 1}; this runbook knows up to "
                                           rf"{SCHEMA_VERSION}\): upgrade runbook"):
        Journal.open(tmp_path)
    assert (tmp_path / "journal.db").read_bytes() == before
