"""An in-process asyncssh server on loopback with its own host key: the base of every lab device."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from ..orphans import unwrap  # noqa: F401 - the operator's command inside runbook's wrapper

Handler = Callable[[asyncssh.SSHServerProcess], Awaitable[None]]


def generate_key(alg: str = "ssh-ed25519") -> asyncssh.SSHKey:
    """Return a fresh private key for a host or a client."""
    return asyncssh.generate_private_key(alg)


@dataclass
class LabServer:
    """One SSH endpoint on 127.0.0.1 with a random port, a fresh host key and a command handler.

    `commands` records every exec command string (or `<shell>` for an interactive session, then
    each command runbook runs through it) in the order received, so tests can count exactly
    what reached the device.
    `sftp_root`, when set, serves SFTP chrooted to that directory.
    """

    name: str
    handler: Handler
    authorized_keys: str
    sftp_root: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    host_key: asyncssh.SSHKey = field(default_factory=generate_key)
    commands: list[str] = field(default_factory=list)
    connections: int = 0
    allow_forwarding: bool = False  # act as a jump host (to loopback destinations only)
    readonly: tuple[str, ...] = ()  # SFTP lands as admin: no writes below these (root's)
    _server: asyncssh.SSHAcceptor | None = None

    async def start(self) -> LabServer:
        """Listen on a free loopback port; returns self."""
        owner = self

        class _Auth(asyncssh.SSHServer):
            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                owner.connections += 1

            def connection_requested(self, dest_host: str, dest_port: int, orig_host: str,
                                     orig_port: int) -> bool:
                return owner.allow_forwarding and dest_host in ("127.0.0.1", "localhost", "::1")

        async def process_factory(process: asyncssh.SSHServerProcess) -> None:
            self.commands.append(unwrap(process.command) if process.command is not None
                                 else "<shell>")
            try:
                await self.handler(process)
            except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged):
                process.exit(1)
            except (BrokenPipeError, ConnectionError, asyncssh.DisconnectError):
                pass

        sftp_factory = None
        if self.sftp_root is not None:
            root = str(self.sftp_root)
            readonly = self.readonly

            def sftp_factory(chan: asyncssh.SSHServerChannel) -> asyncssh.SFTPServer:
                return _Sftp(chan, chroot=root, readonly=readonly)

        self._server = await asyncssh.create_server(
            _Auth, self.host, self.port,
            server_host_keys=[self.host_key],
            authorized_client_keys=asyncssh.import_authorized_keys(self.authorized_keys),
            process_factory=process_factory,
            sftp_factory=sftp_factory,
            allow_scp=False,
            keepalive_interval=0,
            encoding=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def known_hosts_line(self) -> str:
        """The pinned known_hosts line for this endpoint."""
        key = self.host_key.export_public_key("openssh").decode().strip()
        return f"[{self.host}]:{self.port} {key}\n"

    async def stop(self) -> None:
        """Close the listener and every open connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


async def pump(reader: asyncssh.SSHReader[bytes], writer: asyncio.StreamWriter) -> None:
    """Copy bytes from an SSH channel into a subprocess stdin until EOF."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (BrokenPipeError, ConnectionError, asyncssh.Error):
        pass
    finally:
        writer.close()


class _Sftp(asyncssh.SFTPServer):
    """SFTP as an unprivileged administrator: writes below root-owned paths are refused."""

    def __init__(self, chan: asyncssh.SSHServerChannel, chroot: str,
                 readonly: tuple[str, ...]) -> None:
        super().__init__(chan, chroot=os.fsencode(chroot))
        self._readonly = readonly

    def _check(self, *paths: bytes) -> None:
        for raw in paths:
            path = "/" + raw.decode(errors="replace").lstrip("/")
            if any(path == p or path.startswith(p + "/") for p in self._readonly):
                raise asyncssh.SFTPPermissionDenied(f"{path}: Permission denied")

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        if pflags & (asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_APPEND
                     | asyncssh.FXF_TRUNC):
            self._check(path)
        return super().open(path, pflags, attrs)

    def remove(self, path: bytes) -> Awaitable[None] | None:
        self._check(path)
        return super().remove(path)

    def rename(self, oldpath: bytes, newpath: bytes) -> Awaitable[None] | None:
        self._check(oldpath, newpath)
        return super().rename(oldpath, newpath)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> Awaitable[None] | None:
        self._check(oldpath, newpath)
        return super().posix_rename(oldpath, newpath)

    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> Awaitable[None] | None:
        self._check(path)
        return super().setstat(path, attrs)

    def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> Awaitable[None] | None:
        self._check(path)
        return super().mkdir(path, attrs)

    def rmdir(self, path: bytes) -> Awaitable[None] | None:
        self._check(path)
        return super().rmdir(path)
