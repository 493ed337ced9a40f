"""How every journal names a run's lock and tells whether the process holding it still lives."""

from __future__ import annotations

import hashlib
import os


def lock_key(run_id: str) -> int:
    """The advisory-lock key of a run: 64 bits of its id's sha256, as PostgreSQL's bigint."""
    return int.from_bytes(hashlib.sha256(b"runbook-run:" + run_id.encode()).digest()[:8],
                          "big", signed=True)


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
