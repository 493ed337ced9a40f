"""Remote commands that outlive their client: a watchdog that stops them, and a check on resume.

OpenSSH does not stop a command when its channel closes: after `kill -9` of runbook (or a
laptop that lost power) the command runs on. Two defences:

- the watchdog: on a POSIX shell every command is started beside a small background loop that
  polls, once a second, whether the SSH session process (the shell's parent) still exists.
  When it is gone while the command still runs, the loop sends TERM to the command's process
  group, then KILL after 5 s. It never outlives the command by more than a second, holds none
  of the command's file descriptors, and is off with the inventory variable
  `runbook_watchdog: false` (or where `runbook_shell` is not posix). Where the session
  process belongs to another user (no right to signal it), the watchdog steps aside at once;
- the check: each started remote command journals its process group (a `remote_started`
  event). When a run is resumed with that step in doubt, the group is looked up on the device
  (`ps`); if it still runs, the operator waits for it, kills it, or leaves it — never starts
  a second copy beside it.
"""

from __future__ import annotations

import asyncio
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .events import Event, RemoteStarted

PID_MARK = "\x1erunbook-pgid"
KILL_GRACE = 5  # seconds between TERM and KILL, on the device and on resume
POLL = 1.0  # seconds between two looks at a remote process group
REUSE_SLACK = 120  # seconds: a group older than its attempt by more is someone else's

# `kill -0 $PPID` failing at the start means no right to signal the session process (a server
# whose session runs as another user): the watchdog then cannot tell and steps aside.
WATCHDOG = ("(trap '' TERM; kill -0 $PPID 2>/dev/null || exit 0; "
            "while kill -0 $$ 2>/dev/null; do kill -0 $PPID 2>/dev/null || "
            f"{{ kill -TERM -- -$$; sleep {KILL_GRACE}; kill -KILL -- -$$; exit; }}; sleep 1; "
            "done) </dev/null >/dev/null 2>&1 &")
_PRELUDE = f"printf '{PID_MARK} %s\\n' $$;"
WRAPPED = re.compile("^" + re.escape(_PRELUDE) + " (?:" + re.escape(WATCHDOG) + " )?eval (.*)$",
                     re.S)


def wrap(command: str, watchdog: bool = True) -> str:
    """The command as sent to a POSIX shell: it first says its process group, then (with the
    watchdog) starts the loop that stops it if the SSH session dies, then runs."""
    guard = f" {WATCHDOG}" if watchdog else ""
    return f"{_PRELUDE}{guard} eval {shlex.quote(command)}"


def unwrap(command: str) -> str:
    """The operator's command inside runbook's wrapper (for devices that record commands)."""
    m = WRAPPED.match(command)
    return shlex.split(m.group(1))[0] if m else command


def watchdog_enabled(target: Any) -> bool:
    """Whether the target's inventory lets runbook start the watchdog (default: yes)."""
    value = getattr(target, "vars", {}).get("runbook_watchdog", True)
    return str(value).strip().lower() not in ("false", "no", "0", "off")


class StartedCommands:
    """Journals the process group each step's command reports as it starts (a chained
    `remote_started` event), so that a resume can look for it on the device."""

    def __init__(self, emit: Callable[[Event], None]) -> None:
        self.emit = emit
        self.now: dict[str, tuple[str, str, int]] = {}  # device -> (run, step, attempt)

    def __call__(self, target: str, pgid: int) -> None:
        if target in self.now:
            run_id, step_id, attempt = self.now[target]
            self.emit(RemoteStarted(run_id, step_id, target, attempt, pgid))


@dataclass(frozen=True)
class RemoteGroup:
    """A process group on a device that belonged to an attempt."""

    target: str
    pgid: int
    pids: tuple[int, ...]
    seconds: int  # how long its oldest process has run

    def describe(self) -> str:
        """`still running on fw1, pid group 4711, for 3 min`."""
        return (f"still running on {self.target}, pid group {self.pgid}, "
                f"for {duration(self.seconds)}")


def duration(seconds: float) -> str:
    """A human duration: `42 s`, `3 min`, `2 h 5 min`."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


def etime_seconds(text: str) -> int:
    """Parse ps's `[[dd-]hh:]mm:ss` elapsed time."""
    days, _, rest = text.strip().rpartition("-")
    parts = [int(p) for p in rest.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    h, m, s = parts[-3:]
    return (int(days) if days else 0) * 86400 + h * 3600 + m * 60 + s


PS = "ps -e -o pgid= -o pid= -o etime= -o s="  # procps and Solaris ps both know `s` (state)


def parse_ps(text: str, pgid: int) -> list[tuple[int, int]]:
    """(pid, elapsed seconds) of the live processes in group `pgid` (or with that pid);
    zombies (state Z: dead, not yet reaped) do not count."""
    found = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 4 or not parts[0].isdigit() or not parts[1].isdigit():
            continue
        g, pid = int(parts[0]), int(parts[1])
        if parts[3].startswith("Z"):
            continue
        if g == pgid or pid == pgid:
            found.append((pid, etime_seconds(parts[2])))
    return found


def since(iso: str) -> float:
    """Seconds from an ISO UTC timestamp to now."""
    return (datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds()


class RemoteProcesses:
    """Looks up, waits for and kills an attempt's process group on one device."""

    def __init__(self, transport: Any, target: str) -> None:
        self.transport = transport
        self.target = target

    async def _sh(self, command: str) -> tuple[int | None, str]:
        lines: list[str] = []
        result = await self.transport.exec(self.target, command, timeout=60,
                                           on_line=lambda _s, line: lines.append(line))
        return result.exit_status, "\n".join(lines)

    async def find(self, pgid: int, started_at: str) -> RemoteGroup | None:
        """The group if it still runs and is the attempt's own (not a reused number)."""
        code, out = await self._sh(PS)
        if code != 0:
            raise LookupError(f"cannot list processes on {self.target} (`{PS}` exited {code})")
        procs = parse_ps(out, pgid)
        oldest = max((s for _, s in procs), default=0)
        if not procs or oldest > since(started_at) + REUSE_SLACK:
            return None
        return RemoteGroup(self.target, pgid, tuple(p for p, _ in procs), oldest)

    async def wait(self, group: RemoteGroup, started_at: str, limit: float) -> RemoteGroup | None:
        """Poll until the group ends (None) or `limit` seconds pass (the group, still there)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(limit, 0)
        current: RemoteGroup | None = group
        while current is not None and loop.time() < deadline:
            await asyncio.sleep(POLL)
            current = await self.find(group.pgid, started_at)
        return current

    async def kill(self, group: RemoteGroup, started_at: str) -> RemoteGroup | None:
        """TERM the group, KILL it after the grace period; None once it is gone."""
        g = group.pgid
        await self._sh(f"kill -TERM -- -{g} 2>/dev/null; kill -TERM {g} 2>/dev/null; true")
        left = await self.wait(group, started_at, KILL_GRACE)
        if left is None:
            return None
        await self._sh(f"kill -KILL -- -{g} 2>/dev/null; kill -KILL {g} 2>/dev/null; true")
        return await self.wait(left, started_at, KILL_GRACE)
