"""The journal's hash chain: canonical JSON, event hashes, their check, events read back."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .journal_records import EventRecord

GENESIS = "0" * 64


def canonical(obj: Any) -> str:
    """The JSON form that hashes are computed over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """Hash of one event: sha256 over the previous hash and the event's canonical JSON."""
    return chain_hash(prev_hash, canonical(body))


def chain_hash(prev_hash: str, body: str) -> str:
    """`event_hash` of a body already in canonical JSON."""
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


_text = json.JSONEncoder(ensure_ascii=False).encode


def body_json(run_id: str, seq: int, ts: str, kind: str, step_id: str | None,
              target: str | None, data: str) -> str:
    """`canonical(body)` of an event whose data is already canonical JSON (`data`): the
    same text, composed in the keys' sorted order, without encoding the data twice more."""
    return (f'{{"data":{data},"kind":{_text(kind)},"run_id":{_text(run_id)},"seq":{seq},'
            f'"step_id":{_text(step_id)},"target":{_text(target)},"ts":{_text(ts)}}}')


_FIELDS = ("run_id", "seq", "ts", "kind", "step_id", "target", "data", "prev_hash", "hash")
_STORED = ("run_id", "seq", "ts", "kind", "step_id", "target", "_raw", "prev_hash", "hash")


class StoredEvent(EventRecord):
    """An event read back from the journal: `data` is decoded from its JSON on first use.

    Resuming a run with 10,000 events needs their order and kinds at once, their data only
    for the few that are looked at (a screen decodes the rest as it shows them)."""

    def __getattr__(self, name: str) -> Any:
        if name != "data":
            raise AttributeError(name)
        data = json.loads(self.__dict__["_raw"])
        self.__dict__["data"] = data
        return data

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EventRecord):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in _FIELDS)

    __hash__ = EventRecord.__hash__


def verify_chain(events: list[EventRecord] | list[dict[str, Any]]) -> int | None:
    """Return the seq of the first event whose link is broken, or None when the chain holds."""
    prev = GENESIS
    for e in events:
        rec = e if isinstance(e, EventRecord) else EventRecord(**e)
        if rec.prev_hash != prev or event_hash(prev, rec.body()) != rec.hash:
            return rec.seq
        prev = rec.hash
    return None
