"""A simulated device: a real /bin/sh in the device's own tree, vendor tools on its PATH.

Vendor paths (`/etc/sf/...`, `/opt/CPshrd-R81/...`) are mapped into the device's tree by
rewriting them in the command line before the shell sees it, so the real `openssl`, `cat` and
`cp` work on the device's files; SFTP is chrooted to the same tree. Vendor commands are small
Python tools (`runbook.lab.tool`) that read and change the device's state. Fault switches make
a command fail, hang, run slowly or drop the connection, over exec and in interactive shells.
A session lands where the real device's does (`login`: a shell, Gaia clish or FTD CLISH) and
climbs as there (`runbook.lab.login`); below root, writes to `protected` paths are refused.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from .server import unwrap
from .shell import ShellDevice

TOOL_STUB = '#!/bin/sh\nexec "{python}" -m runbook.lab.tool "{name}" "$@"\n'


@dataclass
class Faults:
    """Fault switches of one device (regexes match the command line)."""

    fail: str | None = None       # matching commands print an error and exit 1
    drop: str | None = None       # matching commands: output a line, then the connection drops
    slow: str | None = None       # matching commands wait `slow_seconds` first
    slow_seconds: float = 5.0
    hang: str | None = None       # matching commands never finish
    no_prompt: bool = False       # interactive sessions never show a prompt

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Faults:
        return cls(**(d or {}))


@dataclass
class LabDevice(ShellDevice):
    """A vendor device: tree, tools, path mapping and faults."""

    root: Path
    name: str = "device"
    prefixes: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    lab_root: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    login: str = "shell"  # what SSH exec lands in: shell | gaia (clish) | ftd (CLISH `>`)
    protected: tuple[str, ...] = ()  # vendor paths only root may write
    commands: list[str] | None = None  # the server's record of what reached the device

    def __post_init__(self) -> None:
        bin_dir = self.root / ".lab" / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for tool in self.tools:
            stub = bin_dir / tool
            stub.write_text(TOOL_STUB.format(python=sys.executable, name=tool))
            stub.chmod(0o755)
        alternatives = "|".join(re.escape(p) for p in sorted(self.prefixes, key=len,
                                                               reverse=True))
        self._rx = re.compile(rf"(?<![\w./-])({alternatives})(?=[/\s'\";|&)]|$)") \
            if self.prefixes else None
        env = {"LAB_ROOT": str(self.lab_root or self.root.parent), "LAB_DEVICE": self.name,
               "LAB_DEVICE_ROOT": str(self.root),
               "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        env.update({k: self.map_paths(v) for k, v in self.extra_env.items()})
        super().__init__(self.root, env)
        self.env["PATH"] = f"{bin_dir}:{self.env['PATH']}"

    def map_paths(self, command: str) -> str:
        """Rewrite vendor absolute paths into this device's tree."""
        if self._rx is None:
            return command
        return self._rx.sub(lambda m: str(self.root) + m.group(1), command)

    def record_command(self, command: str) -> None:
        """Note a command run through an interactive shell (for tests that count them)."""
        if self.commands is not None:
            self.commands.append(command)

    def denied(self, command: str) -> str | None:
        """The error a non-root user gets for `command` when it writes below a root-owned
        path (a redirection into it, a writing tool or `-out` naming it), else None.

        The lab runs as one user, so root is simulated: this check stands in for the file
        permissions of the real device, for the writes procedures make."""
        if not self.protected:
            return None
        alts = "|".join(re.escape(p) for p in self.protected)
        path = rf"['\"]?((?:{alts})(?:/[^\s'\";|&)<>]*)?)"
        m = re.search(rf">>?\s*{path}", command) or re.search(rf"-out\s+{path}", command)
        if m:
            return f"sh: 1: cannot create {m.group(1)}: Permission denied"
        tool = re.search(r"(?:^|[;&|(]\s*|\s)(cp|mv|rm|tee|chmod|chown|ln|mkdir|touch|install|"
                         r"dd|truncate|rmdir|generate_certs\.pl)\b", command)
        m = re.search(rf"(?<![\w./-]){path}", command)
        if tool and m:
            return f"{tool.group(1)}: cannot write '{m.group(1)}': Permission denied"
        return None

    def drops(self, line: str) -> bool:
        """Whether a `drop` fault matches a line typed into an interactive shell."""
        return bool(self.faults.drop and re.search(self.faults.drop, line))

    def fault_line(self, line: str) -> str:
        """A command line typed into an interactive shell, with this device's faults applied."""
        f = self.faults
        if f.hang and re.search(f.hang, line):
            return "sleep 100000"
        if f.fail and re.search(f.fail, line):
            first = line.split()[0] if line.split() else "command"
            return (f"printf '%s: error: operation failed (lab fault)\\n' '{first}' >&2; "
                    "exit 1")
        if f.drop and re.search(f.drop, line):
            return "sleep 100000"
        if f.slow and re.search(f.slow, line):
            return f"sleep {f.slow_seconds:g}; {line}"
        return line

    async def __call__(self, process: asyncssh.SSHServerProcess) -> None:
        command = process.command
        f = self.faults
        if command is None and (self.login != "shell" or self.protected):
            if f.no_prompt:
                await process.channel.wait_closed()
                return
            from . import login
            chosen = {"gaia": login.gaia, "ftd": login.ftd}.get(self.login, login.linux_admin)
            await chosen(self, process)
            return
        if command is not None and self.login != "shell":
            from .login import exec_refusal
            process.stdout.write(f"{exec_refusal(self.login, unwrap(command))}\n".encode())
            process.exit(1)
            return
        if command is not None:
            inner = unwrap(command)
            refused = self.denied(inner)
            if refused:
                process.stderr.write(f"{refused}\n".encode())
                process.exit(1)
                return
            if f.hang and re.search(f.hang, inner):
                await process.channel.wait_closed()
                return
            if f.slow and re.search(f.slow, inner):
                await asyncio.sleep(f.slow_seconds)
            if f.fail and re.search(f.fail, inner):
                process.stderr.write(f"{inner.split()[0]}: error: operation failed (lab fault)\n"
                                     .encode())
                process.exit(1)
                return
            if f.drop and re.search(f.drop, inner):
                process.stdout.write(b"Processing...\n")
                await process.stdout.drain()
                process.channel.get_connection().abort()
                return
            await self.execute(process, self.map_paths(command))
            return
        await super().__call__(process)
