"""Long-lived children of the lab (the mock CMP server, device shells) never outlive it.

Two guards, because a lab killed with SIGKILL runs no cleanup of its own:

- on Linux each child asks the kernel for SIGKILL when the lab dies (`PR_SET_PDEATHSIG`,
  through `prctl` in the child before it executes), and runs in its own process group;
- the process groups of long-lived children are recorded in the lab's folder
  (`.lab-children.json`), and the next start of a lab in that folder kills whatever of them
  still runs (checked by start time, so a recycled pid is never touched).

The death signal follows the thread that started the child: the lab starts its children from
its event loop's thread, which lives as long as the lab.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

RECORD = ".lab-children.json"
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with(parent: int) -> Callable[[], None]:
    def preexec() -> None:  # runs in the child between fork and exec: nothing that locks
        if _LIBC is not None:
            _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the lab died before prctl took effect
            os._exit(1)
    return preexec


def die_with_lab() -> Callable[[], None]:
    """A `preexec_fn` for `subprocess.Popen` / `asyncio.create_subprocess_exec`: on Linux the
    child gets SIGKILL when the lab (the calling thread) dies."""
    return _die_with(os.getpid())


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (None when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def record(lab_dir: Path, pid: int) -> None:
    """Note a child's process group in the lab's folder (the child leads its group)."""
    path = Path(lab_dir) / RECORD
    rows = _read(path)
    rows.append({"pgid": pid, "start": start_time(pid)})
    _write(path, rows)


def forget(lab_dir: Path, pid: int) -> None:
    """The child ended normally: nothing to reap next time."""
    path = Path(lab_dir) / RECORD
    _write(path, [r for r in _read(path) if r.get("pgid") != pid])


def device_processes(lab_dir: Path) -> list[int]:
    """Processes (not this one) whose environment says they run on a device of the lab in
    `lab_dir` (`LAB_ROOT`): what a device's command started, down to its grandchildren."""
    markers = {f"LAB_ROOT={d}".encode() + b"\0" for d in (lab_dir, Path(lab_dir).resolve())}
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone, or another user's
        if any(b"\0" + m in b"\0" + environ for m in markers):
            found.append(int(entry.name))
    return found


def reap(lab_dir: Path) -> list[int]:
    """Kill what a previous lab in this folder left running: its recorded process groups and
    the processes of its devices' commands; returns the process (group) ids killed."""
    path = Path(lab_dir) / RECORD
    killed: list[int] = []
    for pid in device_processes(lab_dir):
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except (ProcessLookupError, PermissionError):
            pass
    for row in _read(path):
        pgid = row.get("pgid")
        if not isinstance(pgid, int) or pgid <= 1:
            continue
        if row.get("start") is None or start_time(pgid) != row.get("start"):
            continue  # gone, or the pid now belongs to another program
        try:
            os.killpg(pgid, signal.SIGKILL)
            killed.append(pgid)
        except (ProcessLookupError, PermissionError):
            pass
    _write(path, [])
    return killed


def _read(path: Path) -> list[dict[str, object]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return data if isinstance(data, list) else []


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    if not path.parent.exists():
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(rows))
    tmp.replace(path)
