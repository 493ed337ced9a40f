"""`runbook demo` in a real terminal (tmux): reach Home and run the FMC renewal to the end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from ..helpers import REPO


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def screen(session: str) -> str:
    return tmux("capture-pane", "-t", session, "-p")


def wait_for(session: str, text: str, seconds: float = 90, gone: str | None = None,
             also: str = "") -> str:
    """Poll the terminal until `text` (and `also`) show, and `gone` does not; returns the
    screen. Textual paints in several frames, so everything asserted is waited for."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        shown = screen(session)
        if text in shown and also in shown and (gone is None or gone not in shown):
            return shown
        time.sleep(0.2)  # polling a terminal we do not control: no event to wait on
    raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen(session)}")


def test_demo_runs_the_fmc_renewal_in_tmux(tmp_path) -> None:
    if shutil.which("tmux") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is required in CI (apt-get install tmux)")
        pytest.skip("tmux is not installed")
    session = f"rb-{uuid.uuid4().hex[:8]}"
    command = (f"cd {REPO} && RUNBOOK_HOME={tmp_path / 'home'} PYTHONPATH={REPO} "
               f"{sys.executable} -m runbook demo")
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", command)
    try:
        home = wait_for(session, "lab devices are up")
        assert "Procedures" in home
        tmux("send-keys", "-t", session, "/")
        tmux("send-keys", "-t", session, "-l", "sftunnel")
        wait_for(session, "Renew the FMC sftunnel", gone="Re-SIC")  # filtered as typed
        tmux("send-keys", "-t", session, "Enter")  # to the list
        tmux("send-keys", "-t", session, "Enter")  # open the procedure
        wait_for(session, "Start run")
        tmux("send-keys", "-t", session, "C-r")
        wait_for(session, "Confirmation needed", also="Regenerate the sftunnel InternalCA")
        tmux("send-keys", "-t", session, "r")
        done = wait_for(session, "✔ succeeded", 120)
        assert "✘" not in done
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
