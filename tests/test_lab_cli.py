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
    printed = b""
    async with asyncio.timeout(60):
        while b"press Ctrl-C" not in (line := await proc.stdout.readline()):
            assert line, "runbook lab ended early"
            printed += line
    inventory = yaml.safe_load((lab_dir / "inventory.yaml").read_text())
    ports = [h["ansible_port"] for g in inventory["all"]["children"].values()
             for h in g["hosts"].values()]
    cmp_port = inventory["all"]["children"]["clavister"]["hosts"]["cos1"]["cmp_port"]
    assert len(ports) >= 10 and all(listening(p) for p in ports)
    cos1 = inventory["all"]["children"]["clavister"]["hosts"]["cos1"]
    mds1 = inventory["all"]["children"]["checkpoint"]["hosts"]["mds1"]
    # the values procedures ask for: in the inventory (named like the parameters) and printed
    assert (mds1["domain"], mds1["domain_ip"]) == ("Domain1", "192.0.2.10")
    assert (cos1["reference"], cos1["subject_cn"]) == ("lab-ref-4711", "cos1.lab.example")
    assert "psk" not in cos1  # secrets are never inventory parameter variables
    for shown in (b"domain=Domain1", b"192.0.2.10", b"reference=lab-ref-4711",
                  f"cmp_port={cmp_port or '-'}".encode(), b"subject_cn=cos1.lab.example",
                  b"lab-psk-0815", b"lab-expert-pw"):
        assert shown in printed, printed.decode()
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
    assert children.stdout.strip()  # the mock CMP server runs as the lab's child

    proc.send_signal(signal.SIGINT)
    _, err = await proc.communicate()

    assert proc.returncode == 0, err
    assert b"lab stopped; its devices are gone" in err and b"Traceback" not in err
    assert b"resume" not in err  # the lab runs no run: nothing to resume
    assert not any(listening(p) for p in ports + ([cmp_port] if cmp_port else []))
    leftover = subprocess.run(["pgrep", "-f", str(lab_dir)], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


def test_lab_help_lists_every_scenario_with_its_description(tmp_path) -> None:
    from runbook.lab.scenarios import SCENARIOS

    out = subprocess.run([sys.executable, "-m", "runbook", "lab", "--help"], check=True,
                         capture_output=True, text=True, env=cli_env(tmp_path, tmp_path)).stdout
    lines = [" ".join(line.split()) for line in out.splitlines()]
    for name, description in SCENARIOS.items():
        assert f"{name} {description}" in lines, out
