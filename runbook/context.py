"""One execution's working set: the run, its journal and transport, events, questions, files."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .backups import BackupStore, JournalBlobStore, store_for
from .errors import HostKeyError, UsageError
from .events import Connected, DecisionMade, DecisionNeeded, Event, HostKeyRejected, Question
from .inventory import Inventory, Target
from .model import Procedure
from .redact import Redactor
from .remote import RemoteFiles
from .template import Value

if TYPE_CHECKING:  # annotations only: the transport pulls in asyncssh, the journal SQLite
    from .journal import Journal
    from .transport import Transport


class Decider(Protocol):
    """Answers the engine's questions; the CLI maps flags, the TUI opens modals."""

    async def decide(self, request: DecisionNeeded) -> str:
        """Return one of `request.details['choices']`."""
        ...


@dataclass
class LoadedRun:
    """A run's procedure and values, rebuilt from the journal."""

    id: str
    procedure: Procedure
    values: dict[str, Value]
    inventory: Inventory | None
    redactor: Redactor
    captures: dict[str, str] = field(default_factory=dict)

    def template_values(self, target: Target | None = None) -> dict[str, Value]:
        """Params, captures and the current target, for rendering."""
        vals = dict(self.values)
        vals.update({k: Value(v) for k, v in self.captures.items()})
        if target is not None:
            vals["target"] = Value(target)
        return vals

    def device(self, name: str | None) -> Target:
        """The run's device called `name`; raises UsageError when the run has none such."""
        if name is None or self.inventory is None:
            raise UsageError(f"run {self.id} has no device {name!r}")
        return self.inventory.get(name)

    def condition_values(self) -> dict[str, Any]:
        """Plain values for `when` conditions (devices by name)."""
        out: dict[str, Any] = {}
        for name, v in self.values.items():
            val = v.value
            if isinstance(val, Target):
                val = val.name
            elif isinstance(val, list):
                val = [t.name if isinstance(t, Target) else t for t in val]
            out[name] = val
        for name in self.procedure.params:
            out.setdefault(name, None)  # optional params left out compare equal to None
        out.update(self.captures)
        return out


class RunContext:
    """What settling, rollback and the step runners use of one execution; built by the engine.

    It owns the execution's transport: `close()` ends every device connection.
    """

    def __init__(self, run: LoadedRun, journal: Journal, transport: Transport,
                 emit: Callable[[Event], None], decider: Decider) -> None:
        self.run = run
        self.journal = journal
        self.transport = transport
        self.emit = emit
        self.decider = decider
        self.store: BackupStore | JournalBlobStore = store_for(journal)
        self._files: dict[str, RemoteFiles] = {}
        self._connected: set[str] = set()

    async def ask(self, question: Question, prompt: str, choices: Iterable[str],
                  step_id: str | None = None, target: str | None = None,
                  **details: Any) -> str:
        """Ask the decider (journaled both ways); raises UsageError for an answer not offered."""
        run = self.run
        choices = list(choices)
        request = DecisionNeeded(run.id, step_id, target, question,
                                 run.redactor(prompt), {**details, "choices": choices})
        self.emit(request)
        answer = await self.decider.decide(request)
        if answer not in choices:
            raise UsageError(f"answer {answer!r} is not one of {', '.join(choices)}")
        self.emit(DecisionMade(run.id, step_id, target, question, answer))
        return answer

    async def connect(self, target: Target) -> None:
        """Open (or reuse) the device connection, asking the operator about unknown host keys."""
        run = self.run
        while True:
            try:
                fresh = target.name not in self._connected
                await self.transport.connect(target.name)
                if fresh:
                    self._connected.add(target.name)
                    self.emit(Connected(run.id, target.name, target.host, target.port,
                                        self.transport.host_key_fingerprint(target.name)))
                return
            except HostKeyError as err:
                host, port = err.host or target.host, err.port or target.port
                if err.changed:
                    self.emit(HostKeyRejected(run.id, err.target, host, port,
                                              err.fingerprint, list(err.known)))
                    raise
                if err.strict:
                    raise
                answer = await self.ask(
                    "host_key", f"{err.where or target.name} offers an unknown host key "
                    f"{err.fingerprint}. Trust it?", ["accept", "refuse"], None, target.name,
                    fingerprint=err.fingerprint, host=host, port=port)
                if answer != "accept":
                    raise
                self.transport.trust(err)

    def files(self, target: Target) -> RemoteFiles:
        """File access to a device, one per device per execution."""
        if target.name not in self._files:
            self._files[target.name] = RemoteFiles(self.transport, target)
        return self._files[target.name]

    async def close(self) -> None:
        """End every device connection of this execution."""
        await self.transport.close()
