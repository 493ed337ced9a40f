"""The run store's contract, asserted on both backends: SQLite and a real PostgreSQL server."""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from runbook.backups import CorruptBackup, store_for
from runbook.errors import JournalError
from runbook.journal_chain import verify_chain
from runbook.journals import open_journal

pytestmark = pytest.mark.usefixtures("journal_backend")


def _open(spec: str | None, tmp_path: Path):  # noqa: ANN202 - a Journal of either backend
    return open_journal(spec, tmp_path / "data")


def _run(j) -> str:  # noqa: ANN001
    return j.create_run(procedure_id="p", procedure_title="P", procedure_path="p.yaml",
                        procedure_hash="0" * 64, procedure_text="id: p", params={"a": 1},
                        secret_names=["key"], inventory={"hosts": {}})


def test_an_attempt_is_durable_as_started_before_the_call_returns(journal_backend,
                                                                   tmp_path) -> None:
    writer, reader = _open(journal_backend, tmp_path), _open(journal_backend, tmp_path)
    run_id = _run(writer)
    attempt = writer.start_attempt(run_id, "s1", "fw1", "echo hi")
    seen = reader.attempt(attempt.id)
    assert (seen.status, seen.command, seen.target) == ("running", "echo hi", "fw1")
    writer.finish_attempt(attempt.id, status="succeeded", exit_status=0, output_sha256="ab")
    assert reader.attempt(attempt.id).exit_status == 0
    writer.close(), reader.close()


def test_events_from_two_writers_form_one_unbroken_chain(journal_backend, tmp_path) -> None:
    first, second = _open(journal_backend, tmp_path), _open(journal_backend, tmp_path)
    run_id = _run(first)

    def write(j, who: str) -> None:  # noqa: ANN001
        for n in range(25):
            j.append_event(run_id, "note", {"who": who, "n": n})

    threads = [threading.Thread(target=write, args=(j, w)) for j, w in ((first, "a"),
                                                                        (second, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = first.events(run_id)
    assert [e.seq for e in events] == list(range(1, 51))
    assert verify_chain(events) is None
    first.close(), second.close()


AWKWARD = [{}, {"é": "ü\u2028", "quote": "a\"b\\c", "nl": "x\ny"}, {"n": 2 ** 70, "f": 0.1,
            "neg": -1.5e-300, "t": True, "none": None}, {"z": {"b": [1, {"a": []}], "a": "\x00"}}]


@pytest.mark.parametrize("data", AWKWARD)
def test_an_event_is_hashed_over_exactly_what_is_stored(journal_backend, tmp_path,
                                                        data) -> None:
    """The hash of an appended event is the one a check computes again from the stored
    event, whatever its data holds (escapes, other scripts, big numbers, nesting)."""
    j = _open(journal_backend, tmp_path)
    run_id = _run(j)
    made = [j.append_event(run_id, "note", data, step_id=s, target=t)
            for s, t in ((None, None), ("s\u00e9", "fw\"1"))]
    stored = j.events(run_id)
    assert verify_chain(stored) is None
    assert [(e.hash, e.data, e.step_id, e.target) for e in made] == \
        [(e.hash, e.data, e.step_id, e.target) for e in stored]
    j.close()


def test_a_held_run_is_refused_to_another_process_and_names_its_holder(journal_backend,
                                                                       tmp_path) -> None:
    holder, other = _open(journal_backend, tmp_path), _open(journal_backend, tmp_path)
    run_id = _run(holder)
    holder.lock(run_id)
    if journal_backend is None:  # SQLite's lock is per process: test it from a child below
        assert other.is_held(run_id)
    else:
        with pytest.raises(JournalError, match="in use by"):
            other.lock(run_id)
        assert f"{getpass.getuser()}@{socket.gethostname()}" in (other.holder(run_id) or "")
    holder.unlock(run_id)
    assert other.holder(run_id) is None
    other.lock(run_id)
    other.close(), holder.close()


def test_a_dead_workstation_releases_its_run(journal_backend, tmp_path) -> None:
    j = _open(journal_backend, tmp_path)
    run_id = _run(j)
    code = ("import sys\nfrom pathlib import Path\nfrom runbook.journals import open_journal\n"
            "j = open_journal(sys.argv[1] or None, Path(sys.argv[2]))\nj.lock(sys.argv[3])\n"
            "print('held', flush=True)\nsys.stdin.read()\n")
    child = subprocess.Popen([sys.executable, "-c", code, journal_backend or "",
                              str(tmp_path / "data"), run_id], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    assert j.is_held(run_id)
    with pytest.raises(JournalError, match="in use by"):
        j.lock(run_id)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    if journal_backend is not None:  # the server notices the dead session; wait until it has
        _until_released(j, run_id)
    assert not j.is_held(run_id)
    j.lock(run_id)
    assert j.is_held(run_id)
    j.close()


def _until_released(j, run_id: str) -> None:  # noqa: ANN001
    """Block until the server has ended the killed client's session (it releases the lock)."""
    import psycopg

    from runbook.journal_pg import lock_key

    with psycopg.connect(j.url, autocommit=True) as conn:
        conn.execute("SET statement_timeout = '20s'")
        conn.execute("SELECT pg_advisory_lock(%s)", (lock_key(run_id),))
        conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key(run_id),))


def test_a_device_file_is_claimed_by_one_live_run_at_a_time(journal_backend, tmp_path) -> None:
    a, b = _open(journal_backend, tmp_path), _open(journal_backend, tmp_path)
    first, second = _run(a), _run(a)
    a.lock(first)
    a.lock_file("fw1", "/etc/x", first)
    if journal_backend is not None:
        b.lock(second)
        with pytest.raises(JournalError, match="being changed by run"):
            b.lock_file("fw1", "/etc/x", second)
        a.unlock(first)
        b.lock_file("fw1", "/etc/x", second)
    a.close(), b.close()


def test_backup_objects_round_trip_and_damage_is_detected(journal_backend, tmp_path) -> None:
    j = _open(journal_backend, tmp_path)
    store = store_for(j)
    digest = store.put(b"-----BEGIN PRIVATE KEY-----\nsecret\n")
    assert store.get(digest).endswith(b"secret\n")
    if journal_backend is None:
        path = store.path(digest)  # type: ignore[union-attr]
        blob = path.read_bytes()
        path.write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))
    else:
        blob = j.get_blob(digest)
        assert blob is not None and b"PRIVATE KEY" not in blob  # sealed in the database
        j.db.execute("UPDATE blobs SET data = ? WHERE sha256 = ?",
                     (blob[:-1] + bytes([blob[-1] ^ 1]), digest))
    with pytest.raises(CorruptBackup, match="failed its authentication check"):
        store.get(digest)
    j.close()


def test_captures_are_replaced_not_duplicated(journal_backend, tmp_path) -> None:
    j = _open(journal_backend, tmp_path)
    run_id = _run(j)
    j.set_capture(run_id, "serial", "1", "s1", None)
    j.set_capture(run_id, "serial", "2", "s2", "fw1")
    assert j.captures(run_id) == {"serial": "2"}
    j.close()


@pytest.mark.parametrize("journal_backend", ["postgresql"], indirect=True)
def test_the_team_journal_verifies_the_server_certificate(journal_backend, tmp_path) -> None:
    from tests import pgserver

    if pgserver.CA is None:
        pytest.skip("the server under test was not started by the tests (no TLS CA known)")
    good = f"{journal_backend}?sslmode=verify-full&sslrootcert={pgserver.CA}"
    j = open_journal(good, tmp_path)
    assert j.db.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                        ).fetchone()[0] is True
    j.close()
    from runbook.lab import pki

    _, other = pki.make_ca(pki.name("someone else's CA"))
    pki.write(tmp_path / "other.pem", pki.cert_pem(other))
    with pytest.raises(JournalError, match="cannot open the team journal") as err:
        open_journal(f"{journal_backend}?sslmode=verify-full&sslrootcert={tmp_path}/other.pem",
                     tmp_path)
    assert "certificate verify failed" in str(err.value)
