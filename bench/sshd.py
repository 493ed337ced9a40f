"""An OpenSSH sshd on loopback for the benchmarks (its own config, host key and client key)."""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncssh
import yaml

USER = "runbook-bench"


def bench_user() -> str:
    """A user whose login shell is /bin/sh with no rc files (created when running as root), so
    that no heavy login shell hides what is measured; else the current user."""
    if os.geteuid() != 0:
        print(f"bench: not root, so logging in as {getpass.getuser()} with their own shell",
              file=sys.stderr)
        return getpass.getuser()
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", USER], check=True)
        subprocess.run(["usermod", "-p", "*", USER], check=True)  # key login only, not locked
    home = Path(pwd.getpwnam(USER).pw_dir)
    for rc in (".profile", ".bashrc", ".bash_logout", ".shrc"):
        (home / rc).unlink(missing_ok=True)
    return USER


class Sshd:
    """Start with `Sshd(dir).start()`; `.inventory(n)` names the same server n times."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.user = getpass.getuser()

    def start(self) -> Sshd:
        binary = shutil.which("sshd") or "/usr/sbin/sshd"
        self.root.mkdir(parents=True, exist_ok=True)
        self.user = bench_user()
        for d in (self.root, *self.root.parents):  # the bench user reads its keys and files
            if str(d).startswith(tempfile.gettempdir() + "/"):
                d.chmod(0o755)
        host = asyncssh.generate_private_key("ssh-ed25519")
        client = asyncssh.generate_private_key("ssh-ed25519")
        (self.root / "host_key").write_bytes(host.export_private_key())
        (self.root / "host_key").chmod(0o600)
        (self.root / "client_key").write_bytes(client.export_private_key())
        (self.root / "client_key").chmod(0o600)
        (self.root / "authorized_keys").write_bytes(client.export_public_key())
        (self.root / "authorized_keys").chmod(0o644)
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

    def connect_args(self) -> dict[str, Any]:
        """asyncssh.connect arguments for this server (pinned host key, the bench user)."""
        return {"host": "127.0.0.1", "port": self.port, "username": self.user,
                "known_hosts": str(self.root / "known_hosts"),
                "client_keys": [str(self.root / "client_key")]}

    def ssh_argv(self) -> list[str]:
        """OpenSSH client arguments for this server, host key pinned."""
        return ["ssh", "-p", str(self.port), "-l", self.user, "-i", str(self.root / "client_key"),
                "-o", f"UserKnownHostsFile={self.root / 'known_hosts'}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "127.0.0.1"]

    def inventory(self, n: int) -> Path:
        path = self.root / f"inventory-{n}.yaml"
        path.write_text(yaml.safe_dump({"all": {"vars": {
            "ansible_user": self.user,
            "ansible_ssh_private_key_file": str(self.root / "client_key"),
            "runbook_known_hosts": str(self.root / "known_hosts")},
            "hosts": {f"dev{i:03d}": {"ansible_host": "127.0.0.1", "ansible_port": self.port,
                                       "runbook_role": "bench"} for i in range(n)}}}))
        return path

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
