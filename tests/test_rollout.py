"""Rolling execution over real SSH: batches, max_fail, resume inside a batch, rollback of a
partly rolled-out change, and the write-ahead rule when attempts start together."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest
import yaml

from runbook.inventory import Inventory
from runbook.loader import load_procedure
from runbook.rollout import allowed_failures, batches

from .helpers import cli, cli_env, engine_for, start_until, write_procedure

NAMES = [f"fw{n}" for n in range(1, 7)]


def fleet(device, tmp_path: Path, names: list[str] = NAMES) -> Path:  # noqa: ANN001
    """An inventory of several device names, all reaching the one test server."""
    inv = yaml.safe_load(Path(device.inventory_path).read_text())
    (host,) = inv["all"]["hosts"].values()
    inv["all"]["hosts"] = {n: dict(host) for n in names}
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(inv))
    return path


def procedure(tmp_path: Path, serial: object, max_fail: object = 0, fail_on: str = "none",
              extra: str = "") -> Path:
    return write_procedure(tmp_path, f"""
        id: test.rollout
        title: Rollout
        vendor: test
        source: {{document: tests}}
        risk: medium
        params:
          fleet: {{type: targets}}
          dir: {{type: string}}
        steps:
          - id: change
            title: Change each device
            kind: run
            foreach: fleet
            rollout: renew
            serial: {"null" if serial is None else repr(serial)}
            max_fail: {max_fail!r}
            modifies: ["{{{{ dir }}}}/{{{{ target.name }}}}.conf"]
            command: >-
              echo new > {{{{ dir }}}}/{{{{ target.name }}}}.conf &&
              echo change {{{{ target.name }}}} >> {{{{ dir }}}}/order &&
              test {{{{ target.name }}}} != {fail_on}
          - id: check
            title: Check each device
            kind: run
            foreach: fleet
            rollout: renew
            command: "echo check {{{{ target.name }}}} >> {{{{ dir }}}}/order"
        {extra}
        """)


def order(device) -> list[str]:  # noqa: ANN001
    return (device.root / "order").read_text().split("\n")[:-1]


def test_batches_follow_serial_as_ansible_does() -> None:
    items = list(range(10))
    assert batches(items, 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches(items, "30%") == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert batches(items, [1, 2, "50%"]) == [[0], [1, 2], [3, 4, 5, 6, 7], [8, 9]]
    assert batches(items, None) == [items]
    assert batches([0, 1], "1%") == [[0], [1]]  # never a batch of nobody
    assert allowed_failures("5%", 100) == 5 and allowed_failures("5%", 10) == 0
    assert allowed_failures(2, 10) == 2


def test_a_bad_rollout_is_refused_with_its_location(tmp_path) -> None:
    import subprocess
    import sys

    path = write_procedure(tmp_path, """
        id: test.bad
        title: Bad
        vendor: test
        source: {document: tests}
        risk: low
        params:
          dev: {type: target}
        steps:
          - id: one
            title: One
            kind: run
            target: dev
            serial: 0
            command: "true"
        """)
    out = subprocess.run([sys.executable, "-m", "runbook", "validate", str(path)],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert f"{path}:13:" in out.stdout + out.stderr  # the line of `serial: 0`
    assert "a batch of 0 devices would never finish" in out.stdout + out.stderr


async def test_each_batch_runs_every_step_of_the_rollout_before_the_next(ssh_device,
                                                                         tmp_path) -> None:
    path = procedure(tmp_path, [1, 2, "50%"])
    engine, journal, _ = engine_for(ssh_device.data_dir)
    inv = Inventory.load(fleet(ssh_device, tmp_path))
    run_id = engine.create(load_procedure(path), path.read_text(), str(path),
                           {"fleet": ",".join(NAMES), "dir": ssh_device.remote_dir}, {}, inv)
    assert await engine.execute(run_id, {}) == "succeeded"
    lines = order(ssh_device)
    cuts = [["fw1"], ["fw2", "fw3"], ["fw4", "fw5", "fw6"]]
    at = 0
    for batch in cuts:  # within a batch, devices run concurrently: compare as sets
        n = len(batch)
        assert sorted(lines[at:at + n]) == [f"change {d}" for d in batch]
        assert sorted(lines[at + n:at + 2 * n]) == [f"check {d}" for d in batch]
        at += 2 * n
    started = [e.data for e in journal.events(run_id) if e.kind == "batch_started"]
    assert [(e["batch"], e["of"], e["targets"]) for e in started] == [
        (1, 3, cuts[0]), (2, 3, cuts[1]), (3, 3, cuts[2])]


async def test_a_failure_beyond_max_fail_stops_the_rollout_and_rollback_undoes_only_it(
        ssh_device, tmp_path) -> None:
    path = procedure(tmp_path, 2, max_fail=0, fail_on="fw3")
    for n in NAMES:
        (ssh_device.root / f"{n}.conf").write_text("old\n")
    env = cli_env(ssh_device.data_dir, tmp_path)
    code, out, err = await cli(["run", str(path), "-i", str(fleet(ssh_device, tmp_path)), "-p",
                                "fleet=" + ",".join(NAMES), "-p",
                                f"dir={ssh_device.remote_dir}"], env)
    assert code == 1, out + err
    assert "rollout renew stopped after batch 2 of 3: 1 device(s) failed (fw3)" in out + err
    assert sorted(order(ssh_device)) == sorted(
        ["change fw1", "change fw2", "check fw1", "check fw2", "change fw3", "change fw4",
         "check fw4"])  # fw3 failed: no check on it; batch 3 never started
    assert [(ssh_device.root / f"{n}.conf").read_text() for n in NAMES] == \
        ["new\n"] * 4 + ["old\n"] * 2
    run_id = out.split("run ", 1)[1].split(":", 1)[0]

    code, out, err = await cli(["rollback", run_id], env)
    assert code == 0, out + err
    assert [(ssh_device.root / f"{n}.conf").read_text() for n in NAMES] == ["old\n"] * 6
    assert "fw5" not in out + err and "fw6" not in out + err  # never touched, never restored


async def test_failures_within_max_fail_let_the_rollout_finish_and_are_named(ssh_device,
                                                                            tmp_path) -> None:
    path = procedure(tmp_path, "50%", max_fail="20%", fail_on="fw2")
    engine, journal, _ = engine_for(ssh_device.data_dir)
    inv = Inventory.load(fleet(ssh_device, tmp_path))
    run_id = engine.create(load_procedure(path), path.read_text(), str(path),
                           {"fleet": ",".join(NAMES), "dir": ssh_device.remote_dir}, {}, inv)
    assert await engine.execute(run_id, {}) == "failed"
    assert "1 device(s) failed: fw2 (within max_fail 20%" in journal.get_run(run_id).reason
    checked = sorted(x for x in order(ssh_device) if x.startswith("check"))
    assert checked == [f"check {n}" for n in NAMES if n != "fw2"]


SLOW_IN_BATCH_TWO = """
id: test.rollout-slow
title: Rollout with a slow device
vendor: test
source: {document: tests}
risk: medium
params:
  fleet: {type: targets}
  dir: {type: string}
steps:
  - id: change
    title: Change
    kind: run
    foreach: fleet
    rollout: renew
    serial: 2
    command: "echo change {{ target.name }} >> {{ dir }}/order"
  - id: slow
    title: Slow on fw3
    kind: run
    foreach: fleet
    rollout: renew
    command: "test {{ target.name }} != fw3 || { echo '| ready'; sleep 30; }"
  - id: check
    title: Check
    kind: run
    foreach: fleet
    rollout: renew
    command: "echo check {{ target.name }} >> {{ dir }}/order"
"""


async def test_resume_inside_a_batch_continues_that_batch_and_never_redoes_the_last(
        ssh_device, tmp_path) -> None:
    path = write_procedure(tmp_path, SLOW_IN_BATCH_TWO)
    env = cli_env(ssh_device.data_dir, tmp_path)
    args = ["run", str(path), "-i", str(fleet(ssh_device, tmp_path)), "-p",
            "fleet=" + ",".join(NAMES), "-p", f"dir={ssh_device.remote_dir}"]
    proc, run_id = await start_until(args, env)  # fw3 is sleeping, in batch 2
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    before = order(ssh_device)
    assert sorted(before) == ["change fw1", "change fw2", "change fw3", "change fw4",
                              "check fw1", "check fw2"]
    code, out, err = await cli(["resume", run_id, "--in-doubt", "done"], env)
    assert code == 0, out + err
    assert sorted(order(ssh_device)[len(before):]) == [
        "change fw5", "change fw6", "check fw3", "check fw4", "check fw5", "check fw6"]


async def test_attempts_that_start_together_are_durable_before_any_command_is_sent(
        ssh_device, tmp_path) -> None:
    path = procedure(tmp_path, None)
    engine, journal, _ = engine_for(ssh_device.data_dir)
    inv = Inventory.load(fleet(ssh_device, tmp_path))
    run_id = engine.create(load_procedure(path), path.read_text(), str(path),
                           {"fleet": ",".join(NAMES), "dir": ssh_device.remote_dir}, {}, inv)
    server = ssh_device.server
    # The commit of the attempt rows fails: no command may reach any device.
    journal.db.set_authorizer(
        lambda action, table, *_: sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_INSERT and table == "attempts" else sqlite3.SQLITE_OK)
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        await engine.execute(run_id, {})
    assert not any("change" in c for c in server.commands)
    journal.db.set_authorizer(None)
    journal.unlock(run_id)

    commits: list[tuple[list[str], int, int]] = []  # (steps inserted, changes, checks sent)
    pending: list[str] = []

    def watch(statement: str) -> None:
        if statement.startswith("INSERT INTO attempts"):
            pending.append("check" if "'check'" in statement else "change")
        elif statement == "COMMIT" and pending:
            commits.append((list(pending), sum("echo new" in c for c in server.commands),
                            sum("echo check" in c for c in server.commands)))
            pending.clear()

    journal.db.set_trace_callback(watch)
    assert await engine.execute(run_id, {}) == "succeeded"
    journal.db.set_trace_callback(None)
    # The second step's six attempts start in one turn (connections are open): one commit.
    [(steps, _, checks_sent)] = [c for c in commits if "check" in c[0]]
    assert steps == ["check"] * len(NAMES)
    # Not one command was on the wire before the attempt it belongs to had committed.
    assert checks_sent == 0
    first_change_commit = next(c for c in commits if "change" in c[0])
    assert first_change_commit[1] == 0


def test_the_plan_shows_the_batches(ssh_device, tmp_path) -> None:
    import subprocess
    import sys

    path = procedure(tmp_path, [1, "50%"], max_fail=1)
    out = subprocess.run([sys.executable, "-m", "runbook", "plan", str(path), "-i",
                          str(fleet(ssh_device, tmp_path)), "-p", "fleet=" + ",".join(NAMES),
                          "-p", "dir=/x", "--format", "md"], capture_output=True, text=True,
                         env=cli_env(ssh_device.data_dir, tmp_path))
    assert out.returncode == 0, out.stderr
    assert ("Rolled out in 3 batches (rollout `renew`), stopping when more than 1 device(s) "
            "fail: 1. fw1; 2. fw2, fw3, fw4; 3. fw5, fw6") in out.stdout
