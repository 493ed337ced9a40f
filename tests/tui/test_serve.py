"""`runbook serve`: the UI in a browser through textual-serve, with no PATH or venv assumed."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_offers_the_app_on_loopback_with_this_interpreter(tmp_path: Path) -> None:
    port = free_port()
    env = {"PATH": "/nonexistent", "PYTHONPATH": str(REPO), "HOME": str(tmp_path),
           "RUNBOOK_HOME": str(tmp_path / "data")}
    proc = subprocess.Popen([sys.executable, "-m", "runbook", "serve", "--port", str(port)],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        page = ""
        deadline = time.monotonic() + 60  # a limit on waiting, not a timing assertion
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    page = r.read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert "runbook" in page, proc.stdout.read().decode() if proc.poll() is not None else ""
        assert f"ws://127.0.0.1:{port}/ws" in page  # the terminal's websocket
    finally:
        proc.terminate()
        proc.wait(timeout=10)
