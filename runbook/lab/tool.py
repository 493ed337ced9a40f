"""Entry point of the lab's vendor tools: `python -m runbook.lab.tool NAME ARGS...`."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class ToolContext:
    """Where a tool runs: its device, the lab, and the other devices."""

    name: str
    root: Path
    lab_root: Path

    @property
    def lab(self) -> dict[str, Any]:
        return json.loads((self.lab_root / "lab.json").read_text())

    def device(self, name: str) -> Path:
        """Another device's tree."""
        return Path(self.lab["devices"][name]["root"])

    def spec(self, name: str | None = None) -> dict[str, Any]:
        """A device's entry in lab.json (this one by default)."""
        return self.lab["devices"][name or self.name]

    def out(self, text: str = "") -> None:
        sys.stdout.write(text + "\n")

    def err(self, text: str) -> None:
        sys.stderr.write(text + "\n")


def registry() -> dict[str, Any]:
    """Every tool by command name."""
    from . import checkpoint, cisco, solaris
    return {**cisco.TOOLS, **checkpoint.TOOLS, **solaris.TOOLS_MAP}


def main(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write("usage: python -m runbook.lab.tool NAME ARGS...\n")
        return 2
    ctx = ToolContext(os.environ.get("LAB_DEVICE", "device"),
                      Path(os.environ.get("LAB_DEVICE_ROOT", ".")),
                      Path(os.environ.get("LAB_ROOT", "..")))
    tool = registry().get(argv[0])
    if tool is None:
        sys.stderr.write(f"{argv[0]}: command not found\n")
        return 127
    return int(tool(ctx, argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
