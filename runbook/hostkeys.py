"""Host-key trust: known_hosts, runbook's own trust file, and keys pinned by the inventory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncssh

from .errors import HostKeyError
from .paths import private_file

GLOBAL_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")


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
        self._parsed: dict[tuple[tuple[str, int, int], ...], asyncssh.SSHKnownHosts] = {}

    def files(self, target: Any) -> list[Path]:
        """The known_hosts files that apply to `target` and exist.

        A host whose ssh config names `UserKnownHostsFile` / `GlobalKnownHostsFile` uses those
        instead of `~/.ssh/known_hosts` / `/etc/ssh/ssh_known_hosts`, as OpenSSH does; runbook's
        trust file and pinned keys always apply.
        """
        user = getattr(target, "user_known_hosts", None)
        glob = getattr(target, "global_known_hosts", None)
        paths = [Path(p) for p in user] if user is not None else [self.user_file]
        paths += [Path(p) for p in glob] if glob is not None else [GLOBAL_KNOWN_HOSTS]
        paths.append(self.trust_file)
        if getattr(target, "known_hosts", None):
            paths.append(Path(target.known_hosts))
        return [p for p in paths if p.name.lower() != "none" and p.is_file()]

    def known_hosts(self, target: Any) -> asyncssh.SSHKnownHosts:
        """All trusted entries, as one asyncssh known_hosts object.

        Parsed once per set of files as they are now (path, size, modification time): a
        fan-out over a thousand devices whose keys are all in `~/.ssh/known_hosts` parsed
        that whole file once per device. Accepting a key changes the trust file, so the
        next connection reads it again."""
        files = self.files(target)
        try:
            key = tuple((str(p), st.st_size, st.st_mtime_ns) for p in files
                        for st in (p.stat(),))
        except OSError:
            key = None
        known = self._parsed.get(key) if key is not None else None
        if known is None:
            text = "".join(p.read_text(errors="replace") + "\n" for p in files)
            known = asyncssh.import_known_hosts(text)
            if key is not None:
                self._parsed = {key: known}  # the latest only: files change, sets differ
        return known

    def known_keys(self, target: Any) -> list[asyncssh.SSHKey]:
        """The keys already trusted for `target`'s host and port."""
        result = self.known_hosts(target).match(target.host, target.host, target.port)
        return list(result[0])

    def trust(self, target: Any, key: asyncssh.SSHKey) -> None:
        """Record an accepted unknown key; raises ValueError if another key is trusted."""
        if self.known_keys(target):
            raise ValueError(f"{target.name}: a different key is already trusted; a changed "
                             "key is never accepted")
        private_file(self.trust_file)
        line = key.export_public_key("openssh").decode().strip()
        with open(self.trust_file, "a") as fh:
            fh.write(f"{host_pattern(target.host, target.port)} {line}\n")


def host_key_error(hop: Any, key: asyncssh.SSHKey, trusted: list[asyncssh.SSHKey]
                   ) -> HostKeyError:
    """The error for a key `hop` (a device or a jump host) offered that is not trusted."""
    where, fp = hop.where(), fingerprint(key)
    known = [fingerprint(k) for k in trusted]
    common = {"target": hop.name, "fingerprint": fp, "where": where, "host": hop.host,
              "port": hop.port}
    if known:
        return HostKeyError(
            f"{where}: HOST KEY CHANGED: it now offers {fp} but {', '.join(known)} is "
            "trusted. This could be an attack (someone in the middle) or a rebuilt "
            "device; nothing was sent. Verify the new key out of band before removing "
            "the old one.", known=known, **common)
    if hop.strict:
        return HostKeyError(
            f"{where}: unknown host key {fp}, and the ssh config says "
            "StrictHostKeyChecking yes for it: add the key to a known_hosts file after "
            "checking its fingerprint on the host", strict=True, **common)
    return HostKeyError(f"{where}: unknown host key {fp}; not trusted yet (accept it "
                        "only after checking the fingerprint on the host)", **common)
