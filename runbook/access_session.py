"""One interactive session per device that climbs its platform's privilege levels and runs
commands there, with each command's exit status and output recovered exactly.

How a command travels (decided for devices that only offer a PTY): the command text goes in a
quoted here-document (so nothing in it is expanded or interpreted by the login shell), any
standard input as base64 in another; the device runs it as `eval` with stderr joined to stdout,
and prints its output base64-encoded between two markers that start with the byte 0x1e (which
the echo of what we typed never contains): `\\x1eRBB` before, `\\x1eRBE STATUS` after. So output
is byte-exact whatever the terminal does to line ends, and a pager never engages (output goes
to a pipe). Output streams at the granularity at which `base64` flushes (about 30 KB), and
stderr arrives as stdout: a PTY has one stream.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
from collections.abc import Callable

import asyncssh

from .access import Level, Platform
from .errors import AccessError, TransportError
from .promptsession import clean

BEGIN = "\x1eRBB"
END = "\x1eRBE"
MAX_LINE = 3000  # a PTY in canonical mode takes at most 4095 bytes per line


class AccessSession:
    """A PTY session on one device, at the top privilege level of its platform."""

    def __init__(self, process: asyncssh.SSHClientProcess, name: str, platform: Platform,
                 password: Callable[[str], str]) -> None:
        self.process, self.name, self.platform = process, name, platform
        self.password = password
        self.buffer = ""
        self.level = platform.levels[0]
        self.shown: list[str] = []  # passwords sent, never shown in an error
        self.broken = False
        self._paging = re.compile(platform.paging.more) if platform.paging else None

    def _hide(self, text: str) -> str:
        for secret in self.shown:
            text = text.replace(secret, "********")
        return text

    async def _read(self, deadline: float) -> str:
        loop = asyncio.get_running_loop()
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError
        try:
            chunk = await asyncio.wait_for(self.process.stdout.read(4096), remaining)
        except (asyncssh.Error, ConnectionError, asyncio.IncompleteReadError):
            chunk = ""
        if not chunk:
            self.broken = True
            raise TransportError(f"{self.name}: the session closed (at the "
                                 f"{self.level.name} level)")
        return chunk

    def _last(self) -> str:
        return clean(self.buffer).rsplit("\n", 1)[-1]

    def _answer_pager(self) -> bool:
        if self._paging is not None and self._paging.search(self._last()):
            assert self.platform.paging is not None
            self.process.stdin.write(self.platform.paging.answer)
            self.buffer = self.buffer[:self.buffer.rfind("\n") + 1]
            return True
        return False

    async def until_prompt(self, level: Level, timeout: float, waiting_for: str) -> str:
        """Read until `level`'s prompt (answering a pager); return what came before it."""
        rx = re.compile(level.prompt)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if rx.search(self._last()):
                out, self.buffer = clean(self.buffer), ""
                return out
            self._answer_pager()
            try:
                self.buffer += await self._read(deadline)
            except TimeoutError:
                raise AccessError(f"{self.name}: no {level.name} prompt matching "
                                  f"{level.prompt!r} within {timeout:g} s while waiting for "
                                  f"{waiting_for}; last output: "
                                  f"{self._hide(self._last().strip()) or '(nothing)'}") from None

    async def climb(self, timeout: float) -> None:
        """Reach the top level: wait for the login prompt, then climb each level in turn."""
        levels = self.platform.levels
        await self.until_prompt(levels[0], timeout, "the login prompt")
        await self._setup(levels[0], timeout)
        for below, level in zip(levels, levels[1:], strict=False):
            await self._climb_one(below, level, timeout)
            self.level = level
            await self._setup(level, timeout)
        self.process.stdin.write("stty -echo 2>/dev/null\n")
        await self.until_prompt(self.level, timeout, "echo to be turned off")

    async def _setup(self, level: Level, timeout: float) -> None:
        for line in level.setup:
            self.process.stdin.write(line + "\n")
            await self.until_prompt(level, timeout, f"`{line}`")

    async def _climb_one(self, below: Level, level: Level, timeout: float) -> None:
        assert level.climb
        self.process.stdin.write(level.climb + "\n")
        target, previous = re.compile(level.prompt), re.compile(below.prompt)
        asks = re.compile(level.password_prompt) if level.password_prompt else None
        failures = [re.compile(f) for f in self.platform.failures]
        deadline = asyncio.get_running_loop().time() + timeout
        sent = False
        seen = ""
        what = f"`{level.climb}` (to the {level.name} level)"
        while True:
            text = clean(self.buffer)
            last = text.rsplit("\n", 1)[-1]
            for rx in failures:
                m = rx.search(text)
                if m:
                    self.broken = True
                    start = text.rfind("\n", 0, m.start()) + 1
                    end = text.find("\n", m.end())
                    line = text[start:end if end >= 0 else None].strip() or m.group(0)
                    raise AccessError(f"{self.name}: {what} was refused: "
                                      f"{self._hide(line)}")
            if target.search(last):
                self.buffer = ""
                return
            if asks is not None and asks.search(last):
                if sent:
                    self.broken = True
                    raise AccessError(f"{self.name}: {what}: the {level.password} was refused "
                                      "(asked again)")
                if not level.password:
                    raise AccessError(f"{self.name}: {what} asks for a password and the "
                                      "platform names none")
                secret = self.password(level.password)
                self.shown.append(secret)
                self.process.stdin.write(secret + "\n")
                sent, self.buffer, seen = True, "", text
                continue
            if sent and previous.search(last) and not target.search(last):
                self.broken = True
                raise AccessError(f"{self.name}: {what}: the {level.password} was refused "
                                  f"(back at the {below.name} prompt)")
            try:
                self.buffer += await self._read(deadline)
            except TimeoutError:
                self.broken = True
                raise AccessError(f"{self.name}: {what}: no {level.name} prompt within "
                                  f"{timeout:g} s; last output: "
                                  f"{self._hide(last.strip() or seen.strip()) or '(nothing)'}"
                                  ) from None

    def _script(self, command: str, stdin: bytes | None) -> str:
        token = secrets.token_hex(8)
        if any(len(line) > MAX_LINE for line in command.split("\n")) or "\t" in command \
                or re.search(r"[\x00-\x08\x0b-\x1f\x7f]", command) \
                or f"RB_C_{token}" in command:
            raise TransportError(f"{self.name}: the command has a line over {MAX_LINE} "
                                 "characters, a tab or a control character; it cannot be "
                                 "typed into the device's shell safely")
        p = self.platform
        parts = [f"RB_CMD=$(cat <<'RB_C_{token}'", command, f"RB_C_{token}", ")"]
        if stdin:
            b64 = base64.encodebytes(stdin).decode().rstrip("\n")
            parts += [f"RB_IN=$(cat <<'RB_I_{token}'", b64, f"RB_I_{token}", ")"]
            feed = f"printf '%s\\n' \"$RB_IN\" | {p.decode} | (eval \"$RB_CMD\") 2>&1"
        else:
            feed = "(eval \"$RB_CMD\") </dev/null 2>&1"
        parts.append(f"printf '\\036RBB\\n'; {{ RB_RC=$( {{ {{ {feed}; echo $? >&3; }} | "
                     f"{p.encode} >&4; }} 3>&1 ); }} 4>&1; printf '\\036RBE %s\\n' \"$RB_RC\";"
                     " unset RB_CMD RB_IN RB_RC")
        return "\n".join(parts) + "\n"

    async def run(self, command: str, timeout: float, on_data: Callable[[bytes], None],
                  stdin: bytes | None = None) -> int | None:
        """Run `command` at the top level; pass its output bytes to `on_data` as they are
        decoded; return its exit status. Raises TimeoutError at `timeout` (the session is
        then broken: the caller closes it), TransportError if the session ends."""
        self.process.stdin.write(self._script(command, stdin))
        deadline = asyncio.get_running_loop().time() + timeout
        started = False
        pending = ""
        while True:
            if not started:
                at = self.buffer.find(BEGIN)
                if at >= 0:
                    started = True
                    self.buffer = self.buffer[at + len(BEGIN):]
            if started:
                end = self.buffer.find(END)
                cut = end if end >= 0 else self.buffer.find("\x1e")
                body = self.buffer if cut < 0 else self.buffer[:cut]
                text = pending + re.sub(r"[^A-Za-z0-9+/=]", "", body)
                usable = len(text) - len(text) % 4 if end < 0 else len(text)
                if usable:
                    on_data(base64.b64decode(text[:usable]))
                pending = text[usable:]
                if end >= 0:
                    rest = self.buffer[end + len(END):]
                    m = re.match(r" (\d+)\r?\n", rest)
                    if m:
                        self.buffer = rest[m.end():]
                        await self.until_prompt(self.level, max(
                            deadline - asyncio.get_running_loop().time(), 5.0),
                            "the prompt after a command")
                        return int(m.group(1))
                    self.buffer = END + rest
                else:
                    self.buffer = "" if cut < 0 else self.buffer[cut:]
            try:
                self.buffer += await self._read(deadline)
            except TimeoutError:
                self.broken = True
                raise

    async def close(self) -> None:
        """Interrupt whatever runs and end the session."""
        try:
            self.process.stdin.write("\x03")
        except (OSError, asyncssh.Error):
            pass
        self.process.close()
        try:
            await asyncio.wait_for(self.process.wait_closed(), 5)
        except (TimeoutError, asyncssh.Error, OSError):
            pass
