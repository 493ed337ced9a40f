"""Key-press latency on the Run screen while 1,000 devices stream output (goal: <= 100 ms).

    python -m bench.tui_latency [--targets 1000] [--out bench/results.json]

Called by `python -m bench.run` too. The devices are one OpenSSH sshd on loopback named
1,000 times; the app runs headless (Textual's test driver) in this process. Each key press
(expand / collapse a fan-out step, the state filter, jump to the next failure, cursor moves)
is timed from the moment the key event is sent to the moment the screen has drawn its effect:
Textual hands every drawn frame to `App._display`, which is wrapped to stamp the time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from textual import events

from .sshd import Sshd

REPO = Path(__file__).resolve().parent.parent
PROCEDURE = """\
id: bench.tui
title: Fleet fan-out
vendor: bench
source: {{document: bench}}
risk: low
params: {{devs: {{type: targets}}}}
steps:
  - id: fan
    title: Stream on every device
    kind: run
    foreach: devs
    concurrency: 50
    serial: "10%"
    max_fail: 5
    command: seq 1 {lines}; test {{{{ target.name }}}} != dev007
"""
KEYS = ("space", "space", "f", "f", "f", "f", "n", "down", "up")


async def measure(sshd: Sshd, work: Path, n: int = 1000, presses: int = 45,
                  lines: int = 200) -> dict[str, Any]:
    """Press keys on the Run screen while the fan-out streams; latencies in ms."""
    from runbook.screens import create_app
    from runbook.screens.run import RunScreen
    from runbook.screens.widgets import StepTable

    work.mkdir(parents=True, exist_ok=True)
    proc_path = work / "tui-fanout.yaml"
    proc_path.write_text(PROCEDURE.format(lines=lines))
    app = create_app(data_dir=work / "data", inventory_path=sshd.inventory(n))
    procedure, text = app.backend.procedure(str(proc_path))
    run_id = app.backend.create_run(procedure, text, str(proc_path), {"devs": "role=bench"}, {})
    app.initial_run = run_id
    frames: list[float] = []
    shown = app._display

    def stamped(screen: Any, renderable: Any) -> None:
        shown(screen, renderable)
        if renderable is not None:
            frames.append(time.perf_counter())

    app._display = stamped  # type: ignore[method-assign,unused-ignore]
    latencies: list[float] = []
    handled: list[float] = []  # until the key's action had run (before the frame is drawn)
    lags: list[float] = []
    stop = asyncio.Event()

    async def lag() -> None:  # how late a 10 ms timer fires: what else holds the event loop
        while not stop.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append((time.perf_counter() - t - 0.01) * 1000)

    async with app.run_test(size=(120, 40)):
        run = app.screen
        assert isinstance(run, RunScreen)
        table = run.query_one(StepTable)
        run.start()
        probe = asyncio.create_task(lag())
        while not any(v.status == "failed" for v in run.views):
            await asyncio.sleep(0.05)
        streaming = 0
        for i in range(presses):
            if not run.running:
                break
            key = KEYS[i % len(KEYS)]
            before = _state(run, table)
            t0 = time.perf_counter()
            driver = app._driver
            assert driver is not None
            driver.send_message(events.Key(key, None))
            done = await _drawn(frames, t0, partial(_changed, run, table, before))
            if done is not None:
                handled.append((done[0] - t0) * 1000)
                latencies.append((done[1] - t0) * 1000)
                streaming += run.running
            await asyncio.sleep(0.1)  # a person's pace between presses
        stop.set()
        await probe
        run.workers.cancel_group(run, "run")
    latencies.sort()
    handled.sort()
    lags.sort()
    return {"targets": n, "lines_per_target": lines, "presses": len(latencies),
            "during_streaming": streaming,
            "median_ms": statistics.median(latencies) if latencies else None,
            "p95_ms": latencies[int(0.95 * (len(latencies) - 1))] if latencies else None,
            "max_ms": latencies[-1] if latencies else None,
            "handled_median_ms": statistics.median(handled) if handled else None,
            "loop_lag_median_ms": statistics.median(lags) if lags else None,
            "loop_lag_p95_ms": lags[int(0.95 * (len(lags) - 1))] if lags else None}


def _changed(run: Any, table: Any, before: tuple[Any, ...]) -> bool:
    return _state(run, table) != before


def _state(run: Any, table: Any) -> tuple[Any, ...]:
    return (table.row_count, table.cursor_row, run.groups.state_filter)


async def _drawn(frames: list[float], t0: float, changed: Callable[[], bool],
                 limit: float = 10.0) -> tuple[float, float] | None:
    """When the key's effect was there, and the first frame drawn after (None: never)."""
    while time.perf_counter() - t0 < limit:
        if changed():
            seen, effect = len(frames), time.perf_counter()
            while len(frames) == seen and time.perf_counter() - t0 < limit:
                await asyncio.sleep(0.001)
            return (effect, frames[seen]) if len(frames) > seen else None
        await asyncio.sleep(0.001)
    return None


def line(r: dict[str, Any]) -> str:
    if not r.get("presses"):
        return "TUI key press while streaming: not measured"
    return (f"TUI key press while {r['targets']} targets stream: median {r['median_ms']:.0f} ms, "
            f"p95 {r['p95_ms']:.0f} ms, max {r['max_ms']:.0f} ms over {r['presses']} presses "
            f"(action run after {r['handled_median_ms']:.0f} ms; the event loop's lag: median "
            f"{r['loop_lag_median_ms']:.0f} ms, p95 {r['loop_lag_p95_ms']:.0f} ms)")


async def main(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="runbook-bench-tui-"))
    sshd = Sshd(work / "sshd").start()
    try:
        return await measure(sshd, work / "tui", args.targets)
    finally:
        sshd.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--out", default=str(REPO / "bench" / "results.json"))
    a = parser.parse_args()
    res = asyncio.run(main(a))
    out = Path(a.out)
    doc = json.loads(out.read_text()) if out.exists() else {}
    doc["tui_latency"] = res
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(line(res), file=sys.stderr)
