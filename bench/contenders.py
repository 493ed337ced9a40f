"""The other contenders and measures: Ansible, multi-step asyncssh, peak RSS and the TUI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncssh
import yaml

from .sshd import Sshd

REPO = Path(__file__).resolve().parent.parent
VENV = Path.home() / ".cache" / "runbook-bench" / "ansible-venv"


def ansible_bin() -> Path | None:
    """ansible-core in the benchmark's own venv (installed on first use), or None and why."""
    tool = VENV / "bin" / "ansible"
    if not tool.exists():
        print("bench: installing ansible-core into the benchmark's own venv", file=sys.stderr)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
            subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "ansible-core"],
                           check=True, capture_output=True)
        except (subprocess.CalledProcessError, OSError) as exc:
            print(f"bench: no Ansible contender ({exc})", file=sys.stderr)
            return None
    return VENV / "bin"


def ansible_env(sshd: Sshd, work: Path, persist: bool) -> dict[str, str]:
    """Host keys pinned, pipelining on; ControlPersist only when asked (multi-step)."""
    ssh_args = (f"-o UserKnownHostsFile={sshd.root / 'known_hosts'} "
                "-o StrictHostKeyChecking=yes ")
    ssh_args += "-o ControlMaster=auto -o ControlPersist=60s" if persist \
        else "-o ControlMaster=no"
    tmp = work / "ansible-tmp"
    tmp.mkdir(exist_ok=True)
    (work / "ansible.cfg").write_text("[defaults]\n")  # no user or system config
    return {**os.environ, "ANSIBLE_PIPELINING": "1", "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_SSH_ARGS": ssh_args, "ANSIBLE_LOCAL_TEMP": str(tmp),
            "ANSIBLE_NOCOLOR": "1", "ANSIBLE_CONFIG": str(work / "ansible.cfg"),
            "ANSIBLE_PYTHON_INTERPRETER": "auto_silent"}


def ansible_inventory(sshd: Sshd, n: int) -> Path:
    """The runbook inventory plus one control socket per host, so that hosts on the same
    address and port do not share a master connection (each target is its own device)."""
    data = yaml.safe_load(sshd.inventory(n).read_text())
    sockets = Path(tempfile.mkdtemp(prefix="rbcp-", dir="/tmp"))
    for name, host in data["all"]["hosts"].items():
        host["ansible_control_path"] = str(sockets / name)
    path = sshd.root / f"ansible-{n}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def ansible_fanout(sshd: Sshd, work: Path, n: int, command: str, forks: int) -> float | None:
    bin_dir = ansible_bin()
    if bin_dir is None:
        return None
    inv = ansible_inventory(sshd, n)
    t0 = time.perf_counter()
    subprocess.run([str(bin_dir / "ansible"), "all", "-i", str(inv), "-m", "raw", "-a", command,
                    "-f", str(forks)], env=ansible_env(sshd, work, False), check=True,
                   capture_output=True)
    return time.perf_counter() - t0


def ansible_playbook(sshd: Sshd, work: Path, n: int, commands: list[str],
                     forks: int) -> float | None:
    bin_dir = ansible_bin()
    if bin_dir is None:
        return None
    inv = ansible_inventory(sshd, n)
    book = work / "playbook.yaml"
    book.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": f"step {i}", "raw": c} for i, c in enumerate(commands)]}]))
    t0 = time.perf_counter()
    subprocess.run([str(bin_dir / "ansible-playbook"), "-i", str(inv), "-f", str(forks),
                    str(book)], env=ansible_env(sshd, work, True), check=True,
                   capture_output=True)
    return time.perf_counter() - t0


async def asyncssh_steps(sshd: Sshd, n: int, commands: list[str], concurrency: int) -> float:
    """The floor for multi-step: one connection per target, each step across all targets
    (as runbook and Ansible's linear strategy do), `concurrency` at a time."""
    sem = asyncio.Semaphore(concurrency)
    t0 = time.perf_counter()
    conns = await asyncio.gather(*(asyncssh.connect(**sshd.connect_args()) for _ in range(n)))

    async def one(conn: asyncssh.SSHClientConnection, command: str) -> None:
        async with sem:
            assert (await conn.run(command)).exit_status == 0

    try:
        for command in commands:
            await asyncio.gather(*(one(c, command) for c in conns))
    finally:
        for c in conns:
            c.close()
    return time.perf_counter() - t0


def cli_stream(sshd: Sshd, work: Path, text: str) -> dict[str, float]:
    """`runbook run` of a streaming procedure in a fresh process: wall time and peak RSS."""
    proc = work / f"stream-{len(text)}.yaml"
    proc.write_text(text)
    env = {**os.environ, "RUNBOOK_HOME": str(work / "cli-data"), "PYTHONPATH": str(REPO)}
    code = ("import resource,subprocess,sys,time\nt=time.perf_counter()\n"
            "subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,check=True)\n"
            "print(time.perf_counter()-t,resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "runbook", "run",
                          str(proc), "-i", str(sshd.inventory(1)), "-p", "dev=dev000", "--yes"],
                         env=env, capture_output=True, text=True, check=True).stdout.split()
    return {"s": float(out[0]), "peak_rss_mib": int(out[1]) / 1024}


def tui_stream(sshd: Sshd, work: Path, text: str) -> dict[str, float]:
    """The same step run in the headless Textual app, as `runbook run` runs it in a fresh
    process: the whole (process start and imports included) until the run has succeeded,
    start-up (until the step starts, from the journal) and the step itself."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    work.mkdir(parents=True, exist_ok=True)
    data, proc = work / "tui-data", work / "tui-stream.yaml"
    proc.write_text(text)
    prepare = f"""
from bench.run import engine
from runbook.inventory import Inventory
from runbook.loader import load_procedure_text
text = open({str(proc)!r}).read()
e = engine(__import__("pathlib").Path({str(data)!r}))
print(e.create(load_procedure_text(text), text, "bench.yaml", {{"dev": "dev000"}}, {{}},
               Inventory.load({str(sshd.inventory(1))!r})))
"""
    run_id = subprocess.run([sys.executable, "-c", prepare], env=env, capture_output=True,
                            text=True, check=True).stdout.split()[-1]
    code = f"""
import asyncio, resource, time
from datetime import datetime
from runbook.screens import create_app
async def main():
    app = create_app(data_dir={str(data)!r}, inventory_path={str(sshd.inventory(1))!r},
                     open_run={run_id!r}, resume=True)
    async with app.run_test(size=(120, 40)) as pilot:
        journal = app.backend.journal
        while journal.get_run({run_id!r}).state != "succeeded":
            await pilot.pause(0.02)
        a = journal.attempts({run_id!r})[-1]
        step = (datetime.fromisoformat(a.finished_at) - datetime.fromisoformat(a.started_at))
        print(time.time(), datetime.fromisoformat(a.started_at).timestamp(),
              step.total_seconds(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
asyncio.run(main())
"""
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    end, started, step, rss = float(out[-4]), float(out[-3]), float(out[-2]), int(out[-1])
    return {"s": end - t0, "startup_s": started - t0, "step_s": step, "peak_rss_mib": rss / 1024}


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def fmt(value: Any, unit: str = "s") -> str:
    return "n/a" if value is None else f"{value:.2f}{unit}"
