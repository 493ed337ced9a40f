"""Files on a device: stat, read, write (atomically) and remove, over SFTP or over exec.

SFTP is used where the device offers it; otherwise (or with the inventory variable
`runbook_file_transfer: exec`, or an access profile that climbs to root) the same operations
run as POSIX shell commands (`stat -c`, `base64`, `cat`, `mv`), for devices that have a shell
but no SFTP subsystem, or where only the escalated shell may write.
"""

from __future__ import annotations

import base64
import shlex
import stat as st
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from . import access
from .errors import RemoteFileError, TransportError
from .inventory import Target

if TYPE_CHECKING:  # asyncssh is loaded with the transport, on the first connection
    import asyncssh

    from .transport import Transport

EXEC_TIMEOUT = 120.0


@dataclass(frozen=True)
class RemoteStat:
    """What we record about a remote path."""

    kind: str  # file | dir | absent
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    size: int | None = None
    mtime: int | None = None


class RemoteFiles:
    """File operations on one device through a runbook Transport."""

    def __init__(self, transport: Transport, target: Target) -> None:
        self.transport = transport
        self.target = target
        self.name = target.name
        want = str(target.vars.get("runbook_file_transfer", "auto"))
        # Where the access profile climbs (SFTP would land unprivileged), files travel through
        # the escalated shell, as base64 in here-documents.
        if access.for_target(target).session == "pty":
            want = "exec"
        self._sftp: asyncssh.SFTPClient | None = None
        self._use_sftp: bool | None = False if want == "exec" else None

    @property
    def method(self) -> str:
        """`sftp` or `exec`, once known."""
        return "sftp" if self._use_sftp else "exec"

    async def _client(self) -> asyncssh.SFTPClient | None:
        import asyncssh  # here and below: loaded by the transport already

        if self._use_sftp is False:
            return None
        if self._sftp is None:
            try:
                self._sftp = await self.transport.sftp(self.name)
                self._use_sftp = True
            except (asyncssh.Error, OSError, TransportError):
                self._use_sftp = False
                return None
        return self._sftp

    async def _sh(self, command: str, stdin: bytes | None = None) -> tuple[int | None, str, str]:
        out: list[str] = []
        err: list[str] = []

        def on_line(stream: str, line: str) -> None:
            (err if stream == "stderr" else out).append(line)

        result = await self.transport.exec(self.name, command, timeout=EXEC_TIMEOUT,
                                           on_line=on_line, stdin=stdin)
        if result.timed_out:
            raise RemoteFileError(f"{self.name}: `{command}` timed out")
        return result.exit_status, "\n".join(out), "\n".join(err)

    async def stat(self, path: str) -> RemoteStat:
        """Stat `path` (following links); kind `absent` when it does not exist."""
        import asyncssh

        sftp = await self._client()
        if sftp is not None:
            try:
                a = await sftp.stat(path)
            except asyncssh.SFTPNoSuchFile:
                return RemoteStat("absent")
            except asyncssh.SFTPError as exc:
                raise RemoteFileError(f"{self.name}: cannot stat {path}: {exc.reason}") from None
            kind = "dir" if st.S_ISDIR(a.permissions or 0) else "file"
            return RemoteStat(kind, st.S_IMODE(a.permissions or 0), a.uid, a.gid, a.size,
                              int(a.mtime or 0))
        q = shlex.quote(path)
        code, out, err = await self._sh(
            f"if [ -d {q} ]; then echo dir; elif [ -e {q} ]; then stat -L -c 'file %a %u %g %s"
            f" %Y' {q}; else echo absent; fi")
        parts = out.split()
        if code != 0 or not parts:
            raise RemoteFileError(f"{self.name}: cannot stat {path}: {err or out}")
        if parts[0] != "file":
            return RemoteStat(parts[0])
        mode, uid, gid, size, mtime = parts[1:6]
        return RemoteStat("file", int(mode, 8), int(uid), int(gid), int(size), int(mtime))

    async def read(self, path: str) -> bytes:
        """The file's bytes."""
        import asyncssh

        sftp = await self._client()
        if sftp is not None:
            try:
                async with sftp.open(path, "rb") as fh:
                    # opened in binary mode; asyncssh types read() as str | bytes
                    return cast(bytes, await fh.read())
            except asyncssh.SFTPError as exc:
                raise RemoteFileError(f"{self.name}: cannot read {path}: {exc.reason}") from None
        code, out, err = await self._sh(f"base64 < {shlex.quote(path)}")
        if code != 0:
            raise RemoteFileError(f"{self.name}: cannot read {path}: {err}")
        return base64.b64decode(out)

    async def write(self, path: str, data: bytes, mode: int) -> None:
        """Replace `path` atomically (temp file + rename) with `data` and `mode`."""
        import asyncssh

        tmp = f"{path}.runbook-tmp"
        sftp = await self._client()
        if sftp is not None:
            try:
                async with sftp.open(tmp, "wb", asyncssh.SFTPAttrs(permissions=0o600)) as fh:
                    await fh.write(data)
                await sftp.chmod(tmp, mode)
                try:
                    await sftp.posix_rename(tmp, path)
                except asyncssh.SFTPOpUnsupported:
                    await sftp.rename(tmp, path, flags=asyncssh.FXR_OVERWRITE)
                return
            except asyncssh.SFTPError as exc:
                raise RemoteFileError(f"{self.name}: cannot write {path}: {exc.reason}") from None
        q, t = shlex.quote(path), shlex.quote(tmp)
        code, _, err = await self._sh(
            f"umask 077; base64 -d > {t} && chmod {mode:o} {t} && mv -f {t} {q}",
            stdin=base64.b64encode(data) + b"\n")
        if code != 0:
            raise RemoteFileError(f"{self.name}: cannot write {path}: {err}")

    async def chown(self, path: str, uid: int, gid: int) -> None:
        """Put the owner back (needs the right to; failures are reported, not fatal)."""
        sftp = await self._client()
        if sftp is not None:
            await sftp.chown(path, uid, gid)
            return
        code, _, err = await self._sh(f"chown {uid}:{gid} {shlex.quote(path)}")
        if code != 0:
            raise RemoteFileError(f"{self.name}: cannot chown {path}: {err}")

    async def remove(self, path: str) -> None:
        """Delete `path` if it exists."""
        import asyncssh

        sftp = await self._client()
        if sftp is not None:
            try:
                await sftp.remove(path)
            except asyncssh.SFTPNoSuchFile:
                pass
            except asyncssh.SFTPError as exc:
                raise RemoteFileError(f"{self.name}: cannot remove {path}: {exc.reason}") from None
            return
        code, _, err = await self._sh(f"rm -f -- {shlex.quote(path)}")
        if code != 0:
            raise RemoteFileError(f"{self.name}: cannot remove {path}: {err}")

    async def files_under(self, path: str) -> list[str]:
        """Regular files below a directory, recursively, sorted."""
        sftp = await self._client()
        if sftp is not None:
            found: list[str] = []

            async def walk(d: str) -> None:
                for entry in await sftp.readdir(d):
                    name = cast(str, entry.filename)  # decoded: the client's path encoding
                    if name in (".", ".."):
                        continue
                    full = f"{d.rstrip('/')}/{name}"
                    mode = entry.attrs.permissions or 0
                    if st.S_ISDIR(mode):
                        await walk(full)
                    elif st.S_ISREG(mode):
                        found.append(full)

            await walk(path)
            return sorted(found)
        code, out, err = await self._sh(f"find {shlex.quote(path)} -type f")
        if code != 0:
            raise RemoteFileError(f"{self.name}: cannot list {path}: {err}")
        return sorted(line for line in out.splitlines() if line)
