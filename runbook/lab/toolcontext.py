"""Where a lab vendor tool runs: its device's tree, the lab's, and the other devices."""

from __future__ import annotations

import json
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
