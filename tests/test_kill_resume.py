"""SIGKILL `runbook run` in the middle of a step, then resume: nothing done twice, nothing lost."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

import pytest

from runbook.journal import Journal
from runbook.orphans import PS

from . import helpers
from .helpers import cli, cli_env, write_procedure

pytestmark = pytest.mark.usefixtures("journal_backend")  # both journal backends

PROCEDURE = """
id: test.kill
title: Killed mid-step
vendor: test
source: {document: tests}
risk: low
params: {dev: {type: target}}
steps:
  - {id: one, title: One, kind: run, target: dev, command: "echo one >> log.txt"}
  - {id: two, title: Two, kind: run, target: dev, command: "echo two >> log.txt"}
  - id: slow
    title: Slow change
    kind: run
    target: dev
    command: "SLOW"
    verify: "grep -q slow log.txt"
    rollback: ["sed -i '/^slow$/d' log.txt"]
  - {id: four, title: Four, kind: run, target: dev, command: "echo four >> log.txt"}
""".replace("SLOW", "echo slow >> log.txt; [ -e resumed ] || { echo ready; sleep 60; }")
SLOW = "echo slow >> log.txt; [ -e resumed ] || { echo ready; sleep 60; }"


async def start_and_kill(device, tmp_path) -> tuple[str, dict[str, str]]:
    """Start `runbook run` as a subprocess; SIGKILL it once step `slow` printed `ready`."""
    path = write_procedure(tmp_path, PROCEDURE)
    env = cli_env(device.data_dir, tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runbook", "run", str(path), "-i", str(device.inventory_path),
        "-p", f"dev={device.name}", env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    run_id = None
    seen = []
    async with asyncio.timeout(60):
        while True:
            line = (await proc.stdout.readline()).decode()
            assert line, f"runbook exited early: {seen}"
            seen.append(line)
            if m := re.search(r"run (\S+):", line):
                run_id = run_id or m.group(1)
            if line.strip().endswith("| ready"):
                break
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    (device.root / "resumed").touch()  # a re-run of the step no longer blocks
    assert run_id
    return run_id, env


async def test_resume_without_choice_reports_the_step_in_doubt(ssh_device, tmp_path) -> None:
    run_id, env = await start_and_kill(ssh_device, tmp_path)
    before = list(ssh_device.server.commands)

    code, out, err = await cli(["resume", run_id], env)

    assert code == 4
    assert "slow" in err + out and "echo slow >> log.txt" in out + err
    # nothing re-run, nothing changed: only the read-only look for the command's process group
    assert [c for c in ssh_device.server.commands if c != PS] == before
    assert "Traceback" not in out + err
    with _journal(ssh_device) as j:
        statuses = {a.step_id: a.status for a in j.attempts(run_id)}
    assert statuses == {"one": "succeeded", "two": "succeeded", "slow": "in_doubt"}


class _journal:
    def __init__(self, device) -> None:
        self.j = helpers.journal_at(device.data_dir)

    def __enter__(self) -> Journal:
        return self.j

    def __exit__(self, *exc: object) -> None:
        self.j.close()


EXPECTED = {
    # choice: (exit code, how many times `slow` reached the device, final log, slow's status)
    "rerun": (0, 2, "one\ntwo\nslow\nslow\nfour\n", "succeeded"),
    "skip": (0, 1, "one\ntwo\nslow\nfour\n", "skipped"),
    "done": (0, 1, "one\ntwo\nslow\nfour\n", "succeeded"),
    "verify": (0, 1, "one\ntwo\nslow\nfour\n", "succeeded"),
    "abort": (7, 1, "one\ntwo\nslow\n", "in_doubt"),
    "rollback": (3, 1, "one\ntwo\n", "rolled_back"),
}
STATES = {"abort": "aborted", "rollback": "waiting"}


@pytest.mark.parametrize("choice", sorted(EXPECTED))
async def test_each_in_doubt_choice_does_what_it_says(ssh_device, tmp_path, choice) -> None:
    run_id, env = await start_and_kill(ssh_device, tmp_path)
    code_want, slow_count, log, status = EXPECTED[choice]

    code, out, err = await cli(["resume", run_id, "--in-doubt", choice], env)

    assert code == code_want, out + err
    cmds = ssh_device.server.commands
    assert cmds.count("echo one >> log.txt") == 1
    assert cmds.count("echo two >> log.txt") == 1
    assert cmds.count(SLOW) == slow_count
    assert (ssh_device.root / "log.txt").read_text() == log
    with _journal(ssh_device) as j:
        latest = j.latest_attempts(run_id)
        assert latest[("slow", ssh_device.name)].status == status
        assert j.get_run(run_id).state == STATES.get(choice, "succeeded")
        decisions = [e.data["answer"] for e in j.events(run_id) if e.kind == "decision_made"]
        assert decisions == [choice]


async def test_resuming_a_finished_run_says_so_and_succeeds(ssh_device, tmp_path) -> None:
    path = write_procedure(tmp_path, PROCEDURE.replace(SLOW, "echo quick"))
    env = cli_env(ssh_device.data_dir, tmp_path)
    code, out, err = await cli(["run", str(path), "-i", str(ssh_device.inventory_path),
                                "-p", f"dev={ssh_device.name}"], env)
    assert code == 0, out + err
    run_id = re.search(r"run (\S+):", out).group(1)
    code, out, err = await cli(["resume", run_id], env)
    assert code == 0
    assert err.strip() == f"run {run_id} is already succeeded; nothing to resume"
