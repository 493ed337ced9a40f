"""SSH to devices with asyncssh: one verified connection per device, streamed exec, SFTP, PTYs."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from . import access
from .access_session import AccessSession
from .clientkeys import ClientKeys
from .errors import AccessError, ConnectionLost, HostKeyError, InventoryError, TransportError
from .hops import MAX_HOPS, Hop, resolve
from .hostkeys import HostKeyStore, fingerprint, host_key_error
from .inventory import Inventory, Target
from .linesplit import Splitter
from .orphans import PID_MARK, watchdog_enabled, wrap
from .sshauth import ConnectionSecrets
from .sshconfig import SshConfigError, parse_jump

OnLine = Callable[[str, str], None]
OnLines = Callable[[str, list[str]], None]


@dataclass(frozen=True)
class ExecResult:
    """How a remote command ended. `timed_out`: it was stopped on the device at its timeout."""

    exit_status: int | None
    signal: str | None
    timed_out: bool
    duration: float


class _Client(asyncssh.SSHClient):
    """Remembers the host key a server offered when it was not trusted."""

    def __init__(self) -> None:
        self.offered: asyncssh.SSHKey | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int,
                                 key: asyncssh.SSHKey) -> bool:
        self.offered = key
        return False


def ad_hoc(spec: str) -> Target:
    """A target from `[user@]host[:port]` (a jump host not in the inventory)."""
    j = parse_jump(spec)
    return Target(name=spec, host=j.host, port=j.port or 22, user=j.user)


class Transport:
    """Connections to the devices of one run, opened on first use and reused by every step."""

    def __init__(self, inventory: Inventory | None, hostkeys: HostKeyStore, *,
                 connect_timeout: float = 15.0, keepalive_interval: float = 15.0,
                 reconnect_attempts: int = 3, backoff: float = 0.5,
                 on_notice: Callable[[str], None] | None = None,
                 secrets: ConnectionSecrets | None = None) -> None:
        self.inventory = inventory or Inventory({}, {})
        self.secrets = secrets or ConnectionSecrets(interactive=False)
        self.hostkeys = hostkeys
        self.connect_timeout = connect_timeout
        self.keepalive_interval = keepalive_interval
        self.reconnect_attempts = reconnect_attempts
        self.backoff = backoff
        self.on_notice = on_notice or (lambda message: None)
        self._conns: dict[str, asyncssh.SSHClientConnection] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._sftp: dict[str, asyncssh.SFTPClient] = {}
        self._offered: dict[str, tuple[Hop, asyncssh.SSHKey]] = {}
        self._opened: set[str] = set()
        self._jumps: set[str] = set()  # keys of connections other connections tunnel through
        # told (device name, process group) as each POSIX command starts; the engine journals it
        self.on_remote_start: Callable[[str, int], None] | None = None
        self._keys: dict[str, str] = {}  # device name -> key of its connection
        self._hops: dict[tuple[str, tuple[str, ...] | None, str | None], Hop] = {}
        self._warming: dict[str, asyncio.Task[asyncssh.SSHClientConnection]] = {}  # see warm
        self._client_keys = ClientKeys()
        self._access: dict[str, AccessSession] = {}
        self._access_locks: dict[str, asyncio.Lock] = {}
        self._passwords: dict[tuple[str, str], str] = {}
        # Asked for a climb's password that the inventory does not give (target, secret name);
        # the CLI asks without echo. `on_secret` learns every password used, for redaction.
        self.ask_secret: Callable[[str, str], str | None] | None = None
        self.on_secret: Callable[[str], None] = lambda secret: None

    def target(self, name: str) -> Target:
        """The inventory target, or an ad-hoc one for `user@host:port`."""
        if name in self.inventory.targets:
            return self.inventory.targets[name]
        if "@" in name or ":" in name:
            return ad_hoc(name)
        return self.inventory.get(name)

    def hop(self, name: str, *, jumps: tuple[str, ...] | None = None,
            via_of: str | None = None) -> Hop:
        """How to reach `name` (inventory host, ssh-config alias or `user@host:port`), with
        the ssh config applied; raises SshConfigError for what cannot be honoured."""
        key = (name, jumps, via_of)
        if key not in self._hops:
            self._hops[key] = resolve(name, self.inventory, jumps=jumps, via_of=via_of)
        return self._hops[key]

    async def connect(self, name: str) -> asyncssh.SSHClientConnection:
        """The live connection to `name`, opening (or re-opening) it as needed, through every
        jump host its inventory entry or ssh config names (never around one).

        Raises HostKeyError for an unknown or changed key (naming the hop it belongs to),
        SshConfigError for ssh settings runbook cannot honour, TransportError otherwise.
        """
        warming = self._warming.pop(name, None)
        if warming is not None:
            await warming  # its failure is this connect's: a device is not tried twice
        hop = self.hop(name)
        self._keys[name] = hop.key
        return await self._connect(hop, 0)

    def warm(self, names: list[str], width: int) -> None:
        """Open the connections to `names`, `width` at a time, while the devices before them
        run: a step over more devices than its concurrency finds them open in their turn.
        Nothing is sent; each device's own `connect` takes over the opening, or its failure."""
        sem = asyncio.Semaphore(width)

        async def one(name: str) -> asyncssh.SSHClientConnection:
            async with sem:
                hop = self.hop(name)
                self._keys[name] = hop.key
                return await self._connect(hop, 0)

        for name in names:
            conn = self._conns.get(self._keys.get(name, ""))
            if name in self._warming or (conn is not None and not conn.is_closed()):
                continue
            task = asyncio.ensure_future(one(name))
            task.add_done_callback(_seen)
            self._warming[name] = task

    async def _connect(self, hop: Hop, depth: int) -> asyncssh.SSHClientConnection:
        if depth > MAX_HOPS:
            raise SshConfigError(f"{hop.where()}: more than {MAX_HOPS} jump hosts in a row "
                                 "(a ProxyJump loop in the ssh config?)")
        lock = self._locks.setdefault(hop.key, asyncio.Lock())
        async with lock:
            conn = self._conns.get(hop.key)
            if conn is not None and not conn.is_closed():
                return conn
            self._sftp.pop(hop.key, None)
            attempts = self.reconnect_attempts if hop.key in self._opened else 1
            for n in range(attempts):
                try:
                    conn = await self._open(hop, depth)
                    break
                except HostKeyError:
                    raise
                except TransportError as exc:
                    if n + 1 >= attempts:
                        raise
                    delay = self.backoff * 2 ** n
                    self.on_notice(f"{exc}; reconnecting in {delay:g} s")
                    await asyncio.sleep(delay)
            assert conn is not None
            self._conns[hop.key] = conn
            self._opened.add(hop.key)
            return conn

    async def _tunnel(self, hop: Hop, depth: int) -> asyncssh.SSHClientConnection | None:
        """The connection to the last jump host of `hop` (itself reached through the others)."""
        if not hop.jumps:
            return None
        last, before = hop.jumps[-1], hop.jumps[:-1]
        via = hop.via_of or hop.name
        jump = self.hop(last, jumps=before or None, via_of=via)
        self._jumps.add(jump.key)
        return await self._connect(jump, depth + 1)

    async def _open(self, t: Hop, depth: int = 0) -> asyncssh.SSHClientConnection:
        where = t.where()
        tunnel = await self._tunnel(t, depth)
        client = _Client()
        timeout = float(t.vars.get("runbook_connect_timeout")
                        or t.connect_timeout or self.connect_timeout)
        options: dict[str, Any] = {
            "known_hosts": self.hostkeys.known_hosts(t), "tunnel": tunnel, "config": None,
            "keepalive_interval": t.keepalive_interval if t.keepalive_interval is not None
            else self.keepalive_interval,
            "keepalive_count_max": t.keepalive_count_max or 3,
            "connect_timeout": timeout}
        if t.user:
            options["username"] = t.user
        options.update(self.secrets.options(t.vars, where))
        if t.identities_only or (t.agent_path or "").lower() == "none":
            options["agent_path"] = None
        elif t.agent_path and t.agent_path != "SSH_AUTH_SOCK":
            options["agent_path"] = t.agent_path
        try:
            options["client_keys"] = self._client_keys.load(t.key_files,
                                                             options.get("passphrase"), where)
            conn, _ = await asyncssh.create_connection(lambda: client, t.host, t.port,
                                                       **options)
            return conn
        except asyncssh.HostKeyNotVerifiable:
            key = client.offered
            if key is None:
                raise HostKeyError(f"{where}: host key not trusted", target=t.name,
                                   fingerprint="unknown", where=where, host=t.host,
                                   port=t.port) from None
            self._offered[t.name] = (t, key)
            raise host_key_error(t, key, self.hostkeys.known_keys(t)) from None
        except asyncssh.KeyImportError as exc:
            raise TransportError(f"{where}: cannot use the private key: {exc} (a wrong key "
                                 "passphrase?)") from None
        except asyncssh.PermissionDenied:
            raise TransportError(f"{where}: authentication failed for user "
                                 f"{t.user or 'default'}") from None
        except asyncssh.DisconnectError as exc:
            raise TransportError(f"{where}: disconnected: {exc.reason}") from None
        except TimeoutError:
            raise TransportError(f"{where}: no answer within {timeout:g} s "
                                 "(connect timeout)") from None
        except OSError as exc:
            raise TransportError(f"{where}: cannot connect: {exc.strerror or exc}") from None
        except asyncssh.Error as exc:
            raise TransportError(f"{where}: {exc.reason}") from None

    def trust(self, err: HostKeyError) -> None:
        """Record the unknown key from `err` as trusted (the operator accepted it)."""
        hop, key = self._offered[err.target]
        self.hostkeys.trust(hop, key)

    def host_key_fingerprint(self, name: str) -> str:
        """Fingerprint of the verified host key of the live connection to `name`."""
        conn = self._conns.get(self._keys.get(name, name))
        key = conn.get_server_host_key() if conn is not None else None
        return fingerprint(key) if key is not None else "unknown"

    async def exec(self, name: str, command: str, *, timeout: float,
                   on_line: OnLine | None = None, on_lines: OnLines | None = None,
                   stdin: bytes | None = None) -> ExecResult:
        """Run `command`, streaming its lines to `on_line` as they arrive (or to `on_lines`,
        a chunk's worth of lines at a time, for callers that handle millions of lines).

        At `timeout` the remote process is signalled and its channel closed, and the result
        says `timed_out`. Raises ConnectionLost if the connection drops mid-command.
        """
        platform = access.for_target(self.target(name))
        if platform.session == "pty":
            return await self._exec_access(name, platform, command, timeout=timeout,
                                           on_line=on_line, on_lines=on_lines, stdin=stdin)
        conn = await self.connect(name)
        started = time.monotonic()
        target = self.target(name)
        posix = platform.shell == "posix"
        # On a POSIX shell the command first says its process group, so that a timeout can
        # kill the whole group even where the server ignores SSH signals (OpenSSH for root),
        # and a watchdog stops it if the session dies under it (see orphans.py).
        remote = wrap(command, watchdog_enabled(target)) if posix else command
        try:
            proc = await conn.create_process(remote, encoding=None)
        except (asyncssh.ChannelOpenError, ConnectionError, asyncssh.DisconnectError) as exc:
            raise TransportError(f"{name}: could not start the command: {exc}") from None
        if stdin:
            proc.stdin.write(stdin)
        proc.stdin.write_eof()
        pgid: list[int] = []

        def first(stream: str, lines: list[str]) -> None:
            if posix and not pgid and stream == "stdout" and lines[0].startswith(PID_MARK):
                pgid.append(int(lines[0].split()[1]))
                lines = lines[1:]
                if self.on_remote_start is not None:
                    self.on_remote_start(name, pgid[0])
            if lines and on_lines is not None:
                on_lines(stream, lines)
            elif on_line is not None:
                for line in lines:
                    on_line(stream, line)

        out, err = Splitter("stdout", first), Splitter("stderr", first)

        async def pump(reader: asyncssh.SSHReader[bytes], sink: Splitter) -> None:
            while data := await reader.read(65536):
                sink.feed(data)
            sink.close()

        work = asyncio.gather(pump(proc.stdout, out), pump(proc.stderr, err))
        try:
            await asyncio.wait_for(asyncio.shield(work), timeout)
            await proc.wait_closed()
        except TimeoutError:
            await self._stop(proc, conn, pgid)
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            out.close()
            err.close()
            return ExecResult(None, "timeout", True, time.monotonic() - started)
        except (asyncssh.Error, ConnectionError, asyncio.IncompleteReadError):
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            self._conns.pop(self._keys.get(name, name), None)
            raise ConnectionLost(f"{name}: the connection dropped while `{command}` was "
                                 "running; it may or may not have taken effect") from None
        except BaseException:  # cancelled, or a callback failed (the disk is full): stop it
            await self._stop(proc, conn, pgid)
            raise
        if proc.exit_status is None and proc.exit_signal is None:
            self._conns.pop(self._keys.get(name, name), None)
            raise ConnectionLost(f"{name}: the connection dropped while `{command}` was "
                                 "running; it may or may not have taken effect")
        sig = proc.exit_signal[0] if proc.exit_signal else None
        status = proc.exit_status if proc.exit_status is not None and proc.exit_status >= 0 \
            else None
        return ExecResult(status, sig, False, time.monotonic() - started)

    def password(self, name: str, secret: str) -> str:
        """A climb's password: inventory `runbook_SECRET` (a lab or demo only; read again from
        the inventory file, since the journal's copy never holds it), else the environment
        variable named by `runbook_SECRET_env`, else asked; raises AccessError."""
        key = (name, secret)
        if key not in self._passwords:
            vars_ = self.target(name).vars
            value = vars_.get(f"runbook_{secret}")
            if value is None:
                value = self._inline_password(name, secret)
            env = vars_.get(f"runbook_{secret}_env")
            if value is None and env:
                value = os.environ.get(str(env))
                if value is None:
                    raise AccessError(f"{name}: the {secret} is to come from the environment "
                                      f"variable {env}, which is not set")
            if value is None and self.ask_secret is not None:
                value = self.ask_secret(name, secret)
            if value is None:
                raise AccessError(f"{name}: the {secret} is needed to climb to the shell the "
                                  f"procedure uses: set runbook_{secret}_env (the name of an "
                                  "environment variable holding it) in the inventory, or run "
                                  "where it can be asked")
            self._passwords[key] = str(value)
            self.on_secret(str(value))
        return self._passwords[key]

    def _inline_password(self, name: str, secret: str) -> str | None:
        source = Path(self.inventory.source)
        if not source.is_file():
            return None
        try:
            found = Inventory.load(source).targets.get(name)
        except InventoryError:
            return None
        value = found.vars.get(f"runbook_{secret}") if found is not None else None
        return str(value) if value is not None else None

    async def access_session(self, name: str, timeout: float = 30.0) -> AccessSession:
        """The session at the top privilege level of `name`'s platform (climbed once, reused
        by every command until it breaks). Raises AccessError, TransportError."""
        session = self._access.get(name)
        if session is not None and not session.broken and not session.process.is_closing():
            return session
        if session is not None:
            self._access.pop(name, None)
            await session.close()
        platform = access.for_target(self.target(name))
        process = await self.open_pty_process(name)
        session = AccessSession(process, name, platform, lambda s: self.password(name, s))
        try:
            await session.climb(timeout)
        except BaseException:
            await session.close()
            raise
        self._access[name] = session
        return session

    async def _exec_access(self, name: str, platform: access.Platform, command: str, *,
                           timeout: float, on_line: OnLine | None, on_lines: OnLines | None,
                           stdin: bytes | None) -> ExecResult:
        """`exec` through the escalated PTY session (see access_session for how)."""
        def deliver(stream: str, lines: list[str]) -> None:
            if on_lines is not None:
                on_lines(stream, lines)
            elif on_line is not None:
                for line in lines:
                    on_line(stream, line)

        out = Splitter("stdout", deliver)
        lock = self._access_locks.setdefault(name, asyncio.Lock())
        async with lock:
            started = time.monotonic()
            session = await self.access_session(name)
            try:
                status = await asyncio.wait_for(
                    session.run(command, timeout, out.feed, stdin), timeout + 5)
            except TimeoutError:
                self._access.pop(name, None)
                await session.close()  # Ctrl-C, then the session ends: its processes with it
                out.close()
                return ExecResult(None, "timeout", True, time.monotonic() - started)
            except asyncio.CancelledError:
                self._access.pop(name, None)
                await session.close()
                raise
            except TransportError:
                self._access.pop(name, None)
                self._conns.pop(self._keys.get(name, name), None)
                raise ConnectionLost(f"{name}: the connection dropped while `{command}` was "
                                     "running; it may or may not have taken effect") from None
            out.close()
            return ExecResult(status, None, False, time.monotonic() - started)

    @staticmethod
    async def _stop(proc: asyncssh.SSHClientProcess, conn: asyncssh.SSHClientConnection,
                    pgid: list[int]) -> None:
        """Stop a remote command: kill its process group from a second session when it told
        us which, signal it over SSH, then close the channel."""
        if pgid:
            group = pgid[0]
            try:
                await asyncio.wait_for(conn.run(
                    f"kill -TERM -- -{group} 2>/dev/null; sleep 1; "
                    f"kill -KILL -- -{group} 2>/dev/null; true"), 10)
            except (TimeoutError, asyncssh.Error, OSError):
                pass
        for sig in ("TERM", "KILL"):
            try:
                proc.send_signal(sig)
            except (OSError, asyncssh.Error):
                break
        proc.close()
        try:
            await asyncio.wait_for(proc.wait_closed(), 5)
        except (TimeoutError, asyncssh.Error, OSError):
            pass

    async def sftp(self, name: str) -> asyncssh.SFTPClient:
        """An SFTP session to `name` (cached); raises asyncssh errors if it has no SFTP."""
        conn = await self.connect(name)
        key = self._keys[name]
        if key in self._sftp:
            return self._sftp[key]
        client = await conn.start_sftp_client()
        self._sftp[key] = client
        return client

    async def open_pty_process(self, name: str, term_size: tuple[int, int] = (200, 50)
                               ) -> asyncssh.SSHClientProcess:
        """An interactive shell with a PTY, for prompt-driven CLIs."""
        conn = await self.connect(name)
        return await conn.create_process(term_type="xterm", term_size=term_size,
                                         encoding="utf-8", errors="replace")

    async def close(self) -> None:
        """Close every connection: the devices all at once (a fan-out holds hundreds; one
        by one, each waited a round trip), then the jump hosts, the last opened first (a
        jump host may itself be reached through another)."""
        for client in self._sftp.values():
            client.exit()
        self._sftp.clear()
        sessions = list(self._access.values())
        self._access.clear()
        for session in sessions:
            await session.close()
        warming = list(self._warming.values())
        self._warming.clear()
        for task in warming:
            task.cancel()
        await asyncio.gather(*warming, return_exceptions=True)
        conns = list(self._conns.items())
        self._conns.clear()
        await asyncio.gather(*(_close(c) for k, c in conns if k not in self._jumps))
        for key, conn in reversed(conns):
            if key in self._jumps:
                await _close(conn)


async def _close(conn: asyncssh.SSHClientConnection) -> None:
    conn.close()
    try:
        await asyncio.wait_for(conn.wait_closed(), 5)
    except (TimeoutError, OSError, asyncssh.Error):
        pass


def _seen(task: asyncio.Task[Any]) -> None:
    """A warm-up's failure is raised by the device's own connect, or never wanted (the run
    stopped first): asyncio must not report it as never retrieved."""
    if not task.cancelled():
        task.exception()
