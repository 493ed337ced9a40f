"""Prompt-driven CLI sessions (PTY): wait for a prompt, send a line, collect its output.

For devices that are not a POSIX shell (Clavister `System:/>`, Check Point clish). Every wait
is bounded: a prompt that never comes raises CliTimeout naming the last output seen.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import asyncssh

from .access import Paging
from .errors import CliTimeout, TransportError

if TYPE_CHECKING:  # annotation only: the transport's escalated sessions use this module
    from .transport import Transport

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")


def clean(text: str) -> str:
    """Strip terminal escapes and carriage returns; a line that a carriage return rewrote (a
    pager wiping its `--More--`) keeps what a terminal would show: the text after it."""
    lines = ANSI.sub("", text).split("\n")
    return "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in lines)


class CliSession:
    """One interactive session on one device."""

    def __init__(self, process: asyncssh.SSHClientProcess, name: str, prompt: str,
                 redact: Callable[[str], str] = lambda s: s, paging: Paging | None = None
                 ) -> None:
        self.process, self.name = process, name
        self.prompt = re.compile(prompt)
        self.redact = redact
        self.buffer = ""
        self.paging = paging
        self._more = re.compile(paging.more) if paging else None

    @classmethod
    async def open(cls, transport: Transport, name: str, prompt: str, timeout: float,
                   redact: Callable[[str], str] = lambda s: s,
                   paging: Paging | None = None) -> CliSession:
        """Start a PTY session and wait for the first prompt; raises CliTimeout. A pager's
        prompt (`paging.more`, from the device's platform) is answered every time it shows."""
        process = await transport.open_pty_process(name)
        session = cls(process, name, prompt, redact, paging)
        await session._until_prompt(timeout, "the first prompt")
        return session

    async def _until_prompt(self, timeout: float, waiting_for: str,
                            answers: Mapping[str, str] | None = None) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        answered: set[int] = set()
        while True:
            last = clean(self.buffer).rsplit("\n", 1)[-1]
            if self.prompt.search(last):
                out, self.buffer = self.buffer, ""
                return clean(out)
            if self._more is not None and self.paging and self._more.search(last):
                self.process.stdin.write(self.paging.answer)
                self.buffer = self.buffer[:self.buffer.rfind("\n") + 1]
                continue
            for i, (question, answer) in enumerate((answers or {}).items()):
                if i not in answered and re.search(question, last):
                    answered.add(i)
                    self.process.stdin.write(answer + "\n")
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = self.redact(last.strip() or "(nothing)")
                raise CliTimeout(f"{self.name}: no prompt matching {self.prompt.pattern!r} "
                                 f"within {timeout:g} s while waiting for {waiting_for}; last "
                                 f"output: {seen}")
            try:
                chunk = await asyncio.wait_for(self.process.stdout.read(4096), remaining)
            except TimeoutError:
                continue
            if not chunk:
                raise TransportError(f"{self.name}: the session closed while waiting for "
                                     f"{waiting_for}")
            self.buffer += chunk

    async def send(self, line: str, timeout: float,
                   answers: Mapping[str, str] | None = None) -> list[str]:
        """Send one line; return its output lines (without the echo and the next prompt)."""
        self.process.stdin.write(line + "\n")
        text = await self._until_prompt(timeout, f"`{self.redact(line)}` to finish", answers)
        lines = text.split("\n")[:-1]  # the last line is the prompt
        if lines and lines[0].strip().endswith(line.strip()):
            lines = lines[1:]  # the echo
        return lines

    async def close(self) -> None:
        """End the session."""
        self.process.stdin.write("exit\n")
        self.process.close()
        try:
            await asyncio.wait_for(self.process.wait_closed(), 5)
        except (TimeoutError, asyncssh.Error, OSError):
            pass
