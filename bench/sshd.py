"""An OpenSSH sshd on loopback for the benchmarks (its own config, host key and client key)."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path

import asyncssh
import yaml


class Sshd:
    """Start with `Sshd(dir).start()`; `.inventory(n)` names the same server n times."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> Sshd:
        binary = shutil.which("sshd") or "/usr/sbin/sshd"
        self.root.mkdir(parents=True, exist_ok=True)
        host = asyncssh.generate_private_key("ssh-ed25519")
        client = asyncssh.generate_private_key("ssh-ed25519")
        (self.root / "host_key").write_bytes(host.export_private_key())
        (self.root / "host_key").chmod(0o600)
        (self.root / "client_key").write_bytes(client.export_private_key())
        (self.root / "client_key").chmod(0o600)
        (self.root / "authorized_keys").write_bytes(client.export_public_key())
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        (self.root / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.root / 'host_key'}\n"
            f"PidFile {self.root / 'pid'}\nAuthorizedKeysFile {self.root / 'authorized_keys'}\n"
            "StrictModes no\nUsePAM no\nPasswordAuthentication no\nPermitRootLogin yes\n"
            "MaxStartups 1000\nMaxSessions 1000\nLogLevel ERROR\n"
            "Subsystem sftp internal-sftp\n")
        Path("/run/sshd").mkdir(exist_ok=True)
        self.proc = subprocess.Popen([binary, "-D", "-e", "-f", str(self.root / "sshd_config")],
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            time.sleep(0.02)
        key = host.export_public_key().decode().strip()
        (self.root / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {key}\n")
        return self

    def inventory(self, n: int) -> Path:
        path = self.root / f"inventory-{n}.yaml"
        path.write_text(yaml.safe_dump({"all": {"vars": {
            "ansible_user": getpass.getuser(),
            "ansible_ssh_private_key_file": str(self.root / "client_key"),
            "runbook_known_hosts": str(self.root / "known_hosts")},
            "hosts": {f"dev{i:03d}": {"ansible_host": "127.0.0.1", "ansible_port": self.port,
                                       "runbook_role": "bench"} for i in range(n)}}}))
        return path

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
