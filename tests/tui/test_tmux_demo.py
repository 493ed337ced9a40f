"""`runbook demo` in a real terminal (tmux): reach Home and run the FMC renewal to the end, and
resume it after the terminal UI was killed mid-run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ..helpers import REPO


def tmux(session: str, *args: str) -> str:
    """Run a tmux command on the session's own server (`-L`): tests never share a server, so
    none races another's shutdown (a server exits with its last session)."""
    done = subprocess.run(["tmux", "-L", session, *args], capture_output=True, text=True)
    if done.returncode:
        raise AssertionError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def end(session: str) -> None:
    subprocess.run(["tmux", "-L", session, "kill-server"], capture_output=True)


def screen(session: str) -> str:
    return tmux(session, "capture-pane", "-t", session, "-p")


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


def demo(session: str, home: Path) -> None:
    """`runbook demo` in a new tmux session; the pane's process is runbook itself."""
    command = (f"cd {REPO} && exec env RUNBOOK_HOME={home} PYTHONPATH={REPO} "
               f"{sys.executable} -m runbook demo")
    tmux(session, "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command)


def open_fmc_renewal(session: str) -> None:
    """From Home, filter, go to the list, open the procedure: each key waits for its effect."""
    tmux(session, "send-keys", "-t", session, "/")
    wait_for(session, "/ Filter", gone="o Open run")  # the filter has the focus: only its key
    tmux(session, "send-keys", "-t", session, "-l", "sftunnel")
    wait_for(session, "Renew the FMC sftunnel", gone="Re-SIC")  # filtered as typed
    tmux(session, "send-keys", "-t", session, "Enter")  # to the list
    wait_for(session, "o Open run")  # the list has the focus: its keys are shown
    tmux(session, "send-keys", "-t", session, "Enter")  # open the procedure
    wait_for(session, "Start run")


def need_tmux() -> None:
    if shutil.which("tmux") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is required in CI (apt-get install tmux)")
        pytest.skip("tmux is not installed")


def test_demo_runs_the_fmc_renewal_in_tmux(tmp_path: Path) -> None:
    need_tmux()
    session = f"rb-{uuid.uuid4().hex[:8]}"
    demo(session, tmp_path / "home")
    try:
        home = wait_for(session, "lab devices are up")
        assert "Procedures" in home
        open_fmc_renewal(session)
        tmux(session, "send-keys", "-t", session, "C-r")
        wait_for(session, "Confirmation needed", also="Regenerate the sftunnel InternalCA")
        tmux(session, "send-keys", "-t", session, "r")
        done = wait_for(session, "✔ succeeded", 120)
        assert "✘" not in done
    finally:
        end(session)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_demo_run_resumes_after_the_terminal_ui_is_killed(tmp_path: Path) -> None:
    """SIGKILL mid-run: the next `runbook demo` brings the same lab back (its host keys, ports
    and device state), and the run resumes on it and finishes."""
    need_tmux()
    home = tmp_path / "home"
    first, second = f"rb-{uuid.uuid4().hex[:8]}", f"rb-{uuid.uuid4().hex[:8]}"
    demo(first, home)
    try:
        wait_for(first, "lab devices are up")
        known_hosts = (home / "demo-lab" / "known_hosts").read_text()
        open_fmc_renewal(first)
        tmux(first, "send-keys", "-t", first, "C-r")
        # mid-run: the checks and backups ran, the CA regeneration waits for its confirmation
        wait_for(first, "Confirmation needed", also="Regenerate the sftunnel InternalCA")
        pid = int(tmux(first, "display-message", "-p", "-t", first, "#{pane_pid}").strip())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not gone(pid):
            assert time.monotonic() < deadline, "runbook survived SIGKILL"
            time.sleep(0.05)  # polling for the kernel to finish the kill: no event for it
    finally:
        end(first)

    demo(second, home)
    try:
        wait_for(second, "lab devices are up", also="brought back")
        assert (home / "demo-lab" / "known_hosts").read_text() == known_hosts
        tmux(second, "send-keys", "-t", second, "r")  # resume the unfinished run
        wait_for(second, "Resume run", also="generate")
        tmux(second, "send-keys", "-t", second, "y")
        wait_for(second, "Confirmation needed", also="Regenerate the sftunnel InternalCA")
        tmux(second, "send-keys", "-t", second, "r")
        done = wait_for(second, "✔ succeeded", 120)
        assert "✘" not in done
    finally:
        end(second)
