"""An in-process asyncssh server on loopback with its own host key: the base of every lab device."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

Handler = Callable[[asyncssh.SSHServerProcess], Awaitable[None]]


WRAPPED = re.compile(r"^printf '\x1erunbook-pgid %s\\n' \$\$; eval (.*)$", re.S)


def unwrap(command: str) -> str:
    """The operator's command inside runbook's process-group wrapper (for the record)."""
    m = WRAPPED.match(command)
    return shlex.split(m.group(1))[0] if m else command


def generate_key(alg: str = "ssh-ed25519") -> asyncssh.SSHKey:
    """Return a fresh private key for a host or a client."""
    return asyncssh.generate_private_key(alg)


@dataclass
class LabServer:
    """One SSH endpoint on 127.0.0.1 with a random port, a fresh host key and a command handler.

    `commands` records every exec command string (or `<shell>` for an interactive session) in the
    order received, so tests can count exactly what reached the device.
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

            def sftp_factory(chan: asyncssh.SSHServerChannel) -> asyncssh.SFTPServer:
                return asyncssh.SFTPServer(chan, chroot=os.fsencode(root))

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
