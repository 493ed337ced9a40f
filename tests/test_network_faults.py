"""Network faults: each gives one clear message naming the device and step, and a resumable run."""

from __future__ import annotations

import asyncio
import socket

import asyncssh

from runbook.headless import FlagDecider
from runbook.inventory import Inventory
from runbook.lab.server import generate_key, unwrap
from runbook.loader import load_procedure

from .helpers import engine_for, write_procedure

PROC = """
id: test.faults
title: Faults
vendor: test
source: {document: tests}
risk: low
params: {dev: {type: target}}
steps:
  - {id: first, title: First, kind: run, target: dev, command: "echo first"}
  - {id: second, title: Second, kind: run, target: dev, command: "COMMAND", timeout: TIMEOUT}
"""


async def run_with(device, tmp_path, command: str, inventory=None, timeout: int = 3):
    path = write_procedure(tmp_path, PROC.replace("COMMAND", command)
                           .replace("TIMEOUT", str(timeout)))
    engine, journal, rec = engine_for(device.data_dir, FlagDecider())
    inv = Inventory.load(inventory or device.inventory_path)
    run_id = engine.create(load_procedure(path), path.read_text(), str(path),
                           {"dev": device.name}, {}, inv)
    state = await engine.execute(run_id, {})
    return state, journal.get_run(run_id), journal, engine, run_id


async def test_command_that_never_ends_is_stopped_at_its_timeout(ssh_device, tmp_path) -> None:
    state, run, journal, _, run_id = await run_with(
        ssh_device, tmp_path, "echo started; echo $$ > pid; exec sleep 600")
    assert state == "failed"
    assert run.reason == ("step second on dev1 failed: timed out after 3 s on dev1; the command "
                          "was stopped on the device; last output: started")
    pid = int((ssh_device.root / "pid").read_text())
    async with asyncio.timeout(10):  # the device kills the process group when the channel goes
        while True:
            try:
                import os
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            await asyncio.sleep(0.05)


async def test_connection_dropped_mid_command_leaves_the_step_in_doubt(ssh_device,
                                                                      tmp_path) -> None:
    original = ssh_device.server.handler

    async def dropping(process: asyncssh.SSHServerProcess) -> None:
        if unwrap(process.command) == "echo first":
            await original(process)
            return
        process.stdout.write(b"working\n")
        await process.stdout.drain()
        process.channel.get_connection().abort()

    ssh_device.server.handler = dropping
    state, run, journal, engine, run_id = await run_with(ssh_device, tmp_path, "change it")
    assert state == "in_doubt", run.reason
    assert run.reason == ("step second on dev1 is in doubt: dev1: the connection dropped while "
                          "`change it` was running; it may or may not have taken effect")
    assert journal.latest_attempts(run_id)[("second", "dev1")].status == "in_doubt"
    ssh_device.server.handler = original
    engine2, _, _ = engine_for(ssh_device.data_dir, FlagDecider(in_doubt="rerun"))
    state = await engine2.execute(run_id, {})
    assert state == "failed"  # `change it` is not a command on this device: exit 127
    assert ssh_device.server.commands.count("echo first") == 1


async def test_host_that_does_not_answer_times_out_clearly(ssh_device, tmp_path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the TCP connection, never says a word
    port = silent.getsockname()[1]
    inv = tmp_path / "silent.yaml"
    inv.write_text(ssh_device.inventory_path.read_text().replace(
        str(ssh_device.server.port), f"{port}\n      runbook_connect_timeout: 1"))
    try:
        state, run, *_ = await run_with(ssh_device, tmp_path, "true", inv)
    finally:
        silent.close()
    assert state == "failed"
    assert run.reason == (f"step first on dev1 failed: dev1 (127.0.0.1:{port}): no answer "
                          "within 1 s (connect timeout)")


async def test_refused_connection_names_the_address(ssh_device, tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inv = tmp_path / "closed.yaml"
    inv.write_text(ssh_device.inventory_path.read_text().replace(
        str(ssh_device.server.port), str(port)))
    state, run, *_ = await run_with(ssh_device, tmp_path, "true", inv)
    assert state == "failed"
    assert run.reason.startswith(f"step first on dev1 failed: dev1 (127.0.0.1:{port}): cannot "
                                 "connect")


async def test_authentication_failure_is_one_clear_line(ssh_device, tmp_path) -> None:
    other = tmp_path / "other_key"
    other.write_bytes(generate_key().export_private_key())
    other.chmod(0o600)
    inv = tmp_path / "wrong-key.yaml"
    inv.write_text(ssh_device.inventory_path.read_text().replace(
        str(tmp_path / "client_key"), str(other)))
    state, run, *_ = await run_with(ssh_device, tmp_path, "true", inv)
    assert state == "failed"
    assert run.reason == (f"step first on dev1 failed: dev1 (127.0.0.1:{ssh_device.server.port})"
                          ": authentication failed for user admin")
    assert ssh_device.server.commands == []


async def test_sshd_stopped_mid_run_leaves_a_resumable_run(sshd, tmp_path) -> None:
    # The step's timeout is far above the time the drop takes: on a loaded machine a 3 s
    # timeout could fire before the session is even killed, ending the run 'failed'. If the
    # kill did not drop the connection, `sleep 5` ends and the run succeeds: still a failure.
    state, run, journal, _, run_id = await run_with(
        sshd, tmp_path, "echo ready; kill -TERM $PPID; sleep 5", timeout=60)
    assert state == "in_doubt", run.reason
    assert run.reason.startswith("step second on sshd1 is in doubt: sshd1: the connection "
                                 "dropped while")
    assert journal.latest_attempts(run_id)[("first", "sshd1")].status == "succeeded"


async def test_timeout_kills_the_command_on_real_sshd(sshd, tmp_path) -> None:
    """OpenSSH ignores SSH signals for root sessions; the process group is killed anyway."""
    import os

    state, run, *_ = await run_with(
        sshd, tmp_path, f"echo started; echo $$ > {sshd.root}/pid; exec sleep 600")
    assert state == "failed" and "timed out after 3 s on sshd1" in run.reason
    pid = int((sshd.root / "pid").read_text())
    async with asyncio.timeout(15):
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            await asyncio.sleep(0.05)  # waiting for the remote kill to land
