"""A lab device's state: JSON in its tree, read and changed under a file lock."""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STATE = ".lab/state.json"


def state_path(root: Path) -> Path:
    """Where a device keeps its state."""
    return root / STATE


def read(root: Path) -> dict[str, Any]:
    """The device's state (a copy)."""
    p = state_path(root)
    return json.loads(p.read_text()) if p.exists() else {}


@contextmanager
def change(root: Path) -> Iterator[dict[str, Any]]:
    """Lock, yield the state for changes, write it back."""
    p = state_path(root)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(p.read_text()) if p.exists() else {}
        yield data
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        tmp.replace(p)
