"""Host-key trust: known_hosts, runbook's own trust file, and keys pinned by the inventory."""

from __future__ import annotations

from pathlib import Path

import asyncssh

from .inventory import Target
from .paths import private_file


def fingerprint(key: asyncssh.SSHKey) -> str:
    """OpenSSH-style SHA256 fingerprint."""
    return key.get_fingerprint("sha256")


def host_pattern(host: str, port: int) -> str:
    """The known_hosts name of a host and port."""
    return host if port == 22 else f"[{host}]:{port}"


class HostKeyStore:
    """Which host keys are trusted for a device, and where newly accepted ones are recorded.

    A key is trusted when it is in the user's `~/.ssh/known_hosts`, in runbook's trust file
    (`<data>/known_hosts`, 0600) or in the device's pinned `runbook_known_hosts` file. Only an
    operator's explicit acceptance of an *unknown* key adds one; a changed key is never added.
    """

    def __init__(self, data_dir: Path, user_known_hosts: Path | None = None) -> None:
        self.trust_file = data_dir / "known_hosts"
        self.user_file = user_known_hosts or Path("~/.ssh/known_hosts").expanduser()

    def files(self, target: Target) -> list[Path]:
        """The known_hosts files that apply to `target` and exist."""
        paths = [self.user_file, self.trust_file]
        if target.known_hosts:
            paths.append(Path(target.known_hosts))
        return [p for p in paths if p.is_file()]

    def known_hosts(self, target: Target) -> asyncssh.SSHKnownHosts:
        """All trusted entries, as one asyncssh known_hosts object."""
        text = "".join(p.read_text(errors="replace") + "\n" for p in self.files(target))
        return asyncssh.import_known_hosts(text)

    def known_keys(self, target: Target) -> list[asyncssh.SSHKey]:
        """The keys already trusted for `target`'s host and port."""
        result = self.known_hosts(target).match(target.host, target.host, target.port)
        return list(result[0])

    def trust(self, target: Target, key: asyncssh.SSHKey) -> None:
        """Record an accepted unknown key; raises ValueError if another key is trusted."""
        if self.known_keys(target):
            raise ValueError(f"{target.name}: a different key is already trusted; a changed "
                             "key is never accepted")
        private_file(self.trust_file)
        line = key.export_public_key("openssh").decode().strip()
        with open(self.trust_file, "a") as fh:
            fh.write(f"{host_pattern(target.host, target.port)} {line}\n")
