"""One error hierarchy: every error a user can see has a title, a message and an exit code."""

from __future__ import annotations

from pathlib import Path


class RunbookError(Exception):
    """Base of every error shown to a user; the CLI prints `title: message`, the TUI a modal."""

    title = "runbook error"
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(RunbookError):
    """The command line or a parameter value is wrong."""

    title = "invalid input"
    exit_code = 2


class ProcedureError(RunbookError):
    """A procedure file is malformed; carries file, line and column (1-based)."""

    title = "invalid procedure"
    exit_code = 2

    def __init__(self, file: str, line: int, column: int, message: str) -> None:
        super().__init__(f"{file}:{line}:{column}: {message}")
        self.file, self.line, self.column, self.detail = file, line, column, message


class InventoryError(RunbookError):
    """An inventory file is malformed or names an unknown host."""

    title = "invalid inventory"
    exit_code = 2


class TemplateError(RunbookError):
    """A template references an unknown name or uses an unknown filter."""

    title = "template error"
    exit_code = 2


class TransportError(RunbookError):
    """A device could not be reached, refused authentication or dropped the connection."""

    title = "connection problem"
    exit_code = 5


class HostKeyError(TransportError):
    """A device's host key is unknown (not yet trusted) or has changed."""

    title = "host key not trusted"

    def __init__(self, message: str, *, target: str, fingerprint: str,
                 known: list[str] | None = None, key_line: str = "", where: str = "",
                 host: str = "", port: int = 0, strict: bool = False) -> None:
        super().__init__(message)
        self.target = target  # the host whose key it is: the device or a jump host on the way
        self.where = where  # e.g. "jump host bastion (10.0.0.1:22) for fw1"
        self.host, self.port = host, port
        self.strict = strict  # the ssh config forbids accepting an unknown key
        self.fingerprint = fingerprint
        self.known = known or []
        self.key_line = key_line

    @property
    def changed(self) -> bool:
        """True when a different key is already trusted for this device (possible attack)."""
        return bool(self.known)


class JournalError(RunbookError):
    """The run store cannot be opened, is locked by another process, or is damaged."""

    title = "run store problem"
    exit_code = 6


class RunNotFound(JournalError):
    """No run with that id (or prefix) exists."""

    title = "no such run"
    exit_code = 2


class UnsafeDirectory(RunbookError):
    """The data directory can be written by other users, so its contents cannot be trusted."""

    title = "unsafe data directory"
    exit_code = 6


class ConnectionLost(TransportError):
    """The connection dropped while a command ran: whether it took effect is unknown."""

    title = "connection lost"


class CliTimeout(TransportError):
    """The device did not show its prompt (or finish a command) in time."""

    title = "no prompt"


class AccessError(RunbookError):
    """A privilege level could not be reached (wrong password, refused command, no prompt):
    the step's command was not sent, so the step failed (it is not in doubt)."""

    title = "access refused"


class RemoteFileError(TransportError):
    """A file operation on a device failed."""

    title = "file operation failed"


class CorruptBackup(JournalError):
    """A stored backup no longer matches its hash."""

    title = "backup damaged"


class RollbackRefused(RunbookError):
    """A file changed since its step finished; restoring it would lose someone's change."""

    title = "rollback refused"
    exit_code = 8


class RestoreMismatch(RunbookError):
    """A restored file does not read back with the backed-up hash."""

    title = "restore not verified"
    exit_code = 8


class CertError(RunbookError):
    """The bytes are not a certificate (or key) that can be read."""

    title = "unreadable certificate"


class ConditionError(RunbookError):
    """The condition is not in the small language `when` accepts."""

    title = "invalid condition"
    exit_code = 2


class DiskFull(RunbookError):
    """The disk holding the data directory is full: nothing more can be journaled. Not a
    JournalError on purpose: those fail one step, this one stops the run."""

    title = "disk full"
    exit_code = 6
    where: Path | None = None  # the data directory that filled up
