"""Where runbook keeps its data: the platform data directory, or $RUNBOOK_HOME when set."""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from pathlib import Path

import platformdirs

from .errors import DiskFull, UnsafeDirectory

ENV_HOME = "RUNBOOK_HOME"


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` says the disk (or quota) is full: ENOSPC/EDQUOT, or SQLITE_FULL."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    return False


def disk_full(where: Path, run_id: str | None = None) -> DiskFull:
    """The one-line error for a full disk under `where` (naming the run to resume)."""
    resume = f"`runbook resume {run_id}`" if run_id else "`runbook resume` the run"
    err = DiskFull(f"no space left for runbook's data in {where}; what was already journaled "
                   f"is kept. Free some space there, then {resume}")
    err.where = where
    return err


def _owner(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Return the data directory, created 0700; refuse one that others may write to or own.

    Precedence: the explicit override, then $RUNBOOK_HOME, then the platform user data dir.
    Raises UnsafeDirectory when group or others have write permission on it, or when it is
    owned by another user than the effective one (even for root: another user could swap
    its contents, e.g. plant a trusted host key, under a root run).
    """
    raw = override or os.environ.get(ENV_HOME) or platformdirs.user_data_dir("runbook", False)
    path = Path(raw).expanduser()
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(path) from None
        raise
    info = path.stat()
    mode = info.st_mode
    euid = os.geteuid() if hasattr(os, "geteuid") else None
    if euid is not None and info.st_uid != euid:
        raise UnsafeDirectory(
            f"{path} is owned by {_owner(info.st_uid)}, not by {_owner(euid)} who runs "
            f"runbook, so its runs, backups and trusted host keys cannot be trusted; use a "
            f"directory of your own (--data-dir) or `chown {_owner_name(euid)} {path}`")
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeDirectory(
            f"{path} is writable by other users (mode {stat.S_IMODE(mode):o}); "
            "run `chmod 700` on it or choose another directory"
        )
    return path


def _owner_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def private_file(path: Path) -> Path:
    """Create `path` (if missing) with mode 0600 and make sure an existing one is 0600."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    return path


def write_private(path: Path, text: str) -> Path:
    """Write `text` to `path` atomically (temp file, fsync, rename) with mode 0600.

    A crash mid-write leaves either the old file or the new one, never half of one.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path
