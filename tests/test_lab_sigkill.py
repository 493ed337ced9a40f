"""`runbook lab` killed with SIGKILL runs no cleanup: its openssl cmp child dies with it."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runbook.lab.clavister import CmpServer

from .helpers import cli_env


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # a zombie no longer runs


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
async def test_openssl_cmp_does_not_outlive_a_killed_lab(tmp_path: Path) -> None:
    if not CmpServer.available():
        pytest.skip("this openssl has no `cmp` mock server")
    lab_dir = tmp_path / "lab"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runbook", "lab", "--dir", str(lab_dir),
        env=cli_env(tmp_path / "data", tmp_path), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(60):
            while b"press Ctrl-C" not in (line := await proc.stdout.readline()):
                assert line, "runbook lab ended early"
        found = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "openssl cmp"],
                               capture_output=True, text=True).stdout.split()
        assert len(found) == 1, found
        child = int(found[0])
        assert not _gone(child)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    deadline = time.monotonic() + 30
    while not _gone(child):  # the kernel delivers the death signal; poll /proc for it
        assert time.monotonic() < deadline, f"openssl cmp (pid {child}) outlived its lab"
        await asyncio.sleep(0.05)
