"""Line input for simulated interactive shells: echo as a terminal does (except passwords)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import asyncssh


class Lines:
    """Reads lines from a PTY session; `echo` can be turned off for a password prompt."""

    def __init__(self, process: asyncssh.SSHServerProcess) -> None:
        self.process = process
        self.echo = True
        self.buf = b""

    def write(self, text: str) -> None:
        self.process.stdout.write(text.replace("\n", "\r\n").encode())

    async def __aiter__(self) -> AsyncIterator[str]:
        while True:
            while (m := re.search(rb"[\r\n]", self.buf)) is None:
                data = await self.process.stdin.read(1024)
                if not data:
                    return
                if self.echo:
                    self.process.stdout.write(data.replace(b"\r", b"\r\n"))
                self.buf += data
            line, self.buf = self.buf[:m.start()].decode(errors="replace"), self.buf[m.end():]
            if self.buf.startswith(b"\n"):
                self.buf = self.buf[1:]
            if not self.echo:
                self.process.stdout.write(b"\r\n")
            yield line
