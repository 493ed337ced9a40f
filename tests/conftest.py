"""Fixtures: real SSH devices for the tests.

- `ssh_device`: an in-process asyncssh server (runbook.lab) running commands with the real
  /bin/sh in its own directory, recording every command it receives (`.server.commands`).
- `sshd`: a real OpenSSH sshd on a free loopback port with its own config and host key.
  Skipped when sshd is not installed, except in CI (CI=true), where that is a failure.

Both yield a `Device`: `.name` (inventory name), `.inventory_path` (with the pinned host key),
`.root` (the device's files), `.remote_dir` (how to name `.root` on the device), `.data_dir`
(a private runbook data directory) and `.server` (the LabServer, or None for sshd).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from runbook.lab.server import LabServer, generate_key
from runbook.lab.shell import ShellDevice


@pytest.fixture(autouse=True)
def private_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own platform config dir (where backup key files go without an OS
    keyring), so that no test writes to the real one."""
    config = tmp_path / "xdg-config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    return config


@dataclass
class Device:
    name: str
    inventory_path: Path
    root: Path
    remote_dir: str
    data_dir: Path
    server: LabServer | None


def write_inventory(tmp: Path, name: str, port: int, known_hosts: str, user: str,
                    key_path: Path) -> Path:
    (tmp / "known_hosts").write_text(known_hosts)
    inv = tmp / "inventory.yaml"
    inv.write_text(yaml.safe_dump({"all": {
        "vars": {"ansible_user": user, "ansible_ssh_private_key_file": str(key_path),
                 "runbook_known_hosts": str(tmp / "known_hosts")},
        "hosts": {name: {"ansible_host": "127.0.0.1", "ansible_port": port,
                         "runbook_role": "test"}}}}))
    return inv


def client_key(tmp: Path) -> tuple[Path, str]:
    key = generate_key()
    path = tmp / "client_key"
    path.write_bytes(key.export_private_key())
    path.chmod(0o600)
    return path, key.export_public_key().decode()


@pytest.fixture
async def ssh_device(tmp_path: Path) -> AsyncIterator[Device]:
    root = tmp_path / "device"
    root.mkdir()
    key_path, public = client_key(tmp_path)
    server = await LabServer("dev1", ShellDevice(root), public, sftp_root=root).start()
    inv = write_inventory(tmp_path, "dev1", server.port, server.known_hosts_line(), "admin",
                          key_path)
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    try:
        yield Device("dev1", inv, root, ".", data, server)
    finally:
        await server.stop()


def sshd_binary() -> str | None:
    return shutil.which("sshd") or next(
        (p for p in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if os.access(p, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Sshd:
    """A running OpenSSH sshd: `.port`, `.known_hosts_line`, `.log` (its log file)."""

    name: str
    port: int
    host_key: Any
    log: Path
    proc: subprocess.Popen[bytes]

    @property
    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_key.export_public_key().decode().strip()}\n"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def require_sshd() -> str:
    binary = sshd_binary()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("OpenSSH sshd is required in CI (apt-get install openssh-server)")
        pytest.skip("OpenSSH sshd is not installed (apt-get install openssh-server)")
    return binary


async def start_sshd(etc: Path, public_key: str, log_level: str = "ERROR") -> Sshd:
    """Start a real sshd on a free loopback port with its own host key, config under `etc`,
    accepting `public_key`; returns once it listens."""
    binary = require_sshd()
    etc.mkdir(parents=True)
    host_key = generate_key()
    (etc / "host_key").write_bytes(host_key.export_private_key())
    (etc / "host_key").chmod(0o600)
    (etc / "authorized_keys").write_text(public_key + "\n")
    port = free_port()
    (etc / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {etc / 'host_key'}\n"
        f"PidFile {etc / 'sshd.pid'}\nAuthorizedKeysFile {etc / 'authorized_keys'}\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nPermitRootLogin yes\nSubsystem sftp internal-sftp\n"
        f"AllowTcpForwarding yes\nLogLevel {log_level}\nMaxStartups 100\nMaxSessions 100\n")
    Path("/run/sshd").mkdir(exist_ok=True)
    proc = subprocess.Popen([binary, "-D", "-e", "-f", str(etc / "sshd_config")],
                            stdout=subprocess.DEVNULL, stderr=open(etc / "log", "wb"))
    server = Sshd(etc.name, port, host_key, etc / "log", proc)
    try:
        async with asyncio.timeout(20):
            while True:
                assert proc.poll() is None, (etc / "log").read_text()
                try:
                    _, w = await asyncio.open_connection("127.0.0.1", port)
                    w.close()
                    break
                except OSError:
                    await asyncio.sleep(0.05)  # waiting for sshd to listen
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture
async def sshd(tmp_path: Path) -> AsyncIterator[Device]:
    require_sshd()
    root = tmp_path / "device"
    root.mkdir()
    key_path, public = client_key(tmp_path)
    server = await start_sshd(tmp_path / "sshd", public)
    try:
        import getpass
        inv = write_inventory(tmp_path, "sshd1", server.port, server.known_hosts_line,
                              getpass.getuser(), key_path)
        data = tmp_path / "data"
        data.mkdir(mode=0o700)
        yield Device("sshd1", inv, root, str(root), data, None)
    finally:
        server.stop()


@pytest.fixture
async def sshd_factory(tmp_path: Path) -> AsyncIterator[Any]:
    """Start several real sshds accepting one client key (`tmp_path/client_key`):
    `await sshd_factory("bastion", log_level="DEBUG1")`; all stopped after the test."""
    require_sshd()
    key_path = tmp_path / "client_key"
    if not key_path.exists():
        client_key(tmp_path)
    from asyncssh import read_private_key
    public = read_private_key(str(key_path)).export_public_key().decode()
    servers: list[Sshd] = []

    async def start(name: str, log_level: str = "ERROR") -> Sshd:
        server = await start_sshd(tmp_path / f"sshd-{name}", public, log_level)
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
async def lab_factory(tmp_path: Path) -> AsyncIterator[Any]:
    """Start the lab for a scenario (`await lab_factory("healthy")`); stopped after the test."""
    from runbook.lab.lab import Lab

    labs: list[Lab] = []

    async def start(scenario: str = "healthy", faults: dict[str, Any] | None = None) -> Lab:
        lab = await Lab.start(tmp_path / f"lab-{len(labs)}", scenario, faults)
        labs.append(lab)
        return lab

    try:
        yield start
    finally:
        for lab in labs:
            await lab.stop()
