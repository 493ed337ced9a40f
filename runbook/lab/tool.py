"""Entry point of the lab's vendor tools: `python -m runbook.lab.tool NAME ARGS...`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from . import checkpoint, cisco, solaris
from .toolcontext import ToolContext


def registry() -> dict[str, Any]:
    """Every tool by command name."""
    return {**cisco.TOOLS, **checkpoint.TOOLS, **solaris.TOOLS}


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
