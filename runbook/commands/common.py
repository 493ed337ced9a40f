"""What every `runbook` command shares: the context object, error printing, params, secrets."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click

from ..context import Decider
from ..engine import Engine
from ..errors import RunbookError, UsageError
from ..journal import Journal
from ..paths import data_dir, private_file


class Ctx:
    """What every command shares: where the data lives and how to print."""

    def __init__(self, data: str | None, as_json: bool) -> None:
        self._data = data
        self.as_json = as_json

    @property
    def data_dir(self) -> Path:
        return data_dir(self._data)

    def journal(self) -> Journal:
        return Journal.open(self.data_dir)

    def emit(self, obj: Any, human: str) -> None:
        click.echo(json.dumps(obj, indent=2, default=str) if self.as_json else human)


def fail(exc: BaseException, ctx: Ctx | None = None) -> int:
    """Print one line for the user; a bug goes to a private log with its traceback."""
    if isinstance(exc, RunbookError):
        click.echo(f"runbook: {exc.title}: {exc}", err=True)
        return exc.exit_code
    log = None
    try:
        log = private_file((ctx.data_dir if ctx else data_dir()) / "runbook.log")
        with open(log, "a") as fh:
            fh.write("".join(traceback.format_exception(exc)))
    except Exception:  # noqa: BLE001 - reporting must never fail
        pass
    where = f" (details in {log})" if log else ""
    click.echo(f"runbook: internal error: {type(exc).__name__}: {exc}{where}", err=True)
    return 70


def run_async(ctx: Ctx, factory: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run a coroutine; Ctrl-C or SIGTERM stop it cleanly and leave the run resumable."""

    async def main() -> int:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        if task is not None:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        return await factory()

    try:
        return asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        click.echo("runbook: interrupted; the run can be resumed with `runbook resume RUN`",
                   err=True)
        return 130


def parse_params(items: tuple[str, ...]) -> dict[str, str]:
    """`-p name=value` pairs into a dict; raises UsageError on a malformed one."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"-p {item!r}: expected NAME=VALUE")
        out[name.strip()] = value
    return out


def read_secrets(names: list[str], env_map: tuple[str, ...],
                 also: set[str] | None = None) -> dict[str, str]:
    """Secrets from environment variables named by the user, else asked without echo.
    `also`: names the inventory declares for logging in (read when connecting)."""
    mapping = parse_params(env_map)
    unknown = sorted(set(mapping) - set(names) - access_secret_names() - (also or set()))
    if unknown:
        raise UsageError(f"--secret-env names {', '.join(unknown)}, which this procedure does "
                         f"not take as secrets ({', '.join(names) or 'none'})")
    secrets = {}
    for name in names:
        if name in mapping:
            value = os.environ.get(mapping[name])
            if value is None:
                raise UsageError(f"secret {name!r}: environment variable {mapping[name]} is "
                                 "not set")
        elif sys.stdin.isatty():
            value = getpass.getpass(f"{name} (secret, not echoed): ")
        else:
            raise UsageError(f"secret {name!r} is needed and there is no terminal to ask on: "
                             f"use --secret-env {name}=ENVVAR")
        secrets[name] = value
    return secrets


def login_secret_names(inventory: Any) -> set[str]:
    """Secret names an inventory (or a run's inventory snapshot) declares for logging in."""
    from ..sshauth import connection_secret_names

    if isinstance(inventory, dict):
        hosts = [h.get("vars", {}) for h in inventory.get("hosts", {}).values()]
    else:
        hosts = [t.vars for t in inventory.targets.values()] if inventory else []
    return connection_secret_names(hosts)


def access_secret_names() -> set[str]:
    """The passwords access profiles climb with (`--secret-env expert_password=VAR` works)."""
    from .. import access
    return {s for n in access.names() for s in access.platform(n).secrets}


def access_asker(env_map: tuple[str, ...]) -> Callable[[str, str], str | None]:
    """How the transport gets a climb's password the inventory does not give: from the
    variable `--secret-env` names, else asked without echo (None without a terminal)."""
    mapping = parse_params(env_map)

    def ask(target: str, secret: str) -> str | None:
        if secret in mapping:
            value = os.environ.get(mapping[secret])
            if value is None:
                raise UsageError(f"secret {secret!r}: environment variable {mapping[secret]} "
                                 "is not set")
            return value
        if sys.stdin.isatty():
            return getpass.getpass(f"{secret} for {target} (secret, not echoed): ")
        return None

    return ask


def make_engine(ctx: Ctx, journal: Journal, decider: Decider, secret_env: tuple[str, ...] = ()
                ) -> Engine:
    """An engine whose transport verifies host keys against known_hosts and our trust file,
    and reads login and climb secrets from `secret_env` (else asks without echo)."""
    from ..hostkeys import HostKeyStore
    from ..inventory import Inventory
    from ..sshauth import ConnectionSecrets
    from ..transport import Transport

    store = HostKeyStore(ctx.data_dir)
    ask = access_asker(secret_env)
    logins = ConnectionSecrets(parse_params(secret_env))

    def transport(inv: Inventory | None) -> Transport:
        t = Transport(inv, store, secrets=logins)
        t.ask_secret = ask
        return t

    engine = Engine(journal, decider, transport_factory=transport,
                    inventory_from_snapshot=Inventory.from_snapshot)
    return engine
