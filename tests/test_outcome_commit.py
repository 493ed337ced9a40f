"""A step's outcome commits with the next step's start: killed in between, it is in doubt."""

from __future__ import annotations

import asyncio
import sqlite3
import sys

import pytest

from runbook.journal import Journal

from .helpers import cli, cli_env, journal_at, write_procedure

PROCEDURE = """
id: test.outcome
title: Outcome commits with the next start
vendor: test
source: {document: tests}
risk: low
params: {dev: {type: target}}
steps:
  - {id: one, title: One, kind: run, target: dev, command: "echo one >> log.txt"}
  - {id: two, title: Two, kind: run, target: dev, command: "echo two >> log.txt"}
"""

# Runs the procedure in a real engine and SIGKILLs itself as soon as the event named on the
# command line has been published: a crash at exactly that point of the run.
RUNNER = """
import asyncio, os, signal, sys
from runbook.engine import Engine
from runbook.headless import FlagDecider
from runbook.hostkeys import HostKeyStore
from runbook.inventory import Inventory
from runbook.journal import Journal
from runbook.loader import load_procedure
from runbook.paths import data_dir
from runbook.transport import Transport

path, inventory, kind, step = sys.argv[1:5]
journal = Journal.open()
store = HostKeyStore(data_dir())
engine = Engine(journal, FlagDecider(yes=True), transport_factory=lambda i: Transport(i, store),
                inventory_from_snapshot=Inventory.from_snapshot)
text = open(path).read()
run_id = engine.create(load_procedure(path), text, path, {"dev": "dev1"}, {},
                       Inventory.load(inventory))
print(run_id, flush=True)

def crash(event):
    if event.kind == kind and event.data().get("step_id") == step:
        os.kill(os.getpid(), signal.SIGKILL)

engine.subscribe(crash)
asyncio.run(engine.execute(run_id, {}))
"""


async def crash_at(device, tmp_path, kind: str, step: str) -> tuple[str, dict[str, str]]:
    """Run the procedure in a subprocess that is SIGKILLed right after `kind` of `step`."""
    path = write_procedure(tmp_path, PROCEDURE)
    env = cli_env(device.data_dir, tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RUNNER, str(path), str(device.inventory_path), kind, step,
        env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode == -9, err.decode()
    return out.decode().split()[0], env


def new_run(journal: Journal) -> str:
    """A run with nothing in it, straight in the journal (no device, no engine)."""
    return journal.create_run(
        procedure_id="p", procedure_title="P", procedure_path="p.yaml", procedure_hash="0",
        procedure_text="", params={}, secret_names=[], inventory={})


def statuses(device, run_id: str) -> dict[str, str]:
    journal = journal_at(device.data_dir)
    try:
        return {a.step_id: a.status for a in journal.attempts(run_id)}
    finally:
        journal.close()


async def test_killed_after_a_step_finished_but_before_the_next_start_it_is_in_doubt(
        ssh_device, tmp_path) -> None:
    run_id, env = await crash_at(ssh_device, tmp_path, "step_finished", "one")

    # The device ran step one; the journal has it started, not finished: neither lost nor
    # taken as done. Step two was never started, so nothing of it was sent.
    assert (ssh_device.root / "log.txt").read_text() == "one\n"
    assert statuses(ssh_device, run_id) == {"one": "running"}
    code, out, err = await cli(["resume", run_id], env)
    assert code == 4, out + err
    assert "one" in out + err and "echo one >> log.txt" in out + err
    assert ssh_device.server.commands.count("echo one >> log.txt") == 1  # not re-run

    code, out, err = await cli(["resume", run_id, "--in-doubt", "done"], env)
    assert code == 0, out + err
    assert (ssh_device.root / "log.txt").read_text() == "one\ntwo\n"
    assert statuses(ssh_device, run_id) == {"one": "succeeded", "two": "succeeded"}


async def test_the_next_start_commits_the_previous_outcome_with_it(ssh_device, tmp_path) -> None:
    run_id, _ = await crash_at(ssh_device, tmp_path, "step_started", "two")

    # step_started is published once the start is durable: step one's outcome went with it.
    assert statuses(ssh_device, run_id) == {"one": "succeeded", "two": "running"}
    journal = journal_at(ssh_device.data_dir)
    try:
        kinds = [(e.kind, e.step_id) for e in journal.events(run_id)
                 if e.kind in ("step_started", "step_finished")]
    finally:
        journal.close()
    assert kinds == [("step_started", "one"), ("step_finished", "one"), ("step_started", "two")]


async def test_deferred_writes_commit_with_the_next_commit_and_survive_a_failed_one(
        tmp_path) -> None:
    path = tmp_path / "journal.db"
    journal = Journal(path)
    other = sqlite3.connect(path)  # another process's view: committed rows only

    def committed() -> list[tuple[str, str]]:
        return other.execute("SELECT step_id, status FROM attempts ORDER BY id").fetchall()

    try:
        run_id = new_run(journal)
        one = journal.start_attempt(run_id, "one", None, "echo one")
        with journal.later():
            journal.finish_attempt(one.id, status="succeeded", exit_status=0)
        assert journal.attempt(one.id).status == "succeeded"  # this process reads it
        assert committed() == [("one", "running")]  # not durable yet

        with pytest.raises(sqlite3.IntegrityError), journal.tx() as db:  # a failing write
            db.execute("INSERT INTO meta VALUES ('schema', 'again')")
        assert journal.attempt(one.id).status == "succeeded"  # kept: only its own part undone
        assert committed() == [("one", "running")]

        journal.start_attempt(run_id, "two", None, "echo two")  # the next start commits both
        assert committed() == [("one", "succeeded"), ("two", "running")]
    finally:
        other.close()
        journal.close()


async def test_output_is_shown_without_a_commit_of_its_own_but_a_process_group_is_not(
        tmp_path) -> None:
    """Showing output commits what a resume relies on (a command's process group), never the
    output alone: one fsync per chunk was most of the cost of streaming to a screen."""
    path = tmp_path / "journal.db"
    journal = Journal(path)
    other = sqlite3.connect(path)

    def outputs() -> int:
        return other.execute("SELECT COUNT(*) FROM output").fetchone()[0]

    def groups() -> int:
        return other.execute("SELECT COUNT(*) FROM events WHERE kind = 'remote_started'"
                             ).fetchone()[0]

    try:
        run_id = new_run(journal)
        one = journal.start_attempt(run_id, "one", None, "seq 1 9")
        journal.append_output(one.id, "1\n2\n")
        journal.flush_for_output()
        assert outputs() == 0  # rides with the next commit (or the linger timer)

        with journal.later(before_output=True):
            journal.append_event(run_id, "remote_started", {"step_id": "one", "pgid": 42},
                                 "one", None)
        assert groups() == 0
        journal.flush_for_output()
        assert groups() == 1 and outputs() == 1  # the group, and what was open with it
        journal.append_output(one.id, "3\n")
        journal.flush_for_output()
        assert outputs() == 1
    finally:
        other.close()
        journal.close()


async def test_a_start_is_handed_back_only_once_durable_and_never_when_its_commit_failed(
        tmp_path) -> None:
    """Starts made together share one commit; each is handed back (and its command sent)
    only once that commit landed, and a commit that fails hands back its error and keeps
    nothing, not even the starts that did nothing wrong."""
    from runbook.events import StepStarted
    from runbook.groupcommit import AttemptStarter

    path = tmp_path / "journal.db"
    journal = Journal(path)
    other = sqlite3.connect(path)
    sabotage = False

    def record(event) -> None:  # noqa: ANN001 - called inside the starts' transaction
        if sabotage:  # a row the commit will refuse (foreign keys checked at COMMIT)
            journal.db.execute("PRAGMA defer_foreign_keys = ON")
            journal.db.execute("INSERT INTO attempts(run_id, step_id, attempt, status, command,"
                               " started_at) VALUES ('no-such-run', 'x', 1, 'running', '', '')")

    def committed() -> list[tuple[str, str]]:
        return other.execute("SELECT step_id, status FROM attempts ORDER BY id").fetchall()

    try:
        run_id = new_run(journal)
        starter = AttemptStarter(journal, record)
        made = lambda a: StepStarted(run_id, a.step_id, a.target, a.attempt, a.command)  # noqa: E731
        got = await asyncio.gather(*(starter.start(run_id, "one", t, "true", made)
                                     for t in ("fw1", "fw2")))
        assert [a.target for a, _ in got] == ["fw1", "fw2"]
        assert committed() == [("one", "running"), ("one", "running")]  # durable on return

        sabotage = True
        with pytest.raises(sqlite3.IntegrityError):
            await asyncio.gather(*(starter.start(run_id, "two", t, "true", made)
                                   for t in ("fw1", "fw2")))
        assert committed() == [("one", "running"), ("one", "running")]  # nothing of "two"
        sabotage = False
        a, _ = await starter.start(run_id, "two", "fw1", "true", made)  # the journal goes on
        assert committed()[-1] == ("two", "running") and a.step_id == "two"
    finally:
        other.close()
        journal.close()
