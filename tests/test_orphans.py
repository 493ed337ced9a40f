"""SIGKILL `runbook` while a command runs on a real OpenSSH sshd: the command must not run twice.

OpenSSH does not stop a command when its client dies. With the watchdog off (as on devices that
cannot run it) the command lives on, and a resume must see it: `rerun` is refused, `wait` lets
it finish and verifies (one effect), `kill` stops it (no effect). With the watchdog on, the
command dies with its client.

The slow command runs until the test creates a `release` file (not for a fixed 5 s), so that
"still running" never depends on how loaded the machine is; its effect comes at its end.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from runbook.orphans import PS, parse_ps

from .helpers import cli, cli_env, write_procedure

PROCEDURE = """
id: test.orphan
title: A command that outlives its client
vendor: test
source: {document: tests}
risk: low
params: {dev: {type: target}}
steps:
  - id: slow
    title: Slow change
    kind: run
    target: dev
    timeout: 60
    command: "until [ -e ROOT/release ]; do sleep 0.1; done; echo effect >> ROOT/counter"
    verify: "grep -q effect ROOT/counter"
  - {id: after, title: After, kind: run, target: dev, command: "echo after >> ROOT/after"}
"""


def inventory(device: Any, watchdog: bool) -> Path:
    """The device's inventory with the watchdog switched on or off."""
    data = yaml.safe_load(device.inventory_path.read_text())
    data["all"]["hosts"][device.name]["runbook_watchdog"] = watchdog
    path = device.inventory_path.with_name(f"inventory-{watchdog}.yaml")
    path.write_text(yaml.safe_dump(data))
    return path


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process of group `pgid` exists on this machine (the
    sshd device runs here)."""
    out = subprocess.run(PS.split(), capture_output=True, text=True, check=True).stdout
    return bool(parse_ps(out, pgid))


async def run_until_started(args: list[str], env: dict[str, str], nth: int = 1
                            ) -> tuple[asyncio.subprocess.Process, str | None, int | None, bool]:
    """Start `runbook --json ARGS`; return once the nth `remote_started` event was printed
    (the command runs on the device and its process group is journaled), or when it ended.
    Returns (process, run id, process group, whether it was still running)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runbook", "--json", *args, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    run_id, seen = None, 0
    async with asyncio.timeout(120):
        while line := await proc.stdout.readline():
            event = json.loads(line)
            run_id = run_id or event.get("run_id")
            if event["event"] == "remote_started":
                seen += 1
                if seen == nth:
                    return proc, run_id, int(event["pgid"]), True
    await proc.wait()
    return proc, run_id, None, False


async def kill_mid_step(device: Any, tmp_path: Path, watchdog: bool
                        ) -> tuple[str, int, dict[str, str], Path]:
    path = write_procedure(tmp_path, PROCEDURE.replace("ROOT", str(device.root)))
    env = cli_env(device.data_dir, tmp_path)
    proc, run_id, pgid, running = await run_until_started(
        ["run", str(path), "-i", str(inventory(device, watchdog)), "-p", f"dev={device.name}"],
        env)
    assert running and run_id and pgid
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    return run_id, pgid, env, device.root / "counter"


async def test_rerun_is_refused_while_the_command_runs_and_wait_gives_one_effect(
        sshd, tmp_path) -> None:
    run_id, pgid, env, counter = await kill_mid_step(sshd, tmp_path, watchdog=False)

    code, out, err = await cli(["resume", run_id, "--in-doubt", "rerun"], env)
    assert code == 4, out + err
    assert f"still running on {sshd.name}, pid group {pgid}, for" in out + err
    assert "--in-doubt wait" in out + err and "Traceback" not in out + err
    assert not counter.exists()

    (sshd.root / "release").touch()
    code, out, err = await cli(["resume", run_id, "--in-doubt", "wait"], env)
    assert code == 0, out + err
    assert counter.read_text() == "effect\n"  # exactly one effect: no second copy ever ran
    assert (sshd.root / "after").read_text() == "after\n"
    assert not group_alive(pgid)


async def test_kill_stops_the_command_before_its_effect(sshd, tmp_path) -> None:
    run_id, pgid, env, counter = await kill_mid_step(sshd, tmp_path, watchdog=False)

    code, out, err = await cli(["resume", run_id, "--in-doubt", "kill"], env)
    assert code == 4, out + err  # killed; what next is the operator's call
    assert "stopped on the device (TERM, then KILL)" in out + err
    assert not group_alive(pgid)
    (sshd.root / "release").touch()
    assert not counter.exists()  # no effect, and none can come any more

    code, out, err = await cli(["resume", run_id, "--in-doubt", "rerun"], env)
    assert code == 0, out + err
    assert counter.read_text() == "effect\n"


async def test_the_watchdog_stops_the_command_when_its_client_dies(sshd, tmp_path) -> None:
    run_id, pgid, env, counter = await kill_mid_step(sshd, tmp_path, watchdog=True)

    code, out, err = await cli(["resume", run_id, "--in-doubt", "wait"], env)

    assert not group_alive(pgid)
    assert not counter.exists()  # the watchdog stopped it before its effect
    assert code == 4, out + err  # it ended without effect: verify fails, the operator decides
    assert "verify command did not succeed" in out + err


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    await proc.stdout.read()
    await proc.wait()


CAMPAIGN = """
id: test.campaign
title: Long steps killed at random
vendor: test
source: {document: tests}
risk: low
params: {dev: {type: target}}
steps:
  - id: one
    title: One
    kind: run
    target: dev
    modifies: [ROOT/one.conf]
    command: "sleep 1; echo changed-one >> ROOT/one.conf"
    verify: "grep -q changed-one ROOT/one.conf"
  - id: two
    title: Two
    kind: run
    target: dev
    modifies: [ROOT/two.conf]
    command: "sleep 1; printf 'replaced\\n' > ROOT/two.conf.new; mv ROOT/two.conf.new ROOT/two.conf"
    verify: "grep -q replaced ROOT/two.conf"
  - id: three
    title: Three
    kind: run
    target: dev
    modifies: [ROOT/three.conf]
    command: "sleep 1; rm -f ROOT/three.conf"
"""
CHOICES = ["wait", "kill", "rerun", "verify", "skip", "done"]


async def test_random_kill_campaign_ends_with_byte_identical_rollbacks(sshd, tmp_path) -> None:
    """Seeded: each round starts or resumes the run with a random in-doubt choice and is
    SIGKILLed after a random started command. Every run, once finished, is rolled back, and
    every file must be byte-identical to what it was. RUNBOOK_KILL_CAMPAIGN sets the number
    of kills (default 6 in the test suite; 30 for the full campaign)."""
    kills_wanted = int(os.environ.get("RUNBOOK_KILL_CAMPAIGN", "6"))
    rng = random.Random(20261201)
    path = write_procedure(tmp_path, CAMPAIGN.replace("ROOT", str(sshd.root)))
    env = cli_env(sshd.data_dir, tmp_path)
    inv = inventory(sshd, watchdog=rng.random() < 0.5)
    originals = {"one.conf": b"one\x00\xff original\n", "two.conf": b"two\r\n",
                 "three.conf": b"three \xe2\x9c\x93\n"}
    kills = runs = 0
    while kills < kills_wanted:
        for name, data in originals.items():
            (sshd.root / name).write_bytes(data)
        runs += 1
        args = ["run", str(path), "-i", str(inv), "-p", f"dev={sshd.name}"]
        run_id = None
        for _round in range(60):
            proc, rid, _pgid, running = await run_until_started(args, env, rng.randint(1, 3))
            run_id = run_id or rid
            killed = running and kills < kills_wanted
            if killed:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            if running:
                await _drain(proc)
            if proc.returncode == 0 and not killed:
                break
            args = ["resume", str(run_id), "--in-doubt", rng.choice(CHOICES)]
        else:
            pytest.fail(f"run {run_id} did not finish in 60 rounds")
        code, out, err = await cli(["rollback", str(run_id)], env)
        assert code == 0, out + err
        for name, data in originals.items():
            assert (sshd.root / name).read_bytes() == data, f"{name} after run {run_id}"
    assert kills == kills_wanted and runs >= 1


def test_ps_output_is_read_by_group_and_age_without_zombies() -> None:
    from runbook.orphans import etime_seconds, unwrap, wrap

    assert [etime_seconds(t) for t in ("00:07", "03:02", "01:00:00", "2-00:00:01")] == \
        [7, 182, 3600, 172801]
    ps = (" 4711  4711    03:02 S\n 4711  4712    03:01 S\n 4711  4713    00:01 Z\n"
          "    1     1 9-00:00:00 S\n")
    assert parse_ps(ps, 4711) == [(4711, 182), (4712, 181)]
    assert parse_ps(ps, 999) == []
    for watchdog in (True, False):
        assert unwrap(wrap("echo 'a b'; x=$(id)", watchdog)) == "echo 'a b'; x=$(id)"


async def test_rerun_is_refused_when_the_device_cannot_be_checked(ssh_device, tmp_path) -> None:
    """The device is down on resume: whether the command still runs is unknown, so no rerun;
    the other choices stay open."""
    from .test_kill_resume import start_and_kill

    run_id, env = await start_and_kill(ssh_device, tmp_path)
    await ssh_device.server.stop()

    code, out, err = await cli(["resume", run_id, "--in-doubt", "rerun"], env)

    assert code == 4, out + err
    assert "could not check whether it still runs on the device" in out + err
    assert "(rerun is refused until it can); resume with --in-doubt skip|done|verify" in out + err
