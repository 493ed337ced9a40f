"""A run that another process drives, held at a gate, for the observer's tests."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from runbook.observe_feed import JournalReader, ObserveError, open_reader
from tests.helpers import cli_env, write_procedure

SECRET = "observed-s3cr3t-value"
PROC = """
id: test.observed
title: An observed change
vendor: test
risk: low
source: {{document: runbook observer tests}}
params:
  device: {{type: target}}
  token: {{type: secret}}
steps:
  - id: first
    title: Say something
    kind: run
    target: device
    command: echo first-output-line token=$TOKEN
    secrets: {{TOKEN: "{{{{ token }}}}"}}
  - id: second
    title: Wait for the gate, then say more
    kind: run
    target: device
    command: while [ ! -f {gate} ]; do sleep 0.1; done; echo second-output-line
"""


async def start_run(device: Any, tmp: Path) -> tuple[asyncio.subprocess.Process, Path]:
    """Start `runbook run` on `device` in another process; its second step waits until the
    returned gate file exists."""
    gate = tmp / "gate"
    path = write_procedure(tmp, PROC.format(gate=gate), "observed.yaml")
    env = cli_env(device.data_dir, tmp, RB_TOKEN=SECRET)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runbook", "run", str(path), "-i", str(device.inventory_path),
        "-p", f"device={device.name}", "--secret-env", "token=RB_TOKEN", "--yes", env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    return proc, gate


async def reader_when_ready(spec: str | None, data_dir: Path) -> JournalReader:
    """A reader of the journal, once the driving process has created it and its run."""
    deadline = time.monotonic() + 60  # a limit on waiting, not a timing assertion
    while True:
        try:
            reader = open_reader(spec, data_dir)
            if reader.runs():
                return reader
            reader.close()
        except ObserveError:
            if time.monotonic() > deadline:
                raise
        assert time.monotonic() < deadline, "the driving process never created its run"
        await asyncio.sleep(0.1)  # waiting for the other process to start its run
