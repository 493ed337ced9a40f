"""`runbook serve` in a real browser: headless Chromium loads the page and uses the app."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.cdp import Browser, chromium_binary
from tests.tui.observed import SECRET, reader_when_ready, start_run

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(args: list[str], env: dict[str, str], cwd: Path,
            options: tuple[str, ...] = ()) -> Iterator[str]:
    """`runbook OPTIONS serve ARGS` on a free loopback port; yields its URL once it answers."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "runbook", *options, "serve", "--port",
                             str(port), *args], env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60  # a limit on waiting, not a timing assertion
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                with urllib.request.urlopen(url, timeout=5):
                    break
            except OSError:
                assert time.monotonic() < deadline, "runbook serve never answered"
                time.sleep(0.2)  # waiting for the server to listen
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def serve_env(tmp: Path) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp),
            "RUNBOOK_HOME": str(tmp / "data"), "XDG_CONFIG_HOME": str(tmp / "config")}


async def test_the_served_home_screen_reacts_to_a_key(tmp_path: Path) -> None:
    chromium_binary()
    with serving([], serve_env(tmp_path), tmp_path) as url:
        async with Browser(tmp_path / "chromium") as browser:
            await browser.goto(url)
            shown = await browser.wait_for("Procedures")
            assert "No inventory" not in shown
            await browser.press("i")
            await browser.wait_for("No inventory")


async def test_the_served_observer_shows_a_run_progressing(
        sshd: Any, tmp_path: Path, journal_backend: str | None) -> None:
    """The change board's page, while another process drives a run over real sshd: the run's
    later step and its output appear on the page as they happen (a team journal is named
    with --journal, which the served observers get through their environment)."""
    chromium_binary()
    proc, gate = await start_run(sshd, tmp_path)
    try:
        (await reader_when_ready(journal_backend, sshd.data_dir)).close()  # the run exists
        env = {**serve_env(tmp_path), "RUNBOOK_HOME": str(sshd.data_dir)}
        options = ("--journal", journal_backend) if journal_backend else ()
        with serving(["--observe"], env, tmp_path, options) as url:
            async with Browser(tmp_path / "chromium") as browser:
                await browser.goto(url)
                await browser.wait_for("test.observed")
                await browser.press("Enter")
                await browser.wait_for("first-output-line")
                shown = await browser.wait_for("running")
                assert "second-output-line" not in shown  # the second step waits for us
                gate.touch()
                shown = await browser.wait_for("second-output-line")
                await browser.wait_for("succeeded")
                assert SECRET not in shown
    finally:
        if proc.returncode is None:
            gate.touch()
        out, err = await proc.communicate()
    assert proc.returncode == 0, out.decode() + err.decode()
