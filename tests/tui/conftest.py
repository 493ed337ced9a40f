"""TUI test fixtures: a fixed clock, an inventory, recorded runs in a real journal."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

import runbook.journal as journal_mod
from runbook import Engine, Inventory, Journal, load_procedure
from runbook.events import DecisionNeeded
from runbook.headless import FlagDecider

HERE = Path(__file__).parent
DEMO = HERE / "procedures" / "demo.yaml"
START = datetime(2026, 11, 22, 1, 30, tzinfo=UTC)
SECRET = "s3cr3t-token-value"

CERT_FACTS = {
    "subject": "CN=fw1.example.net,O=Example", "issuer": "CN=Example InternalCA",
    "serial": "1f2e3d4c", "not_before": "2025-11-22T00:00:00+00:00",
    "not_after": "2026-12-10T00:00:00+00:00", "days_left": 17,
    "fingerprint_sha256": "AB:CD:EF", "key_type": "RSA", "key_size": 2048,
    "self_signed": False, "in_date": True, "key_matches": True, "chains_to_ca": True,
    "chain_problem": "", "status": "warn", "problems": ["17 days left (warn under 30)"]}


class _Clock:
    """datetime stand-in for the journal: deterministic ids and timestamps."""

    ticks = itertools.count()

    @classmethod
    def now(cls, tz: Any = None) -> datetime:
        return START + timedelta(seconds=1.5 * next(cls.ticks))


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run ids, timestamps, user and host name that do not change between test runs."""
    _Clock.ticks = itertools.count()
    monkeypatch.setattr(journal_mod, "datetime", _Clock)
    monkeypatch.setattr(journal_mod, "now", lambda: _Clock.now().isoformat(
        timespec="microseconds"))
    monkeypatch.setattr(journal_mod._random, "token_hex", lambda n: "beef")
    monkeypatch.setattr(journal_mod.getpass, "getuser", lambda: "operator")
    monkeypatch.setattr(journal_mod.socket, "gethostname", lambda: "jumpbox")


def write_inventory(tmp: Path) -> Path:
    """Three devices with roles and groups; nothing listens on them (snapshots only)."""
    path = tmp / "inventory.yaml"
    path.write_text(yaml.safe_dump({"all": {
        "vars": {"ansible_user": "admin"},
        "children": {
            "gateways": {"hosts": {
                "fw1": {"ansible_host": "10.0.0.1", "runbook_role": ["test", "gateway"]},
                "fw2": {"ansible_host": "10.0.0.2", "runbook_role": "test"}}},
            "management": {"hosts": {
                "mgmt1": {"ansible_host": "10.0.0.10", "ansible_port": 2222,
                          "runbook_role": "mgmt"}}}}}}))
    return path


@dataclass
class Recorded:
    """A run recorded in a real journal in `data`."""

    data: Path
    inventory: Path
    run_id: str
    journal: Journal


def _engine(journal: Journal) -> Engine:
    return Engine(journal, FlagDecider(), transport_factory=lambda inv: None,
                  inventory_from_snapshot=Inventory.from_snapshot)


def record_run(tmp: Path, *, state: str = "failed") -> Recorded:
    """A run of the demo procedure: check ok, cert ok (with facts), write-label failed."""
    data = tmp / "data"
    data.mkdir(mode=0o700, exist_ok=True)
    inv_path = write_inventory(tmp)
    journal = Journal.open(data)
    inv = Inventory.load(inv_path)
    run_id = _engine(journal).create(load_procedure(DEMO), DEMO.read_text(), str(DEMO),
                                     {"device": "fw1", "fleet": "role=test"},
                                     {"token": SECRET}, inv)
    j = journal
    a = j.start_attempt(run_id, "check", "fw1", "echo hello from fw1")
    j.append_output(a.id, "hello from fw1\n")
    j.finish_attempt(a.id, status="succeeded", exit_status=0, output_lines=1)
    a = j.start_attempt(run_id, "cert-now", "fw1", "read cert.pem")
    j.append_output(a.id, "".join(f"{k}: {CERT_FACTS[k]}\n" for k in
                                  ("subject", "issuer", "days_left", "status")))
    j.finish_attempt(a.id, status="succeeded", exit_status=0)
    j.append_event(run_id, "cert_facts_found", {"step_id": "cert-now", "target": "fw1",
                                                "facts": CERT_FACTS}, "cert-now", "fw1")
    a = j.start_attempt(run_id, "write-label", "fw1", "printf '%s\\n' renew > label.txt")
    if state == "in_doubt":
        j.append_output(a.id, "writing label\n")
        j.set_run_state(run_id, "running")
    else:
        j.append_output(a.id, "sh: label.txt: Permission denied\n")
        j.finish_attempt(a.id, status="failed", exit_status=1,
                         reason="exit status 1, expected 0")
        j.set_run_state(run_id, "failed", "step write-label on fw1 failed: exit status 1, "
                                          "expected 0")
    return Recorded(data, inv_path, run_id, journal)


@pytest.fixture
def recorded(tmp_path: Path, fixed_clock: None) -> Iterator[Recorded]:
    rec = record_run(tmp_path)
    yield rec
    rec.journal.close()


def in_doubt_request(run_id: str) -> DecisionNeeded:
    """The question the engine asks about an interrupted step (as recorded)."""
    return DecisionNeeded(
        run_id, "write-label", "fw1", "in_doubt",
        "Step write-label on fw1 was running `printf '%s\\n' renew > label.txt` when the run "
        "was interrupted; it may or may not have taken effect.",
        {"command": "printf '%s\\n' renew > label.txt", "started_at": "2026-11-22T01:30:06",
         "attempt": 1, "verify": "test -f label.txt",
         "output": "writing label\nlabel 1 of 2 written\n",
         "choices": ["rerun", "skip", "done", "verify", "stop", "abort"]})


def host_key_request(run_id: str) -> DecisionNeeded:
    return DecisionNeeded(
        run_id, None, "fw1", "host_key",
        "fw1 offers an unknown host key SHA256:q3Zx8vYp2mK1nR7tLw0aBcDeFgHiJkLmNoPqRsTuVwX. "
        "Trust it?",
        {"fingerprint": "SHA256:q3Zx8vYp2mK1nR7tLw0aBcDeFgHiJkLmNoPqRsTuVwX",
         "host": "10.0.0.1", "port": 22, "choices": ["accept", "refuse"]})
