"""End to end over real SSH: the in-process server and OpenSSH sshd run the same procedure."""

from __future__ import annotations

import pytest

from runbook.errors import UsageError
from runbook.events import RunFinished, StepFinished
from runbook.headless import FlagDecider
from runbook.inventory import Inventory
from runbook.loader import load_procedure

from .helpers import engine_for, write_procedure

pytestmark = pytest.mark.usefixtures("journal_backend")  # both journal backends

FIVE_STEPS = """
id: test.five-steps
title: Five steps
vendor: test
source: {document: tests}
risk: low
params:
  dev: {type: target}
  dir: {type: string}
  name: {type: string, default: world}
steps:
  - id: greet
    title: Say hello
    kind: run
    target: dev
    command: "printf 'hello %s\\n' {{ name }}; printf 'second line\\n'"
    expect: {match: ["^hello world$"]}
  - id: make-file
    title: Make a file
    kind: run
    target: dev
    command: "cd {{ dir }} && echo 42 > value.txt && echo made"
  - id: read-value
    title: Read it back
    kind: run
    target: dev
    command: "cat {{ dir }}/value.txt"
    capture: {value: "^(\\\\d+)$"}
  - id: exit-three
    title: A documented non-zero exit
    kind: run
    target: dev
    command: "echo expected; exit 3"
    expect: {exit: [3], not_match: ["Traceback"]}
  - id: wait-value
    title: Wait for the value
    kind: wait
    target: dev
    command: "cat {{ dir }}/value.txt"
    interval: 0.1
    timeout: 20
    expect: {match: ["^{{ value }}$"]}
"""


@pytest.fixture(params=["asyncssh", "sshd"])
def device(request: pytest.FixtureRequest):
    """The same tests over the in-process server and over a real OpenSSH sshd."""
    return request.getfixturevalue("ssh_device" if request.param == "asyncssh" else "sshd")


async def test_five_steps_stream_and_check_exit_status(device, tmp_path) -> None:
    path = write_procedure(tmp_path, FIVE_STEPS)
    proc = load_procedure(path)
    engine, journal, rec = engine_for(device.data_dir)
    inv = Inventory.load(device.inventory_path)
    params = {"dev": device.name, "dir": device.remote_dir}
    run_id = engine.create(proc, path.read_text(), str(path), params, {}, inv)

    assert await engine.execute(run_id, {}) == "succeeded"

    assert rec.lines("greet") == ["hello world", "second line"]
    assert rec.lines("exit-three") == ["expected"]
    finished = {e.step_id: e for e in rec.of(StepFinished)}
    assert [finished[s].status for s in ("greet", "make-file", "read-value", "exit-three",
                                         "wait-value")] == ["succeeded"] * 5
    assert finished["exit-three"].exit_status == 3
    assert finished["greet"].exit_status == 0
    assert journal.captures(run_id) == {"value": "42"}
    assert (device.root / "value.txt").read_text() == "42\n"
    attempts = journal.attempts(run_id)
    assert [a.status for a in attempts] == ["succeeded"] * 5
    assert all(a.output_sha256 and a.finished_at for a in attempts)
    assert journal.output(attempts[0].id) == "hello world\nsecond line\n"


async def test_unmet_expectation_fails_the_run_and_stops(ssh_device, tmp_path) -> None:
    path = write_procedure(tmp_path, """
        id: test.fails
        title: Fails at step two
        vendor: test
        source: {document: tests}
        risk: low
        params: {dev: {type: target}}
        steps:
          - {id: one, title: One, kind: run, target: dev, command: "echo one"}
          - {id: two, title: Two, kind: run, target: dev, command: "echo InitialPolicy",
             expect: {not_match: ["InitialPolicy"]}}
          - {id: three, title: Three, kind: run, target: dev, command: "echo three"}
        """)
    engine, journal, rec = engine_for(ssh_device.data_dir, FlagDecider())
    inv = Inventory.load(ssh_device.inventory_path)
    run_id = engine.create(load_procedure(path), path.read_text(), str(path),
                           {"dev": ssh_device.name}, {}, inv)

    assert await engine.execute(run_id, {}) == "failed"

    assert ssh_device.server.commands == ["echo one", "echo InitialPolicy"]
    run = journal.get_run(run_id)
    assert "two" in run.reason and "InitialPolicy" in run.reason
    statuses = {v.step_id: v.status for v in engine.view(run_id)}
    assert statuses == {"one": "succeeded", "two": "failed", "three": "pending"}


async def test_failed_step_is_retried_on_resume(ssh_device, tmp_path) -> None:
    path = write_procedure(tmp_path, """
        id: test.retry
        title: Needs a file
        vendor: test
        source: {document: tests}
        risk: low
        params: {dev: {type: target}}
        steps:
          - {id: one, title: One, kind: run, target: dev, command: "echo one"}
          - {id: two, title: Two, kind: run, target: dev, command: "cat ready.txt"}
        """)
    engine, journal, _ = engine_for(ssh_device.data_dir, FlagDecider())
    inv = Inventory.load(ssh_device.inventory_path)
    run_id = engine.create(load_procedure(path), path.read_text(), str(path),
                           {"dev": ssh_device.name}, {}, inv)
    assert await engine.execute(run_id, {}) == "failed"
    (ssh_device.root / "ready.txt").write_text("ok\n")

    engine2, _, _ = engine_for(ssh_device.data_dir, FlagDecider())
    assert await engine2.execute(run_id, {}) == "succeeded"

    assert ssh_device.server.commands == ["echo one", "cat ready.txt", "cat ready.txt"]


async def test_confirm_step_waits_without_approval(ssh_device, tmp_path) -> None:
    path = write_procedure(tmp_path, """
        id: test.confirm
        title: Risky
        vendor: test
        source: {document: tests}
        risk: high
        params: {dev: {type: target}}
        steps:
          - {id: risky, title: Risky, kind: run, target: dev, command: "echo done",
             confirm: "This drops traffic on {{ dev }}. Go?"}
          - {id: manual, title: Enter the key in SmartConsole, kind: manual,
             description: "Open **SmartConsole** and initialise trust."}
        """)
    engine, journal, rec = engine_for(ssh_device.data_dir, FlagDecider())
    inv = Inventory.load(ssh_device.inventory_path)
    run_id = engine.create(load_procedure(path), path.read_text(), str(path),
                           {"dev": ssh_device.name}, {}, inv)
    assert await engine.execute(run_id, {}) == "waiting"
    assert ssh_device.server.commands == []

    engine2, _, _ = engine_for(ssh_device.data_dir, FlagDecider(yes=True))
    assert await engine2.execute(run_id, {}) == "waiting"  # the manual step needs --confirm
    assert ssh_device.server.commands == ["echo done"]

    engine3, _, _ = engine_for(ssh_device.data_dir, FlagDecider(confirmed={"manual"}))
    assert await engine3.execute(run_id, {}) == "succeeded"
    assert ssh_device.server.commands == ["echo done"]
    kinds = [e.kind for e in journal.events(run_id)]
    assert kinds.count("decision_made") == 4


async def test_a_waiting_run_can_be_aborted_and_then_cannot_be_resumed(ssh_device,
                                                                       tmp_path) -> None:
    path = write_procedure(tmp_path, """
        id: test.abort
        title: Stop here
        vendor: test
        source: {document: tests}
        risk: low
        params: {dev: {type: target}}
        steps:
          - {id: risky, title: Risky, kind: run, target: dev, command: "echo done",
             confirm: true}
        """)
    engine, journal, rec = engine_for(ssh_device.data_dir, FlagDecider())
    inv = Inventory.load(ssh_device.inventory_path)
    run_id = engine.create(load_procedure(path), path.read_text(), str(path),
                           {"dev": ssh_device.name}, {}, inv)
    assert await engine.execute(run_id, {}) == "waiting"
    engine.abort(run_id, "aborted by the operator")
    assert journal.get_run(run_id).state == "aborted"
    assert [e.state for e in rec.events if isinstance(e, RunFinished)] == ["waiting", "aborted"]
    with pytest.raises(UsageError):
        engine.abort(run_id, "again")
    with pytest.raises(UsageError):
        await engine.execute(run_id, {})
    assert ssh_device.server.commands == []
