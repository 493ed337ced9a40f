"""Secrets reach a device's command on its stdin: never on any process list or environment of
the device (a real OpenSSH sshd), and masked even when the device wraps them across lines."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

from runbook.events import StepStarted
from runbook.inventory import Inventory
from runbook.loader import load_procedure
from runbook.redact import MASK

from .helpers import engine_for, write_procedure

SECRET = "Tr0ub4dor&3-ops-SECRET"

HOLD = """
id: test.hold
title: Hold a secret while sleeping
vendor: test
source: {document: tests}
risk: low
params:
  dev: {type: target}
  dir: {type: string}
  key: {type: secret}
steps:
  - id: use
    title: Use the key, then sleep
    kind: run
    target: dev
    secrets: {KEY: "{{ key }}"}
    stdin: "{{ key }}\\n"
    command: >-
      printf '%s' "$KEY" | sha256sum > {{ dir }}/got-var;
      sha256sum > {{ dir }}/got-stdin;
      sleep 120 & sleeper=$!;
      echo up > {{ dir }}/ready; read x < {{ dir }}/release; kill $sleeper; echo done
"""


def forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    b64 = base64.b64encode(raw)
    return [raw, b64, b64.rstrip(b"="), raw.hex().encode(), raw.hex().upper().encode()]


def scan_proc() -> tuple[int, list[str]]:
    """Read every /proc/*/cmdline and /proc/*/environ we may; return how many were read and
    the ones holding a form of the secret."""
    read, found = 0, []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        for part in ("cmdline", "environ"):
            try:
                data = Path(f"/proc/{pid}/{part}").read_bytes()
            except OSError:
                continue
            read += 1
            if any(f in data for f in forms(SECRET)):
                found.append(f"{pid}/{part}: {data[:200]!r}")
    return read, found


def sha256(data: bytes) -> str:
    import hashlib
    return hashlib.sha256(data).hexdigest()


async def test_a_sleeping_step_shows_its_secret_in_no_process(sshd, tmp_path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    os.mkfifo(work / "ready")
    os.mkfifo(work / "release")
    path = write_procedure(tmp_path, HOLD)
    engine, _, rec = engine_for(sshd.data_dir)
    run_id = engine.create(load_procedure(path), path.read_text(), str(path),
                           {"dev": sshd.name, "dir": str(work)}, {"key": SECRET},
                           Inventory.load(sshd.inventory_path))
    run = asyncio.create_task(engine.execute(run_id, {"key": SECRET}))

    assert await asyncio.to_thread((work / "ready").read_text) == "up\n"  # it now sleeps
    read, found = scan_proc()
    shells = [p for p in os.listdir("/proc") if p.isdigit()
              and b"release" in _read(f"/proc/{p}/cmdline")]
    await asyncio.to_thread((work / "release").write_text, "go\n")

    assert await run == "succeeded"
    assert found == []
    assert shells, "the step's shell was not seen on the process list: the scan proved nothing"
    assert read > 20
    assert (work / "got-var").read_text().split()[0] == sha256(SECRET.encode())
    assert (work / "got-stdin").read_text().split()[0] == sha256(SECRET.encode() + b"\n")
    assert "done" in rec.lines("use")


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError:
        return b""


WRAP = """
id: test.wrap
title: A device that wraps what it echoes
vendor: test
source: {document: tests}
risk: low
params:
  dev: {type: target}
  key: {type: secret}
steps:
  - id: fold
    title: Echo the key folded at 10 columns
    kind: run
    target: dev
    secrets: {KEY: "{{ key }}"}
    command: >-
      printf 'key: %s\\n' "$KEY" | fold -w 10
  - id: indent
    title: Echo it wrapped with indentation
    kind: run
    target: dev
    secrets: {KEY: "{{ key }}"}
    command: printf '%s\\n' "$KEY" | fold -w 7 | sed 's/^/    /'
  - id: apart
    title: Echo it in two writes, a while apart
    kind: run
    target: dev
    secrets: {KEY: "{{ key }}"}
    command: >-
      printf '%s' "$KEY" | head -c 10; echo; sleep 1;
      printf '%s\\n' "$KEY" | tail -c +11; echo after
"""


async def test_a_secret_wrapped_by_the_device_is_masked_everywhere(ssh_device, tmp_path) -> None:
    path = write_procedure(tmp_path, WRAP)
    engine, journal, rec = engine_for(ssh_device.data_dir)
    run_id = engine.create(load_procedure(path), path.read_text(), str(path),
                           {"dev": ssh_device.name}, {"key": SECRET},
                           Inventory.load(ssh_device.inventory_path))

    assert await engine.execute(run_id, {"key": SECRET}) == "succeeded"
    journal.close()

    started = [e.command for e in rec.of(StepStarted)]
    assert started == ssh_device.server.commands  # shown and journaled: exactly what was sent
    assert all("IFS= read -r KEY" in c and SECRET not in c for c in started)
    pieces = ["Tr0ub4dor&", "3-ops-SECR", "Tr0ub4d", "or&3-op", "s-SECRE", "3-ops-SECRET"]
    shown = "\n".join(rec.lines())
    assert MASK in shown and "after" in shown
    for piece in pieces:
        assert piece not in shown, (piece, shown)
    files = [p for p in ssh_device.data_dir.rglob("*") if p.is_file()]
    assert any(p.name == "journal.db" for p in files)
    for p in files:
        data = p.read_bytes()
        for piece in pieces:
            assert piece.encode() not in data, (p.name, piece)


def _proc(step: str) -> str:
    return ("id: t.s\ntitle: T\nvendor: test\nsource: {document: t}\nrisk: low\n"
            "params:\n  dev: {type: target}\n  key: {type: secret}\n"
            "steps:\n  - id: s\n    title: S\n    kind: run\n    target: dev\n" + step)


def test_a_secret_in_a_command_is_refused_where_it_stands_with_the_fix() -> None:
    import pytest

    from runbook.errors import ProcedureError
    from runbook.loader import load_procedure_text

    cases = [
        ("    command: cp_conf sic init {{ key }} norestart\n",
         'add `secrets: {KEY: "{{ key }}"}` to the step and write "$KEY" in the command'),
        ("    command: 'true'\n    verify: check {{ key }}\n",
         "secrets can only reach a run or wait step's command"),
        ("    command: 'true'\n    rollback:\n      - undo {{ key }}\n",
         "secrets can only reach a run or wait step's command"),
    ]
    for step, fix in cases:
        text = _proc(step)
        with pytest.raises(ProcedureError) as err:
            load_procedure_text(text, "p.yaml")
        assert "is a secret and would be on the device's process list" in err.value.detail
        assert fix in err.value.detail
        line = text.splitlines()[err.value.line - 1]
        assert line[err.value.column - 1:].startswith("{{ key }}")
    with pytest.raises(ProcedureError, match="not a shell variable name"):
        load_procedure_text(_proc("    command: 'true'\n    secrets: {1X: '{{ key }}'}\n"), "p")
    ok = load_procedure_text(_proc('    command: use "$KEY"\n    secrets: {KEY: "{{ key }}"}\n'
                                   '    stdin: "{{ key }}"\n'), "p.yaml")
    assert ok.steps[0].secrets == {"KEY": "{{ key }}"}  # type: ignore[union-attr]


WAIT = """
id: test.wait-secret
title: Poll with a secret
vendor: test
source: {document: tests}
risk: low
params:
  dev: {type: target}
  key: {type: secret}
steps:
  - id: poll
    title: Poll until the device holds the key
    kind: wait
    target: dev
    interval: 0.1
    timeout: 30
    secrets: {KEY: "{{ key }}"}
    command: test -e polled || { touch polled; exit 1; }; test "$KEY" = "$(cat expected)"
"""


async def test_a_wait_step_gets_its_secret_on_every_poll(ssh_device, tmp_path) -> None:
    (ssh_device.root / "expected").write_text(SECRET)  # the first poll fails, the second checks
    path = write_procedure(tmp_path, WAIT)
    engine, _, rec = engine_for(ssh_device.data_dir)
    run_id = engine.create(load_procedure(path), path.read_text(), str(path),
                           {"dev": ssh_device.name}, {"key": SECRET},
                           Inventory.load(ssh_device.inventory_path))
    run = engine.execute(run_id, {"key": SECRET})

    assert await run == "succeeded"
    assert len(ssh_device.server.commands) >= 2
    assert not any(SECRET in c for c in ssh_device.server.commands)
