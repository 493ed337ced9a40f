"""`runbook demo` keeps its lab in the data directory unless asked for a fresh one."""

from __future__ import annotations

from pathlib import Path

from runbook.screens import create_app
from runbook.screens.app import LabScenario


def test_demo_keeps_its_lab_in_the_data_directory_unless_fresh(tmp_path: Path) -> None:
    kept = create_app(data_dir=tmp_path / "data", lab="healthy").lab
    assert isinstance(kept, LabScenario) and kept.keep
    assert kept.directory.name == "demo-lab"
    assert kept.directory.parent.samefile(tmp_path / "data")
    fresh = create_app(data_dir=tmp_path / "data", lab="healthy", fresh_lab=True).lab
    assert isinstance(fresh, LabScenario) and not fresh.keep
