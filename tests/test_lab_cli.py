"""`runbook lab`: starts every device, writes an inventory, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys

import yaml

from .helpers import cli_env


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def test_lab_starts_and_ctrl_c_stops_everything(tmp_path) -> None:
    lab_dir = tmp_path / "lab"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runbook", "lab", "--dir", str(lab_dir), "--scenario",
        "ftd-tunnel-down", env=cli_env(tmp_path / "data", tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(60):
        while b"press Ctrl-C" not in (line := await proc.stdout.readline()):
            assert line, "runbook lab ended early"
    inventory = yaml.safe_load((lab_dir / "inventory.yaml").read_text())
    ports = [h["ansible_port"] for g in inventory["all"]["children"].values()
             for h in g["hosts"].values()]
    cmp_port = inventory["all"]["children"]["clavister"]["hosts"]["cos1"]["cmp_port"]
    assert len(ports) >= 10 and all(listening(p) for p in ports)
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
    assert children.stdout.strip()  # the mock CMP server runs as the lab's child

    proc.send_signal(signal.SIGINT)
    _, err = await proc.communicate()

    assert proc.returncode == 0, err
    assert b"lab stopped" in err and b"Traceback" not in err
    assert not any(listening(p) for p in ports + ([cmp_port] if cmp_port else []))
    leftover = subprocess.run(["pgrep", "-f", str(lab_dir)], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""
