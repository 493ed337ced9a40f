"""What a lab session lands in, and how it climbs: Gaia clish and Expert mode, FTD CLISH,
`expert` and `sudo su`, a Linux admin shell and `sudo su`, as on the real devices.

Shells reached by a climb are a real `/bin/sh -i` fed line by line (so here-documents, exit
statuses and quoting behave as on a device); each line has the device's vendor paths mapped
and, below root, writes under the device's root-owned paths refused (see `LabDevice.denied`).
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator
from typing import Any

import asyncssh

from .children import die_with_lab
from .pty import Lines

# Wording: [C] confirmed in public vendor documents, else unconfirmed (deliberately plain).
MSG = {
    "gaia_banner": "This system is for authorized use only.",
    "gaia_expert_ask": "Enter expert password:\n\nEnter expert password: ",  # [C]
    "gaia_wrong": "Wrong password.",
    "clish_invalid": "CLINFR0329  Invalid command:'{cmd}'.",  # [C]
    "ftd_invalid": "Syntax error: Illegal parameter",  # unconfirmed
    "ftd_expert": "admin@{name}:~$ ",
    "sudo_ask": "Password: ",  # [C] sudo su on FTD/FMC
    "sudo_wrong": "Sorry, try again.",  # [C] sudo
    "sudo_gave_up": "sudo: 3 incorrect password attempts",  # [C] sudo
}
SUDO = ("sudo su", "sudo su -", "sudo -s", "sudo -i")


class Session:
    """One PTY session: its line reader and the device."""

    def __init__(self, device: Any, process: asyncssh.SSHServerProcess) -> None:
        self.device, self.process = device, process
        self.io = Lines(process)
        self.paging = True
        self._lines: AsyncIterator[str] = aiter(self.io)

    async def line(self) -> str | None:
        """The next line typed, or None when the client went away."""
        return await anext(self._lines, None)

    async def password(self, prompt: str) -> str | None:
        self.io.write(prompt)
        self.io.echo = False
        try:
            return await self.line()
        finally:
            self.io.echo = True

    async def sudo(self, password: str, shell_prompt: str) -> bool:
        """`sudo su`: three tries at the password, then a root shell; False when refused."""
        for _ in range(3):
            typed = await self.password(MSG["sudo_ask"])
            if typed is None:
                return False
            if typed == password:
                await self.shell(shell_prompt, root=True)
                return True
            self.io.write(MSG["sudo_wrong"] + "\n")
        self.io.write(MSG["sudo_gave_up"] + "\n")
        return False

    async def shell(self, prompt: str, *, root: bool, sudo_password: str | None = None,
                    root_prompt: str = "") -> None:
        """A real `sh -i` until it exits; `sudo su` climbs to root when a password is given."""
        dev = self.device
        env = {**dev.env, "PS1": prompt, "PS2": "> ", "LAB_PRIV": "root" if root else "user"}
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "+m", "-i", cwd=dev.root, env=env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True, preexec_fn=die_with_lab())
        assert proc.stdin and proc.stdout
        dropped = asyncio.Event()
        drop = [False]

        async def out() -> None:
            assert proc.stdout
            while data := await proc.stdout.read(65536):
                if drop[0] and b"\x1eRBB" in data:  # a `drop` fault: a line, then nothing
                    head = data.split(b"\x1eRBB")[0] + b"\x1eRBB\n"
                    self.process.stdout.write((head + base64.b64encode(b"Processing...\n")
                                               + b"\n").replace(b"\n", b"\r\n"))
                    dropped.set()
                    self.process.channel.get_connection().abort()
                    return
                self.process.stdout.write(data.replace(b"\n", b"\r\n"))

        pump = asyncio.create_task(out())
        heredoc: str | None = None
        command: list[str] = []
        try:
            while True:
                line = await self.line()
                if line is None or dropped.is_set():
                    break
                if heredoc is None and sudo_password is not None and line.strip() in SUDO:
                    await self.sudo(sudo_password, root_prompt)
                    proc.stdin.write(b"\n")  # the admin shell shows its prompt again
                    continue
                if heredoc is None and (m := re.search(r"<<'(RB_C_\w+)'", line)):
                    heredoc, command = m.group(1), []
                elif heredoc is not None and line == heredoc:
                    dev.record_command("\n".join(command))
                    heredoc = None
                elif heredoc is not None:
                    command.append(line)
                    drop[0] = drop[0] or dev.drops(line)
                    line = dev.fault_line(line)
                if not root:
                    refused = dev.denied(line)
                    if refused:
                        line = f"printf '%s\\n' {_quote(refused)} >&2; (exit 1)"
                proc.stdin.write((dev.map_paths(line) + "\n").encode())
                await proc.stdin.drain()
                if heredoc is None and line.strip() == "exit":
                    break
            if proc.returncode is None and not dropped.is_set():
                await asyncio.wait_for(proc.wait(), 5)
        except (TimeoutError, BrokenPipeError, ConnectionError):
            pass
        finally:
            _kill(proc)
            await proc.wait()
            await asyncio.gather(pump, return_exceptions=True)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _kill(proc: asyncio.subprocess.Process) -> None:
    import os
    import signal
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


async def gaia(device: Any, process: asyncssh.SSHServerProcess) -> None:
    """Gaia's default login shell (clish); `expert` and the Expert password give bash as root."""
    from .checkpoint import EXPERT_PASSWORD
    s = Session(device, process)
    prompt = f"{device.name}> "
    s.io.write(f"{MSG['gaia_banner']}\n{prompt}")
    while (line := await s.line()) is not None:
        cmd = line.strip()
        if cmd == "exit":
            break
        if cmd == "expert":
            typed = await s.password(MSG["gaia_expert_ask"])
            if typed == EXPERT_PASSWORD:
                await s.shell(f"[Expert@{device.name}:0]# ", root=True)
            elif typed is not None:
                s.io.write(MSG["gaia_wrong"] + "\n")
        elif cmd.startswith("show version"):
            s.io.write("Product version Check Point Gaia R81.20\n")
        elif cmd.startswith("show configuration"):
            await _paged(s, [f"set hostname {device.name}", *(
                f"set interface eth{i} state on" for i in range(60))])
        elif cmd == "set clienv rows 0":
            s.paging = False
        elif cmd:
            s.io.write(MSG["clish_invalid"].format(cmd=cmd) + "\n")
        s.io.write(prompt)
    process.exit(0)


async def _paged(s: Session, lines: list[str], rows: int = 20) -> None:
    """Print `lines` a screen at a time with `-- More --` unless paging was turned off."""
    for i, text in enumerate(lines):
        if s.paging and i and i % rows == 0:
            s.io.write("-- More --")
            data = await s.process.stdin.read(1)
            s.io.write("\r          \r")
            if data in (b"q", b""):
                return
        s.io.write(text + "\n")


async def ftd(device: Any, process: asyncssh.SSHServerProcess) -> None:
    """FTD: CLISH `>`; `expert` gives a shell as admin, where `sudo su` gives root."""
    from .cisco import ADMIN_PASSWORD
    s = Session(device, process)
    s.io.write("> ")
    while (line := await s.line()) is not None:
        cmd = line.strip()
        if cmd == "exit":
            break
        if cmd == "expert":
            await s.shell(MSG["ftd_expert"].format(name=device.name), root=False,
                          sudo_password=ADMIN_PASSWORD,
                          root_prompt=f"root@{device.name}:/home/admin# ")
        elif cmd.startswith("show version"):
            s.io.write("Model : Cisco Firepower Threat Defense for VMware\n")
        elif cmd:
            s.io.write(MSG["ftd_invalid"] + "\n")
        s.io.write("> ")
    process.exit(0)


async def linux_admin(device: Any, process: asyncssh.SSHServerProcess) -> None:
    """FMC: a Linux shell as admin; `sudo su` (the admin password) gives root."""
    from .cisco import ADMIN_PASSWORD
    s = Session(device, process)
    await s.shell(f"admin@{device.name}:~$ ", root=False, sudo_password=ADMIN_PASSWORD,
                  root_prompt=f"root@{device.name}:/Volume/home/admin# ")
    process.exit(0)


def exec_refusal(login: str, command: str) -> str | None:
    """What an SSH exec command gets where the login shell is not a POSIX shell."""
    if login == "gaia":
        return MSG["clish_invalid"].format(cmd=command.split()[0] if command.split() else "")
    if login == "ftd":
        return MSG["ftd_invalid"]
    return None
