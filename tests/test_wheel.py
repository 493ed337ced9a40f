"""The wheel: built from the checkout, installed into a fresh venv, `runbook` works from it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def sh(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("RUNBOOK_")}
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
              str(REPO), cwd=out)
    if done.returncode != 0:
        pytest.skip(f"cannot build the wheel here (no setuptools offline?): "
                    f"{done.stderr.strip().splitlines()[-1:]}")
    (found,) = out.glob("runbook_trust-*.whl")
    return found


def test_wheel_puts_nothing_generic_in_site_packages(wheel) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"runbook", next(t for t in tops if t.endswith(".dist-info"))}
    assert "runbook/screens/app.tcss" in names and "runbook/screens/app.py" in names
    assert "runbook/procedures/cisco/fmc-sftunnel-ca-renew.yaml" in names
    assert "runbook/procedure.schema.json" in names and "runbook/py.typed" in names
    assert "runbook/platforms/sudo.yaml" in names  # access profiles ship as data
    meta = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "runbook = runbook.commands.main:main" in zipfile.ZipFile(wheel).read(meta).decode()


def test_installed_wheel_runs_in_a_fresh_venv(wheel, tmp_path) -> None:
    venv = tmp_path / "venv"
    assert sh(sys.executable, "-m", "venv", str(venv), cwd=tmp_path).returncode == 0
    done = sh(str(venv / "bin" / "pip"), "install", "-q", str(wheel), cwd=tmp_path)
    if done.returncode != 0:
        pytest.skip(f"cannot install the wheel's dependencies here (offline, no cache?): "
                    f"{done.stderr.strip().splitlines()[-1:]}")
    tool = venv / "bin" / "runbook"
    helped = sh(str(tool), "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "Usage: runbook" in helped.stdout, helped.stderr
    checked = sh(str(tool), "validate", "cisco/fmc-sftunnel-ca-renew", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "cisco/fmc-sftunnel-ca-renew: ok (cisco.fmc-sftunnel-ca-renew" in checked.stdout
    where = sh(str(venv / "bin" / "python"), "-c",
               "import runbook, runbook.commands.main, runbook.library as l, sys;"
               "bare = 'textual' not in sys.modules; import runbook.screens;"
               "print(runbook.__file__); print(runbook.screens.__file__); "
               "print(len(l.catalogue())); print(bare)", cwd=tmp_path)
    lines = where.stdout.split()
    assert all(str(venv) in p for p in lines[:2]), where.stdout + where.stderr
    assert int(lines[2]) >= 8 and lines[3] == "True"  # runbook alone never imports Textual
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert not (site / "screens").exists() and not (site / "procedures").exists()
