"""A device that runs exec commands with the real /bin/sh inside its own directory."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import asyncssh

from .children import die_with_lab
from .server import pump


class ShellDevice:
    """Runs each exec command as `/bin/sh -c COMMAND` with cwd and HOME set to `root`.

    Output streams back as it is produced; when the client closes the channel (a timeout or an
    abort), the whole process group is killed so that nothing keeps running on the "device".
    """

    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root),
                    "LC_ALL": "C", **(env or {})}

    async def __call__(self, process: asyncssh.SSHServerProcess) -> None:
        if process.command is None:
            process.stderr.write(b"interactive shells are not supported by this device\n")
            process.exit(1)
            return
        await self.execute(process, process.command)

    async def execute(self, process: asyncssh.SSHServerProcess, command: str) -> None:
        """Run `command` in the device's shell, streaming to and from the SSH channel."""
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", command, cwd=self.root, env=self.env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True,
            preexec_fn=die_with_lab())
        assert proc.stdin and proc.stdout and proc.stderr

        async def out(src: asyncio.StreamReader, dst: asyncssh.SSHWriter[bytes]) -> None:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()

        feeder = asyncio.create_task(pump(process.stdin, proc.stdin))
        outputs = asyncio.ensure_future(asyncio.gather(
            out(proc.stdout, process.stdout), out(proc.stderr, process.stderr)))
        closed = asyncio.ensure_future(process.channel.wait_closed())
        try:
            pending: set[asyncio.Future[Any]] = {outputs, closed}
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if not outputs.done():  # the client went away: nothing may keep running
                _kill_group(proc.pid)
                outputs.cancel()
                await asyncio.gather(outputs, return_exceptions=True)
                await proc.wait()
                return
            outputs.result()
            status = await proc.wait()
        except BaseException:
            _kill_group(proc.pid)
            await proc.wait()
            raise
        finally:
            feeder.cancel()
            closed.cancel()
        process.exit(status if status >= 0 else 128 - status)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
