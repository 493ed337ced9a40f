"""The SQLite journal's transactions: nested, durable, and the deferred writes of `later`."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import JournalError
from .paths import disk_full, is_disk_full

LINGER = 0.02  # seconds at most that writes of `Journal.later` wait for the next commit


class Transactions:
    """Transactions of a journal over one SQLite connection (`db`), mixed into `Journal`."""

    db: sqlite3.Connection
    path: Path | None
    _depth = 0  # open transactions (see tx)
    _deferred = False  # writes of `later` are in an open transaction, not yet committed
    _timer: asyncio.TimerHandle | None = None  # commits them after LINGER seconds
    _lost: BaseException | None = None  # a commit of deferred writes failed (see flush)
    _on_commit: list[Callable[[], None]] | None = None  # see after_commit
    _before_output = False  # an open `later(before_output=True)` write (see flush_for_output)

    @contextmanager
    def tx(self, *, defer: bool = False) -> Iterator[sqlite3.Connection]:
        """A write transaction that commits on success (durably: synchronous=FULL).

        Transactions nest: an inner `tx()` joins the outer one, so several writes that belong
        together (an attempt's start and its event) commit at once, with one fsync. A full disk
        raises DiskFull (one line, exit 6); the transaction is rolled back, so the journal
        keeps its last committed state and the run can be resumed.

        `defer=True` is for writes that need not be durable on their own (see `later`): they
        are written but the transaction stays open; the next `tx()` commits them together with
        its own writes, or the linger timer, `flush()` or `close()` does."""
        if self._depth:
            self._depth += 1
            try:
                yield self.db
            finally:
                self._depth -= 1
            return
        self._raise_lost()
        joined = self._deferred
        try:
            # Joining writes left open by `later`: a savepoint, so that a body that fails
            # takes back only its own writes, never the deferred ones before it.
            self.db.execute("SAVEPOINT body" if joined else "BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.db
            except BaseException:
                self._depth = 0
                if joined:
                    self._rollback_body()
                else:
                    self._rollback()
                raise
            self._depth = 0
            if joined:
                self.db.execute("RELEASE body")
            if defer and self._can_defer():
                self._deferred = True
                return
            self._commit()
        except (sqlite3.Error, OSError) as exc:
            if is_disk_full(exc) and self.path is not None:
                raise disk_full(self.path.parent) from None
            raise

    @contextmanager
    def later(self, *, before_output: bool = False) -> Iterator[sqlite3.Connection]:
        """Writes that become durable with the journal's next commit, at the latest after
        LINGER seconds: an attempt's outcome, its output, its process group.

        Why this keeps the write-ahead rule: what must be durable before a command is sent
        is that command's *start*, and every start is a plain `tx()`, which commits whatever
        `later` left open in the same transaction (one fsync). So when step N+1 is sent, step
        N's outcome is durable too: the checkpoint after N and before N+1 is one commit. A
        crash between N's end and that commit loses only N's outcome: N is then found
        `running`, so *in doubt* on resume, and the operator decides (verify, done, rerun...);
        it is never lost, never taken as done. Every question to the operator, notice, pause
        and the run's end is journaled with a plain `tx()`, so nothing waits on an operator
        with an outcome still open. A reader in another process sees the outcome only once it
        is committed. The team journal (PostgreSQL) commits each at once.

        `before_output=True` marks writes that must be durable before any output is shown
        (a command's process group, a device's host key): see `flush_for_output`."""
        with self.tx(defer=True) as db:
            yield db
        if before_output and self._deferred:
            self._before_output = True

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once what `later` wrote so far is durable (at once when nothing is
        open); never, when that commit fails."""
        if not self._deferred:
            callback()
            return
        if self._on_commit is None:
            self._on_commit = []
        self._on_commit.append(callback)

    def flush(self) -> None:
        """Commit writes that `later` left open (no-op when there are none)."""
        if self._deferred and not self._depth:
            try:
                self._commit()
            except (sqlite3.Error, OSError) as exc:
                self._lost = exc  # raised by the next tx(): the run must not go on as if
                # those outcomes were recorded (they are `running`, in doubt, on resume)

    def flush_for_output(self) -> None:
        """Before output is shown: commit the open `later(before_output=True)` writes, so who
        saw a command's output can rely on a resume finding its process group. Output alone
        is not committed here (it rides with the next commit, LINGER at the latest): a
        fsync per chunk was most of the cost of streaming output to a screen."""
        if self._before_output:
            self.flush()

    def _can_defer(self) -> bool:
        """Whether a linger timer can commit the open writes (needs a running event loop)."""
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return False
            self._timer = loop.call_later(LINGER, self.flush)
        return True

    def _commit(self) -> None:
        self._deferred = self._before_output = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error:
            self._rollback()
            raise
        callbacks, self._on_commit = self._on_commit, None
        for callback in callbacks or ():
            callback()

    def _rollback_body(self) -> None:
        try:
            self.db.execute("ROLLBACK TO body")
            self.db.execute("RELEASE body")
        except sqlite3.Error:  # SQLite rolled the whole transaction back (SQLITE_FULL does)
            self._deferred = self._before_output = False
        if not self.db.in_transaction:
            self._deferred = self._before_output = False

    def _raise_lost(self) -> None:
        if self._lost is not None:
            exc, self._lost = self._lost, None
            if is_disk_full(exc) and self.path is not None:
                raise disk_full(self.path.parent) from None
            raise JournalError(f"the run store could not commit step outcomes: {exc}")

    def _rollback(self) -> None:
        self._deferred = self._before_output = False
        self._on_commit = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            self.db.execute("ROLLBACK")
        except sqlite3.Error:  # SQLite may have rolled back on its own (SQLITE_FULL does)
            pass
