"""Fleet-scale measures: 1,000 targets side by side, peak RSS, rolling batches, and profiles.

Called by `python -m bench.run`; each figure is measured in the same run as its baseline.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from . import contenders as c
from .sshd import Sshd

REPO = Path(__file__).resolve().parent.parent


def rolling_procedure(command: str, serial: list[Any], concurrency: int) -> str:
    """A fan-out rolled out in batches (a canary, then 10% at a time)."""
    return (f"id: bench.rolling\ntitle: Rolling\nvendor: bench\nsource: {{document: bench}}\n"
            f"risk: low\nparams: {{devs: {{type: targets}}}}\nsteps:\n"
            f"  - {{id: s, title: S, kind: run, foreach: devs, concurrency: {concurrency}, "
            f"serial: {serial!r}, command: {command!r}}}\n")


def cli_run(sshd: Sshd, work: Path, text: str, n: int, params: list[str]) -> dict[str, float]:
    """`runbook run` in a fresh process: wall time (process start included) and peak RSS."""
    work.mkdir(parents=True, exist_ok=True)
    proc = work / "procedure.yaml"
    proc.write_text(text)
    env = {**os.environ, "RUNBOOK_HOME": str(work / "data"), "PYTHONPATH": str(REPO)}
    code = ("import resource,subprocess,sys,time\nt=time.perf_counter()\n"
            "subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,check=True)\n"
            "print(time.perf_counter()-t,resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    args = [sys.executable, "-m", "runbook", "run", str(proc), "-i", str(sshd.inventory(n))]
    for p in params:
        args += ["-p", p]
    out = subprocess.run([sys.executable, "-c", code, *args, "--yes"], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    return {"s": float(out[0]), "peak_rss_mib": int(out[1]) / 1024}


def ansible_rolling(sshd: Sshd, work: Path, n: int, command: str, serial: list[Any],
                    forks: int) -> float | None:
    """ansible-playbook with `serial` (the same canary and batches), raw module."""
    bin_dir = c.ansible_bin()
    if bin_dir is None:
        return None
    inv = c.ansible_inventory(sshd, n)
    book = work / "rolling.yaml"
    book.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "serial": serial,
                                     "tasks": [{"name": "s", "raw": command}]}]))
    t0 = time.perf_counter()
    subprocess.run([str(bin_dir / "ansible-playbook"), "-i", str(inv), "-f", str(forks),
                    str(book)], env=c.ansible_env(sshd, work, False), check=True,
                   capture_output=True)
    return time.perf_counter() - t0


def profile_summary(prof: cProfile.Profile, top: int = 6) -> list[dict[str, Any]]:
    """Where the time went: the functions with the most own time, grouped by package."""
    stats = pstats.Stats(prof)
    by_area: dict[str, float] = {}
    rows = []
    for (file, line, func), (_, _, own, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        area = ("runbook" if "/runbook/" in file else "asyncssh" if "asyncssh" in file
                else "sqlite3" if "sqlite" in func or "sqlite" in file
                else "event loop / selectors" if "asyncio" in file or "selectors" in file
                else "crypto" if "cryptography" in file or "hashlib" in func
                else "other")
        by_area[area] = by_area.get(area, 0.0) + own
        rows.append((own, f"{Path(file).name}:{line} {func}", cum))
    rows.sort(reverse=True)
    total = sum(by_area.values()) or 1.0
    return [{"area": a, "share": round(t / total, 3)}
            for a, t in sorted(by_area.items(), key=lambda kv: -kv[1])] + \
        [{"function": name, "own_s": round(own, 3), "cum_s": round(cum, 3)}
         for own, name, cum in rows[:top]]
