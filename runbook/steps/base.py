"""What a step kind gets to work with, and what it hands back to the engine."""

from __future__ import annotations

import hashlib
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..backups import BackupStore, JournalBlobStore
from ..context import RunContext
from ..events import Event, OutputLines, StepStatus
from ..inventory import Target
from ..journal_records import Backup
from ..model import Expect, StepBase
from ..redact import Redactor
from ..remote import RemoteFiles
from ..template import Mode, Value, render

if TYPE_CHECKING:  # annotations only: the journal's module opens SQLite
    from ..journal import Journal
    from ..transport import Transport

FLUSH_BYTES = 256 * 1024
FLUSH_SECONDS = 1.0


@dataclass
class Outcome:
    """How a step instance ended."""

    status: StepStatus  # succeeded | failed | in_doubt
    exit_status: int | None = None
    reason: str = ""


class Output:
    """One attempt's output: redacted, streamed to subscribers, hashed, stored, and checked.

    Lines are handled one at a time so that huge output never sits in memory: `expect.match`
    patterns must each match some line, `not_match` patterns no line, and captures take the
    first line that matches.
    """

    def __init__(self, *, run_id: str, step: StepBase, target: str | None, attempt_id: int,
                 journal: Journal, redactor: Redactor, emit: Callable[[Event], None],
                 match: list[str], not_match: list[str]) -> None:
        self.run_id, self.step, self.target = run_id, step, target
        self.attempt_id, self.journal, self.redact, self.emit = attempt_id, journal, redactor, emit
        self.digest = hashlib.sha256()
        self.bytes = self.lines = self.stored = 0
        self.truncated = False
        self._buf: list[str] = []
        self._held: dict[str, list[str]] = {}  # per stream: lines that may end in a secret's start
        self._releasing = False
        self._buf_chars = 0
        self.emit_lines = True  # False when nobody listens: no event per line
        self._last_flush = time.monotonic()
        self._match = [re.compile(p) for p in match]
        self._matched = [False] * len(match)
        self._not_match = [re.compile(p) for p in not_match]
        self.forbidden: str | None = None
        self._capture = {k: re.compile(v) for k, v in step.capture.items()}
        self.captured: dict[str, str] = {}
        self.tail: deque[str] = deque(maxlen=20)
        self._checks = bool(self._match or self._not_match or self._capture)

    def reset_checks(self) -> None:
        """Forget pattern results (a `wait` step checks each poll on its own)."""
        self._matched = [False] * len(self._match)
        self.forbidden = None
        self._checks = bool(self._match or self._not_match or self._capture)

    def line(self, stream: str, text: str) -> None:
        """Take one line of output (without its newline)."""
        self.take(stream, [text])

    def take(self, stream: str, texts: list[str]) -> None:
        """Take lines of output (without their newlines), a chunk's worth at a time: the
        journal's copy and the digest see the block; events and checks see each line."""
        held = self._held.pop(stream, None)
        if held:
            texts = held + texts
        if not texts:
            return
        block = "\n".join(texts)
        if self.redact:
            masked = self.redact(block)
            if masked != block:
                block, texts = masked, masked.split("\n")
            keep = self.redact.holds_back(texts) if not self._releasing else 0
            if keep:  # the end may be the first part of a wrapped secret: wait for the rest
                self._held[stream] = texts[-keep:]
                texts = texts[:-keep]
                if not texts:
                    return
                block = "\n".join(texts)
        self.lines += len(texts)
        self.tail.extend(texts[-(self.tail.maxlen or 1):])
        if self.emit_lines:
            self.emit(OutputLines(self.run_id, self.step.id, self.target, tuple(texts),
                                  "stderr" if stream == "stderr" else "stdout"))
        if self._checks:
            for text in texts:
                self._check_line(text)
        self._buf.append(block)
        self._buf_chars += len(block) + 1
        if self._buf_chars >= FLUSH_BYTES or time.monotonic() - self._last_flush > FLUSH_SECONDS:
            self._commit()

    def _check_line(self, text: str) -> None:
        for i, rx in enumerate(self._match):
            if not self._matched[i] and rx.search(text):
                self._matched[i] = True
        if self.forbidden is None:
            for rx in self._not_match:
                if rx.search(text):
                    self.forbidden = f"output matched forbidden pattern {rx.pattern!r}: {text!r}"
        for name, rx in list(self._capture.items()):
            m = rx.search(text)
            if m:
                self.captured[name] = m.group(1)
                del self._capture[name]

    def flush(self) -> None:
        """Pass on lines held back for redaction, then hash and commit buffered output (the
        digest covers all of it, the journal up to OUTPUT_LIMIT bytes)."""
        self._releasing = True
        try:
            for stream in list(self._held):
                self.take(stream, [])
        finally:
            self._releasing = False
        self._commit()

    def _commit(self) -> None:
        if self._buf:
            raw = ("\n".join(self._buf) + "\n").encode()
            self._buf, self._buf_chars = [], 0
            self.digest.update(raw)
            self.bytes += len(raw)
            room = OUTPUT_LIMIT - self.stored
            if len(raw) > room:
                self.truncated = True
                raw = raw[:max(room, 0)]
            if raw:
                self.journal.append_output(self.attempt_id, raw.decode(errors="replace"))
                self.stored += len(raw)
        self._last_flush = time.monotonic()

    def check(self, expect: Expect, exit_status: int | None) -> str | None:
        """The reason the result does not meet `expect`, or None when it does."""
        if not expect.exit_ok(exit_status):
            return f"exit status {exit_status}, expected {expect.exit}"
        if self.forbidden:
            return self.forbidden
        missing = [rx.pattern for rx, ok in zip(self._match, self._matched, strict=True) if not ok]
        if missing:
            return f"output did not match {missing[0]!r}"
        return None


OUTPUT_LIMIT = 64 * 1024 * 1024


class Exec(Protocol):
    """The transport call a step uses to run a command."""

    async def __call__(self, target: str, command: str, *, timeout: float,
                       on_line: Callable[[str, str], None]) -> Any: ...


@dataclass
class StepContext:
    """Everything one step instance may use; built by the engine per attempt."""

    run: RunContext
    step: StepBase
    target: Target
    values: Mapping[str, Value]
    output: Output
    backups: list[Backup] = field(default_factory=list)  # taken before this attempt
    stdin: bytes | None = None  # the command's stdin: its secrets and `stdin:` text

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self.run.run.id

    @property
    def transport(self) -> Transport:
        """The execution's device connections."""
        return self.run.transport

    @property
    def redactor(self) -> Redactor:
        """Masks the run's secrets."""
        return self.run.run.redactor

    @property
    def emit(self) -> Callable[[Event], None]:
        """Journal and publish an event."""
        return self.run.emit

    @property
    def journal(self) -> Journal:
        """The run store."""
        return self.run.journal

    @property
    def store(self) -> BackupStore | JournalBlobStore:
        """Where backed-up bytes live."""
        return self.run.store

    @property
    def captures(self) -> dict[str, str]:
        """Values captured by earlier steps."""
        return self.run.run.captures

    @property
    def files(self) -> RemoteFiles:
        """File access to this step's device."""
        return self.run.files(self.target)

    @property
    def target_name(self) -> str:
        """The device's inventory name."""
        return self.target.name

    def render(self, template: str, mode: Mode = "shell") -> str:
        """Render with the step's values, tracking secrets in the redactor."""
        r = render(template, self.values, mode)
        self.redactor.add(r.secrets)
        return r.text
