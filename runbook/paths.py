"""Where runbook keeps its data: the platform data directory, or $RUNBOOK_HOME when set."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import platformdirs

from .errors import UnsafeDirectory

ENV_HOME = "RUNBOOK_HOME"


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Return the data directory, created 0700; refuse one that others may write to.

    Precedence: the explicit override, then $RUNBOOK_HOME, then the platform user data dir.
    Raises UnsafeDirectory when group or others have write permission on it.
    """
    raw = override or os.environ.get(ENV_HOME) or platformdirs.user_data_dir("runbook", False)
    path = Path(raw).expanduser()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = path.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeDirectory(
            f"{path} is writable by other users (mode {stat.S_IMODE(mode):o}); "
            "run `chmod 700` on it or choose another directory"
        )
    return path


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
