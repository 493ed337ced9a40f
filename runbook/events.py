"""Typed events the engine emits; the CLI prints them and the TUI renders them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

StepStatus = Literal["pending", "running", "succeeded", "failed", "skipped", "in_doubt",
                     "rolled_back", "waiting"]
Question = Literal["confirm", "manual", "in_doubt", "host_key", "take_over"]
RunState = Literal["created", "running", "waiting", "in_doubt", "failed", "succeeded",
                   "aborted", "rolled_back"]


@dataclass(frozen=True)
class Event:
    """Base of every engine event; `run_id` names the run it belongs to."""

    run_id: str

    @property
    def kind(self) -> str:
        """Snake-case event name, as stored in the journal."""
        return _kind(type(self))

    def data(self) -> dict[str, Any]:
        """The event's fields except `run_id`, JSON-serialisable."""
        d = dict(self.__dict__)  # most events hold plain values: no deep copy needed
        if not all(type(v) in _PLAIN for v in d.values()):
            d = asdict(self)
        d.pop("run_id")
        return d


_PLAIN = (str, int, float, bool, type(None))


_KINDS: dict[type, str] = {}


def _kind(cls: type) -> str:
    kind = _KINDS.get(cls)
    if kind is None:
        name = cls.__name__
        kind = _KINDS[cls] = "".join("_" + c.lower() if c.isupper() else c
                                     for c in name).lstrip("_")
    return kind


@dataclass(frozen=True)
class RunStarted(Event):
    procedure_id: str
    title: str
    resumed: bool = False


@dataclass(frozen=True)
class StepStarted(Event):
    step_id: str
    target: str | None
    attempt: int
    command: str = ""  # rendered and redacted


@dataclass(frozen=True)
class OutputLine(Event):
    """One line of a step's output, already redacted (no trailing newline)."""

    step_id: str
    target: str | None
    line: str
    stream: Literal["stdout", "stderr"] = "stdout"


@dataclass(frozen=True)
class OutputLines(Event):
    """Lines of a step's output as they arrived together (a chunk), already redacted.

    Streamed command output comes this way, so that a million lines cost thousands of events,
    not a million; `each()` gives them as OutputLine events."""

    step_id: str
    target: str | None
    lines: tuple[str, ...]
    stream: Literal["stdout", "stderr"] = "stdout"

    def each(self) -> list[OutputLine]:
        return [OutputLine(self.run_id, self.step_id, self.target, line, self.stream)
                for line in self.lines]


@dataclass(frozen=True)
class StepFinished(Event):
    step_id: str
    target: str | None
    status: StepStatus
    exit_status: int | None = None
    duration: float = 0.0
    reason: str = ""  # why it failed or was skipped, redacted


@dataclass(frozen=True)
class StepSkipped(Event):
    step_id: str
    target: str | None
    reason: str


@dataclass(frozen=True)
class DecisionNeeded(Event):
    """The engine waits for the operator: confirm, manual, in_doubt or host_key."""

    step_id: str | None
    target: str | None
    question: Question
    prompt: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DecisionMade(Event):
    step_id: str | None
    target: str | None
    question: str
    answer: str
    by: str = "operator"


@dataclass(frozen=True)
class Notice(Event):
    """Anything worth telling the operator that is not a state change (reconnects, retries)."""

    message: str
    level: Literal["info", "warning", "error"] = "info"
    step_id: str | None = None
    target: str | None = None


@dataclass(frozen=True)
class RunFinished(Event):
    state: RunState
    reason: str = ""


@dataclass(frozen=True)
class BackupTaken(Event):
    """A remote path was saved before a step changed it (`state` absent: it did not exist)."""

    step_id: str
    target: str | None
    path: str
    state: str
    sha256: str | None = None
    size: int | None = None
    mode: int | None = None


@dataclass(frozen=True)
class RollbackStarted(Event):
    steps: list[str] = field(default_factory=list)
    force: bool = False


@dataclass(frozen=True)
class FileRestored(Event):
    """A backed-up path was put back; `verified` means the read-back hash matched."""

    step_id: str
    target: str | None
    path: str
    action: str  # restored | removed | cleaned
    sha256: str | None = None
    verified: bool = True
    note: str = ""


@dataclass(frozen=True)
class RollbackCommand(Event):
    step_id: str
    target: str | None
    index: int
    command: str
    status: str  # started | succeeded | failed
    exit_status: int | None = None


@dataclass(frozen=True)
class StepRolledBack(Event):
    step_id: str
    target: str | None


@dataclass(frozen=True)
class RollbackFinished(Event):
    state: str
    reason: str = ""


@dataclass(frozen=True)
class RollbackRefusal(Event):
    """runbook refused a rollback before changing anything (a step that cannot be undone ran,
    a file changed behind the run's back, a backup failed its check); `reason` says which.

    An operator who only cancels at the confirmation is not recorded: nothing was tried."""

    reason: str
    to_step: str | None = None
    only_step: str | None = None
    force: bool = False
    by: str = ""  # the operator who asked for the rollback


@dataclass(frozen=True)
class Connected(Event):
    """A device connection was opened and its host key verified."""

    target: str
    host: str
    port: int
    fingerprint: str


@dataclass(frozen=True)
class Comment(Event):
    """An operator's note, kept in the change record."""

    text: str
    step_id: str | None = None
    target: str | None = None


@dataclass(frozen=True)
class CertFactsFound(Event):
    """Facts a `cert` step read from a certificate (no key material)."""

    step_id: str
    target: str | None
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HostKeyRejected(Event):
    """A device offered a key other than the one trusted for it: the run stops, nothing sent."""

    target: str
    host: str
    port: int
    fingerprint: str
    known: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RemoteStarted(Event):
    """A step's command started on a device in process group `pgid` (looked up on resume)."""

    step_id: str
    target: str | None
    attempt: int
    pgid: int
