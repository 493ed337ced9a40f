"""Target parameters take only the devices they declare (`accepts`), in the CLI as in the TUI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def inventory(tmp: Path) -> Path:
    path = tmp / "inventory.yaml"
    path.write_text(yaml.safe_dump({"all": {"children": {
        "checkpoint": {"hosts": {"mds1": {"ansible_host": "192.0.2.10", "runbook_role": "mds"}}},
        "solaris": {"hosts": {"sol1": {"ansible_host": "192.0.2.20",
                                       "runbook_role": "ike-host"}}}}}}))
    return path


def runbook(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO),
           "RUNBOOK_HOME": str(tmp / "data"), "HOME": str(tmp)}
    return subprocess.run([sys.executable, "-m", "runbook", *args], capture_output=True,
                          text=True, cwd=tmp, env=env, timeout=60)


def test_the_cli_refuses_a_device_of_the_wrong_role_with_exit_2(tmp_path: Path) -> None:
    out = runbook(tmp_path, "run", "solaris/ike-cert-replace", "-i", str(inventory(tmp_path)),
                  "-p", "host=mds1", "-p", "new_dn=C=US, O=Lab, CN=x1", "--yes")
    assert out.returncode == 2, out.stderr
    assert "host" in out.stderr and "mds1" in out.stderr and "ike-host" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "data").exists() or "mds1" not in out.stdout


def test_the_cli_takes_a_device_of_the_expected_role(tmp_path: Path) -> None:
    out = runbook(tmp_path, "plan", "solaris/ike-cert-replace", "-i", str(inventory(tmp_path)),
                  "-p", "host=sol1", "-p", "new_dn=C=US, O=Lab, CN=x1")
    assert out.returncode == 0, out.stderr
