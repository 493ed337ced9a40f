"""Build the change record of a run from the journal: who, where, when, what, and the proof."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from ..journal import Journal
from ..journal_chain import canonical, verify_chain
from ..journal_records import EventRecord
from ..loader import load_procedure_text
from ..paths import write_private
from ..redact import MASK

FORMAT = "runbook-change-record"
VERSION = 1
SEAL = "record_sealed"  # the event that carries the digest of every section of the record
UNSEALED = ("events", "chain", "signature")  # the chain covers itself; a signature, the head
ROLLBACK = ("rollback_refusal", "rollback_started", "file_restored", "rollback_command",
            "step_rolled_back", "rollback_finished")  # the events of the record's rollbacks
HEAD_LINES = 40
TAIL_LINES = 40


def _local(ts: str | None) -> str | None:
    """An ISO UTC timestamp in the exporting machine's local time."""
    return datetime.fromisoformat(ts).astimezone().isoformat(timespec="seconds") if ts else None


def _seconds(a: str | None, b: str | None) -> float | None:
    if not (a and b):
        return None
    return round((datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds(), 3)


def trim(text: str) -> tuple[str, bool]:
    """Keep the head and tail of long output; say how much was left out."""
    lines = text.splitlines()
    if len(lines) <= HEAD_LINES + TAIL_LINES:
        return text, False
    cut = len(lines) - HEAD_LINES - TAIL_LINES
    kept = lines[:HEAD_LINES] + [f"[... {cut} lines left out; see the full log ...]"]
    return "\n".join(kept + lines[-TAIL_LINES:]) + "\n", True


def build_record(journal: Journal, run_id: str, logs_dir: Path | None = None) -> dict[str, Any]:
    """The whole change record of a run as a JSON-ready dict.

    When `logs_dir` is given, the full output of every attempt whose output was trimmed is
    written there (mode 0600) and the record names the file.
    """
    run = journal.get_run(run_id)
    procedure = load_procedure_text(run.procedure_text, run.procedure_path)
    events = journal.events(run.id)
    secret_names = set(run.secret_names)
    params = {**run.params, **{n: MASK for n in secret_names}}
    targets: dict[str, dict[str, Any]] = {}
    for name, t in (run.inventory.get("hosts") or {}).items():
        targets[name] = {"name": name, "host": t.get("host"), "port": t.get("port"),
                         "user": t.get("user"), "host_key": None}
    for e in events:
        if e.kind == "connected":
            targets.setdefault(e.data["target"], {"name": e.data["target"]})
            targets[e.data["target"]].update(host=e.data["host"], port=e.data["port"],
                                             host_key=e.data["fingerprint"])
    used = {a.target for a in journal.attempts(run.id) if a.target}
    backups = journal.backups(run.id)
    steps = []
    for step in procedure.steps:
        attempts = []
        for a in journal.attempts(run.id):
            if a.step_id != step.id:
                continue
            text = journal.output(a.id)
            shown, trimmed = trim(text)
            log = None
            if trimmed and logs_dir is not None:
                logs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                log_path = logs_dir / f"{a.id:05d}-{step.id}-{a.target or 'local'}.log"
                write_private(log_path, text)
                log = str(log_path)
            attempts.append({
                "target": a.target, "attempt": a.attempt, "status": a.status,
                "command": a.command, "started_at": a.started_at, "finished_at": a.finished_at,
                "started_local": _local(a.started_at), "seconds": _seconds(a.started_at,
                                                                           a.finished_at),
                "exit_status": a.exit_status, "reason": a.reason,
                "output": {"text": shown, "trimmed": trimmed, "lines": a.output_lines,
                           "bytes": a.output_bytes, "sha256": a.output_sha256, "full_log": log}})
        steps.append({
            "id": step.id, "title": step.title, "kind": step.kind,
            "description": step.description, "confirm": bool(step.confirm),
            "status": attempts[-1]["status"] if attempts else "pending",
            "attempts": attempts,
            "backups": [_backup(b) for b in backups if b.step_id == step.id],
            "rollback": list(step.rollback),
            "certificates": [e.data["facts"] for e in events if e.kind == "cert_facts_found"
                             and e.step_id == step.id]})
    first = events[0].ts if events else run.created_at
    last = events[-1].ts if events else run.updated_at
    record = {
        "format": FORMAT, "version": VERSION,
        "run": {"id": run.id, "state": run.state, "reason": run.reason,
                "created_at": run.created_at, "started_at": first, "finished_at": last,
                "started_local": _local(first), "finished_local": _local(last),
                "user": run.user, "hostname": run.hostname},
        "procedure": {"id": procedure.id, "title": procedure.title, "vendor": procedure.vendor,
                      "risk": procedure.risk, "version": procedure.version,
                      "sha256": run.procedure_hash, "path": run.procedure_path,
                      "source": procedure.source.model_dump(),
                      "description": procedure.description},
        "params": params,
        "targets": [targets[n] for n in sorted(targets) if n in used or targets[n].get("host_key")],
        "steps": steps,
        "operators": [_event(e) for e in events if e.kind == "operator"],
        "approvals": [_event(e) for e in events if e.kind == "approved"],
        "decisions": [_event(e) for e in events if e.kind == "decision_made"],
        "comments": [_event(e) for e in events if e.kind == "comment"],
        "rollbacks": [{"event": e.kind, **_event(e)} for e in events if e.kind in ROLLBACK],
    }
    # Seal: every section's digest goes into the chain as its last event, so that verify can
    # tell an edited parameter or exit status, not only an edited event.
    journal.append_event(run.id, SEAL, {"format": FORMAT, "version": VERSION,
                                        "digests": digests(record)})
    events = journal.events(run.id)
    record["events"] = [{**e.body(), "prev_hash": e.prev_hash, "hash": e.hash} for e in events]
    record["chain"] = {"events": len(events), "head": events[-1].hash}
    return record


def _digest(value: Any) -> str:
    return hashlib.sha256(canonical(value).encode()).hexdigest()


def _label(value: Any, index: int) -> str:
    if isinstance(value, dict):
        for key in ("seq", "id", "name"):
            if value.get(key) is not None:
                return str(value[key])
    return f"#{index + 1}"


def digests(record: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Digest of every item of every section except the events (chained already): a dict
    section by key, a list by id/seq/name, a step apart from its attempts and backups (which
    are sections of their own), a plain value as the item ""."""
    out: dict[str, dict[str, str]] = {}

    def put(section: str, item: str, value: Any) -> None:
        out.setdefault(section, {})[item] = _digest(value)

    for key, value in record.items():
        if key in UNSEALED:
            continue
        out.setdefault(key, {})
        if key == "steps" and isinstance(value, list):
            for i, step in enumerate(value):
                sid = _label(step, i)
                rest = step if not isinstance(step, dict) else {
                    k: v for k, v in step.items() if k not in ("attempts", "backups")}
                put("steps", sid, rest)
                if not isinstance(step, dict):
                    continue
                out.setdefault("attempts", {})
                out.setdefault("backups", {})
                for n, a in enumerate(step.get("attempts") or []):
                    where = f" on {a.get('target')}" if isinstance(a, dict) and \
                        a.get("target") else ""
                    put("attempts", f"{sid} attempt {_attempt_no(a, n)}{where}", a)
                for n, b in enumerate(step.get("backups") or []):
                    path = b.get("path") if isinstance(b, dict) else None
                    put("backups", f"{sid} #{n + 1} {path}", b)
        elif isinstance(value, dict):
            for k, v in value.items():
                put(key, str(k), v)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                put(key, _label(v, i), v)
        else:
            put(key, "", value)
    return out


def _attempt_no(a: Any, n: int) -> str:
    return str(a.get("attempt")) if isinstance(a, dict) and a.get("attempt") else f"#{n + 1}"


def _compare(sealed: dict[str, dict[str, str]], found: dict[str, dict[str, str]]) -> str | None:
    for section in list(sealed) + [s for s in found if s not in sealed]:
        want, have = sealed.get(section), found.get(section)
        if have is None:
            return f"section {section} is missing from the record"
        if want is None:
            return f"section {section} was added to the record after it was sealed"
        for item in list(want) + [i for i in have if i not in want]:
            what = f"section {section}" + (f", item {item!r}" if item else "")
            if item not in have:
                return f"{what} is missing: the record was changed"
            if item not in want:
                return f"{what} was added: the record was changed"
            if want[item] != have[item]:
                return f"{what} does not match its sealed digest: the record was changed"
    return None


def _backup(b: Any) -> dict[str, Any]:
    return {"target": b.target, "host": b.host, "path": b.path, "state": b.state,
            "sha256": b.sha256, "size": b.size, "mode": f"{b.mode:o}" if b.mode else None,
            "uid": b.uid, "gid": b.gid, "mtime": b.mtime, "method": b.method,
            "taken_at": b.taken_at, "after_sha256": b.after_sha256,
            "restored_at": b.restored_at, "restore_note": b.restore_note}


def _event(e: EventRecord) -> dict[str, Any]:
    return {"seq": e.seq, "ts": e.ts, "step_id": e.step_id, "target": e.target, **e.data}


def verify_record(record: dict[str, Any]) -> str | None:
    """None when the record is intact, else a sentence naming the section and item changed.

    The events must form an unbroken hash chain ending in the record's seal, and every other
    section must match the digests the seal carries."""
    events = record.get("events")
    if not isinstance(events, list) or not events:
        return "the record has no events to check"
    try:
        bad = verify_chain([{k: e[k] for k in ("run_id", "seq", "ts", "kind", "step_id",
                                                 "target", "data", "prev_hash", "hash")}
                            for e in events])
    except (KeyError, TypeError):
        return "the record's events are malformed"
    if bad is not None:
        kind = next((e.get("kind") for e in events if e.get("seq") == bad), "?")
        return (f"section events, item {bad} ({kind}) does not match its hash: event {bad} "
                f"({kind}) was changed")
    chain = record.get("chain")
    if not isinstance(chain, dict) or chain.get("head") != events[-1]["hash"] \
            or chain.get("events") != len(events):
        return "section chain does not match the events: the record was changed"
    seal = events[-1]
    if seal.get("kind") != SEAL or not isinstance(seal.get("data", {}).get("digests"), dict):
        return ("the record is not sealed (its last event is not a record_sealed event): its "
                "parameters, steps and backups cannot be checked; export it again")
    return _compare(seal["data"]["digests"],
                    digests({k: v for k, v in record.items() if k not in UNSEALED}))


def dumps(record: dict[str, Any]) -> str:
    """The JSON text of a record."""
    return json.dumps(record, indent=2, ensure_ascii=False) + "\n"
