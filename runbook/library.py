"""The procedures shipped with runbook: find one by file, by `vendor/name` or by id."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import UsageError


def safe_load(text: str) -> Any:
    """yaml.safe_load, in C where PyYAML has libyaml (read at start-up: ten times faster)."""
    if getattr(yaml, "__with_libyaml__", False):
        return yaml.load(text, Loader=yaml.CSafeLoader)
    return yaml.safe_load(text)


@dataclass(frozen=True)
class Entry:
    """A shipped procedure, as listed by `runbook list` and the TUI's Home screen."""

    ref: str
    id: str
    title: str
    vendor: str
    risk: str
    source: str
    path: str


def root() -> Path:
    """The folder holding the shipped procedures."""
    return Path(str(resources.files("runbook.procedures")))


def catalogue() -> list[Entry]:
    """Every shipped procedure with its metadata (files that do not load are left out)."""
    out = []
    base = root()
    for path in sorted(base.rglob("*.yaml")):
        try:
            data = safe_load(path.read_text())
            src = data.get("source") or {}
            out.append(Entry(str(path.relative_to(base).with_suffix("")), str(data["id"]),
                             str(data["title"]), str(data["vendor"]), str(data["risk"]),
                             str(src.get("document", "")), str(path)))
        except (yaml.YAMLError, KeyError, TypeError, AttributeError, OSError):
            continue
    return out


def resolve(ref: str) -> Path:
    """A path for `ref`: an existing file, a shipped `vendor/name`, or a procedure id.

    Raises UsageError when nothing matches.
    """
    path = Path(ref)
    if path.is_file():
        return path
    base = root()
    for candidate in (base / ref, base / f"{ref}.yaml"):
        if candidate.is_file():
            return candidate
    for entry in catalogue():
        if ref in (entry.id, entry.ref):
            return Path(entry.path)
    raise UsageError(f"no procedure file or shipped procedure named {ref!r} "
                     "(see `runbook list`)")
