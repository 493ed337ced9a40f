"""Shared helpers for tests: run the CLI in-process or as a subprocess, collect engine events."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runbook.engine import Engine
from runbook.events import Event, OutputLine, OutputLines
from runbook.headless import FlagDecider
from runbook.hostkeys import HostKeyStore
from runbook.inventory import Inventory
from runbook.journal import Journal
from runbook.journals import open_journal
from runbook.transport import Transport

REPO = Path(__file__).resolve().parent.parent
JOURNAL: str | None = None  # the journal under test: None (SQLite in the data dir) or a URL
TEAM_PASSPHRASE = "team backup passphrase for the tests"  # seals backups in a team journal


def write_procedure(dir: Path, body: str, name: str = "proc.yaml") -> Path:
    """Write a procedure file from an indented YAML string."""
    path = dir / name
    path.write_text(textwrap.dedent(body).lstrip())
    return path


def cli_env(data_dir: Path, home: Path, **extra: str) -> dict[str, str]:
    """Environment for a `runbook` subprocess: private data dir and HOME, no terminal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_")}
    env.update({"RUNBOOK_HOME": str(data_dir), "HOME": str(home), "PYTHONPATH": str(REPO),
                "PYTHONUNBUFFERED": "1", **extra})
    env.pop("SSH_AUTH_SOCK", None)
    # The test's private config dir (conftest's autouse fixture) is handed on, so that the
    # subprocess finds the same backup key files the test process wrote, and runbook.toml is
    # never read from the real user's config dir.
    private_config = os.environ.get("XDG_CONFIG_HOME")
    if private_config and Path(private_config).is_relative_to(home):
        env["XDG_CONFIG_HOME"] = private_config
    else:
        env["XDG_CONFIG_HOME"] = str(home / ".config")
    if JOURNAL:
        env["RUNBOOK_JOURNAL"] = JOURNAL
        env.setdefault("RUNBOOK_BACKUP_PASSPHRASE", TEAM_PASSPHRASE)
    return env


async def cli(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run `python -m runbook ARGS` to completion; return (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runbook", *args, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


@dataclass
class Recorder:
    """Collects engine events in order."""

    events: list[Event] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def lines(self, step_id: str | None = None) -> list[str]:
        each = [x for e in self.events
                for x in (e.each() if isinstance(e, OutputLines) else [e])]
        return [e.line for e in each
                if isinstance(e, OutputLine) and (step_id is None or e.step_id == step_id)]

    def of(self, cls: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]


def journal_at(data_dir: Path) -> Journal:
    """The journal under test (see JOURNAL) for a data directory."""
    return open_journal(JOURNAL, data_dir)


def approve_all() -> FlagDecider:
    """Approve every confirmation of the shipped procedures, including the steps `--yes`
    alone does not cover (as an operator naming each with `--confirm STEP`)."""
    from runbook.library import catalogue
    from runbook.loader import load_procedure
    from runbook.model import ManualStep

    confirmed = {s.id for e in catalogue() for s in load_procedure(Path(e.path)).steps
                 if s.confirm and not isinstance(s, ManualStep)}
    return FlagDecider(yes=True, confirmed=confirmed)


def engine_for(data_dir: Path, decider: Any = None) -> tuple[Engine, Journal, Recorder]:
    """A real engine over a real journal and transport in `data_dir`, with a recorder."""
    journal = open_journal(JOURNAL, data_dir)
    store = HostKeyStore(data_dir)
    engine = Engine(journal, decider or approve_all(),
                    transport_factory=lambda inv: Transport(inv, store),
                    inventory_from_snapshot=Inventory.from_snapshot)
    rec = Recorder()
    engine.subscribe(rec)
    return engine, journal, rec


async def start_until(args: list[str], env: dict[str, str], marker: str = "| ready"
                      ) -> tuple[asyncio.subprocess.Process, str]:
    """Start `python -m runbook ARGS`; return it (still running) and its run id once a stdout
    line ends with `marker` (the device said the step is under way)."""
    import re

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runbook", *args, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    run_id = None
    seen: list[str] = []
    async with asyncio.timeout(60):
        while True:
            line = (await proc.stdout.readline()).decode()
            assert line, f"runbook ended before {marker!r}: {seen}"
            seen.append(line)
            if m := re.search(r"run (\S+):", line):
                run_id = run_id or m.group(1)
            if line.rstrip().endswith(marker):
                break
    assert run_id
    return proc, run_id


async def device_exec(inventory_path: Path, name: str, command: str, keys: Path
                      ) -> tuple[int | None, list[str]]:
    """Run one command on a device over a fresh transport; return (exit status, lines)."""
    transport = Transport(Inventory.load(inventory_path), HostKeyStore(keys))
    lines: list[str] = []
    try:
        result = await transport.exec(name, command, timeout=60,
                                      on_line=lambda s, line: lines.append(line))
    finally:
        await transport.close()
    return result.exit_status, lines
