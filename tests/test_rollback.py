"""Backups before change and rollback over real SSH: bytes, modes and absence all come back."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import signal
import sys

import pytest

from runbook.errors import RollbackRefused
from runbook.headless import FlagDecider
from runbook.inventory import Inventory
from runbook.loader import load_procedure
from runbook.rollback import rollback

from . import helpers
from .helpers import cli, cli_env, engine_for, write_procedure

pytestmark = pytest.mark.usefixtures("journal_backend")  # both journal backends

THREE_FILES = """
id: test.three-files
title: Edit three files, then fail
vendor: test
source: {document: tests}
risk: medium
params:
  dev: {type: target}
  dir: {type: string}
steps:
  - id: new-file
    title: Create a file
    kind: run
    target: dev
    command: "printf 'new\\n' > {{ dir }}/created.txt"
    modifies: ["{{ dir }}/created.txt"]
  - id: key
    title: Replace the key
    kind: run
    target: dev
    command: "printf 'NEWKEY' > {{ dir }}/key.pem && chmod 0644 {{ dir }}/key.pem"
    modifies: ["{{ dir }}/key.pem"]
  - id: config
    title: Change the config
    kind: run
    target: dev
    command: "printf 'b=2\\n' >> {{ dir }}/app.conf"
    modifies: ["{{ dir }}/app.conf"]
    rollback: ["echo undone >> {{ dir }}/rollback.log"]
  - {id: check, title: Check, kind: run, target: dev, command: "echo broken; exit 1"}
"""


def seed(root) -> dict[str, tuple[str, int]]:
    (root / "key.pem").write_bytes(b"OLDKEY")
    (root / "key.pem").chmod(0o600)
    (root / "app.conf").write_bytes(b"a=1\n")
    (root / "app.conf").chmod(0o640)
    return snapshot(root)


def snapshot(root) -> dict[str, tuple[str, int]]:
    out = {}
    for name in ("created.txt", "key.pem", "app.conf"):
        p = root / name
        if p.exists():
            out[name] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mode & 0o777)
    return out


async def failed_run(device, tmp_path):
    before = seed(device.root)
    path = write_procedure(tmp_path, THREE_FILES)
    engine, journal, rec = engine_for(device.data_dir, FlagDecider())
    inv = Inventory.load(device.inventory_path)
    run_id = engine.create(load_procedure(path), path.read_text(), str(path),
                           {"dev": device.name, "dir": device.remote_dir}, {}, inv)
    assert await engine.execute(run_id, {}) == "failed"
    assert snapshot(device.root) != before
    return before, engine, journal, run_id


@pytest.fixture(params=["asyncssh", "sshd"])
def device(request: pytest.FixtureRequest):
    return request.getfixturevalue("ssh_device" if request.param == "asyncssh" else "sshd")


async def test_rollback_restores_bytes_modes_and_absence(device, tmp_path) -> None:
    before, engine, journal, run_id = await failed_run(device, tmp_path)
    backups = journal.backups(run_id)
    assert [(b.path.rsplit("/", 1)[-1], b.state) for b in backups] == [
        ("created.txt", "absent"), ("key.pem", "present"), ("app.conf", "present")]
    assert backups[1].mode == 0o600 and backups[2].mode == 0o640
    store = device.data_dir / "backups" / "objects"
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in store.rglob("*") if p.is_file())
    assert all(p.stat().st_mode & 0o777 == 0o700 for p in store.rglob("*") if p.is_dir())

    assert await rollback(engine, run_id, {}) == "rolled_back"

    assert snapshot(device.root) == before
    assert not (device.root / "created.txt").exists()
    assert (device.root / "rollback.log").read_text() == "undone\n"
    restored = [e.data["path"].rsplit("/", 1)[-1] for e in journal.events(run_id)
                if e.kind == "file_restored"]
    assert restored == ["app.conf", "key.pem", "created.txt"]  # newest change first
    statuses = {a.step_id: a.status for a in journal.attempts(run_id)}
    assert statuses == {"new-file": "rolled_back", "key": "rolled_back",
                        "config": "rolled_back", "check": "rolled_back"}
    assert journal.get_run(run_id).state == "rolled_back"


async def test_rollback_refuses_when_a_file_changed_behind_our_back(ssh_device,
                                                                    tmp_path) -> None:
    before, engine, journal, run_id = await failed_run(ssh_device, tmp_path)
    (ssh_device.root / "app.conf").write_bytes(b"a=1\nb=2\nsomeone=else\n")
    key_after = (ssh_device.root / "key.pem").read_bytes()

    with pytest.raises(RollbackRefused, match="app.conf changed since"):
        await rollback(engine, run_id, {})

    assert (ssh_device.root / "key.pem").read_bytes() == key_after  # nothing restored
    assert all(b.restored_at is None for b in journal.backups(run_id))

    engine2, _, _ = engine_for(ssh_device.data_dir, FlagDecider())
    assert await rollback(engine2, run_id, {}, force=True) == "rolled_back"
    assert snapshot(ssh_device.root) == before


async def test_partial_rollback_then_resume_runs_those_steps_again(ssh_device,
                                                                   tmp_path) -> None:
    _, engine, journal, run_id = await failed_run(ssh_device, tmp_path)
    assert await rollback(engine, run_id, {}, to_step="config") == "waiting"
    assert (ssh_device.root / "app.conf").read_bytes() == b"a=1\n"
    assert (ssh_device.root / "key.pem").read_bytes() == b"NEWKEY"  # earlier step kept
    latest = journal.latest_attempts(run_id)
    assert latest[("key", ssh_device.name)].status == "succeeded"
    assert latest[("config", ssh_device.name)].status == "rolled_back"


KILLED_ROLLBACK = THREE_FILES.replace(
    'rollback: ["echo undone >> {{ dir }}/rollback.log"]',
    'rollback: ["if [ -e {{ dir }}/once ]; then echo second >> {{ dir }}/rollback.log; else '
    'touch {{ dir }}/once; echo ready; sleep 60; fi"]')


async def test_rollback_killed_midway_completes_when_run_again(ssh_device, tmp_path) -> None:
    before = seed(ssh_device.root)
    path = write_procedure(tmp_path, KILLED_ROLLBACK)
    env = cli_env(ssh_device.data_dir, tmp_path)
    args = ["-i", str(ssh_device.inventory_path), "-p", f"dev={ssh_device.name}",
            "-p", f"dir={ssh_device.remote_dir}"]
    code, out, err = await cli(["run", str(path), *args], env)
    assert code == 1, out + err
    run_id = re.search(r"run (\S+):", out).group(1)

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runbook", "rollback", run_id, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(60):
        while b"| ready" not in (line := await proc.stdout.readline()):
            assert line, "rollback ended before its command started"
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    assert (ssh_device.root / "app.conf").read_bytes() == b"a=1\n"  # restored before the kill

    code, out, err = await cli(["rollback", run_id], env)

    assert code == 0, out + err
    assert snapshot(ssh_device.root) == before
    assert (ssh_device.root / "rollback.log").read_text() == "second\n"
    j = helpers.journal_at(ssh_device.data_dir)
    try:
        restored = [e.data["path"] for e in j.events(run_id) if e.kind == "file_restored"]
        assert len(restored) == len(set(restored)) == 3  # none restored twice
        assert j.get_run(run_id).state == "rolled_back"
    finally:
        j.close()


RESTORE = """
id: test.restore
title: Back up, change, restore as a documented step
vendor: test
source: {document: tests}
risk: low
params:
  dev: {type: target}
  dir: {type: string}
steps:
  - {id: save, title: Save, kind: backup, target: dev, paths: ["{{ dir }}/app.conf"]}
  - {id: change, title: Change, kind: run, target: dev,
     command: "printf 'broken\\\\n' > {{ dir }}/app.conf && chmod 0600 {{ dir }}/app.conf"}
  - {id: put-back, title: Restore the .backup copy, kind: restore, target: dev, from_step: save}
"""


async def test_restore_step_puts_back_a_named_backup(ssh_device, tmp_path) -> None:
    before = seed(ssh_device.root)
    path = write_procedure(tmp_path, RESTORE)
    engine, journal, rec = engine_for(ssh_device.data_dir, FlagDecider())
    run_id = engine.create(load_procedure(path), path.read_text(), str(path),
                           {"dev": ssh_device.name, "dir": ssh_device.remote_dir}, {},
                           Inventory.load(ssh_device.inventory_path))

    assert await engine.execute(run_id, {}) == "succeeded"

    assert snapshot(ssh_device.root) == before  # bytes and mode 0640 back
    assert any("verified" in line for line in rec.lines("put-back"))
    # The restore is itself undoable: its own backup holds the "broken" version.
    (saved,) = [b for b in journal.backups(run_id) if b.step_id == "put-back"]
    assert saved.sha256 == hashlib.sha256(b"broken\n").hexdigest() and saved.mode == 0o600


IRREVERSIBLE = """
id: test.refused
title: Change a file, then send something that cannot be called back
vendor: test
source: {document: tests}
risk: low
params:
  dev: {type: target}
  dir: {type: string}
steps:
  - {id: write, title: Write the config, kind: run, target: dev,
     command: "printf 'b=2\\\\n' > {{ dir }}/app.conf", modifies: ["{{ dir }}/app.conf"]}
  - {id: send, title: Send it, kind: run, target: dev, command: "echo sent",
     irreversible: The receiver has it now.}
"""


async def test_a_refused_rollback_is_in_the_change_record(ssh_device, tmp_path) -> None:
    seed(ssh_device.root)
    path = write_procedure(tmp_path, IRREVERSIBLE)
    engine, journal, _ = engine_for(ssh_device.data_dir)
    run_id = engine.create(load_procedure(path), path.read_text(), str(path),
                           {"dev": ssh_device.name, "dir": ssh_device.remote_dir}, {},
                           Inventory.load(ssh_device.inventory_path))
    assert await engine.execute(run_id, {}) == "succeeded"
    journal.close()
    env = cli_env(ssh_device.data_dir, tmp_path)

    code, out, err = await cli(["rollback", run_id], env)  # headless: runbook refuses

    assert code == 8 and "step send (on dev1) cannot be undone" in err, out + err
    assert (ssh_device.root / "app.conf").read_bytes() == b"b=2\n"  # nothing restored
    j = helpers.journal_at(ssh_device.data_dir)
    try:
        [refusal] = [e for e in j.events(run_id) if e.kind == "rollback_refusal"]
        assert "cannot be undone: The receiver has it now." in refusal.data["reason"]
        assert refusal.data["by"] and j.get_run(run_id).state == "succeeded"
    finally:
        j.close()
    records = {}
    for fmt in ("json", "md", "html"):
        out_path = tmp_path / f"record.{fmt}"
        code, out, err = await cli(["export", run_id, "--format", fmt, "-o", str(out_path)],
                                   env)
        assert code == 0, out + err
        records[fmt] = out_path.read_text()
    [entry] = [r for r in json.loads(records["json"])["rollbacks"]
               if r["event"] == "rollback_refusal"]
    assert "step send (on dev1) cannot be undone" in entry["reason"]
    words = ("Rollback refused</strong> by runbook: a rollback of the whole run",
             "was refused before anything changed. Reason: step send (on dev1) cannot be "
             "undone")
    assert "**Rollback refused** by runbook: a rollback of the whole run" in records["md"]
    assert all(w in records["html"] for w in words), records["html"]
    code, out, err = await cli(["verify-record", str(tmp_path / "record.json")], env)
    assert code == 0, out + err


RETRIED = """
id: test.retried
title: A step that fails half-way, then is run again
vendor: test
source: {document: tests}
risk: low
params:
  dev: {type: target}
  dir: {type: string}
steps:
  - {id: write, title: Write the config, kind: run, target: dev,
     command: "if [ -e {{ dir }}/again ]; then printf 'b=2\\\\n' > {{ dir }}/app.conf; else
       printf 'half\\\\n' > {{ dir }}/app.conf; touch {{ dir }}/again; exit 1; fi",
     modifies: ["{{ dir }}/app.conf"], rollback: ["rm -f {{ dir }}/again"]}
"""


async def test_a_retried_step_is_put_back_once_from_its_first_backup(ssh_device,
                                                                     tmp_path) -> None:
    before = seed(ssh_device.root)
    path = write_procedure(tmp_path, RETRIED)
    engine, journal, recorder = engine_for(ssh_device.data_dir)
    run_id = engine.create(load_procedure(path), path.read_text(), str(path),
                           {"dev": ssh_device.name, "dir": ssh_device.remote_dir}, {},
                           Inventory.load(ssh_device.inventory_path))
    assert await engine.execute(run_id, {}) == "failed"
    assert await engine.execute(run_id, {}) == "succeeded"
    assert len(journal.backups(run_id)) == 2  # one per attempt

    assert await rollback(engine, run_id, {}) == "rolled_back"

    assert snapshot(ssh_device.root) == before  # as before the first attempt, not "half"
    assert not (ssh_device.root / "again").exists()
    restored = [e for e in journal.events(run_id) if e.kind == "file_restored"]
    commands = [e for e in journal.events(run_id) if e.kind == "rollback_command"
                and e.data["status"] == "succeeded"]
    assert len(restored) == 1 and len(commands) == 1
    notes = [b.restore_note for b in journal.backups(run_id)]
    assert notes[0] == "restored" and "put back from its first backup" in notes[1]
