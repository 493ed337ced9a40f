"""What the `runbook` commands share: settings, the journal, errors, secrets, the engine."""

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
from typing import TYPE_CHECKING, Any

import click

from ..config import Config
from ..errors import DiskFull, RunbookError, UsageError
from ..headless import EXIT_CODES, Printer
from ..journal import Journal
from ..journals import open_journal
from ..paths import data_dir, disk_full, is_disk_full, private_file
from ..secret_sources import cli_sources
from ..secret_sources import read as read_source
from ..secret_sources import resolve as resolve_secrets

if TYPE_CHECKING:  # annotation only: the engine is imported when a command needs one
    from ..engine import Engine


class Ctx:
    """What every command shares: settings, where the data lives and how to print."""

    def __init__(self, data: str | None, as_json: bool, config: Config | None = None) -> None:
        self.config = config or Config()
        self.config.override("data_dir", data, "--data-dir or RUNBOOK_HOME")
        self.as_json = as_json

    @property
    def data_dir(self) -> Path:
        return data_dir(self.config.get("data_dir"))

    def journal(self) -> Journal:
        journal = open_journal(self.config.get("journal"), self.data_dir)
        if self.config.get("operator"):
            journal.operator = str(self.config.get("operator"))
        return journal

    def inventory(self, path: str | None) -> Any:
        """The inventory named on the command line, else the configured one, else None;
        what it ignores or maps of Ansible's variables is said on stderr (never silently)."""
        from ..inventory import Inventory

        chosen = path or self.config.get("inventory")
        if not chosen:
            return None
        inv = Inventory.load(chosen)
        for note in inv.notes:
            click.echo(json.dumps({"warning": note, "title": "inventory"}) if self.as_json
                       else f"runbook: inventory: {note}", err=True)
        return inv

    def emit(self, obj: Any, human: str) -> None:
        click.echo(json.dumps(obj, indent=2, default=str) if self.as_json else human)


def _json_wanted(ctx: Ctx | None) -> bool:
    if ctx is not None:
        return ctx.as_json
    cctx = click.get_current_context(silent=True)
    return bool(cctx is not None and cctx.find_root().params.get("as_json"))


def say_error(title: str, message: str, code: int, ctx: Ctx | None,
              as_json: bool = False) -> int:
    """One line on stderr, or with --json one object {error, title, exit_code}."""
    if as_json or _json_wanted(ctx):
        click.echo(json.dumps({"error": message, "title": title, "exit_code": code}), err=True)
    else:
        click.echo(f"runbook: {title}: {message}", err=True)
    return code


def fail(exc: BaseException, ctx: Ctx | None = None) -> int:
    """Print one line for the user; a bug goes to a private log with its traceback."""
    if isinstance(exc, OSError) and is_disk_full(exc):  # e.g. a backup could not be stored
        exc = disk_full(ctx.data_dir if ctx else data_dir())
    if isinstance(exc, RunbookError):
        if isinstance(exc, DiskFull):
            _log(ctx, f"{exc.title}: {exc}\n")  # when even that fits
        return say_error(exc.title, str(exc), exc.exit_code, ctx)
    log = None
    try:
        log = private_file((ctx.data_dir if ctx else data_dir()) / "runbook.log")
        with open(log, "a") as fh:
            fh.write("".join(traceback.format_exception(exc)))
    except Exception:  # noqa: BLE001 - reporting must never fail
        pass
    where = f" (details in {log})" if log else ""
    return say_error("internal error", f"{type(exc).__name__}: {exc}{where}", 70, ctx)


def _log(ctx: Ctx | None, text: str) -> None:
    """Append to the private runbook.log, if at all possible."""
    try:
        log = private_file((ctx.data_dir if ctx else data_dir()) / "runbook.log")
        with open(log, "a") as fh:
            fh.write(text)
    except Exception:  # noqa: BLE001 - reporting must never fail
        pass


def run_async(ctx: Ctx, factory: Callable[[], Coroutine[Any, Any, int]],
              run_id: str | None = None, interrupted: str | None = None) -> int:
    """Run a coroutine; Ctrl-C or SIGTERM stop it cleanly and leave the run resumable.

    `interrupted` replaces the message about resuming a run (for commands that run none)."""

    async def main() -> int:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        if task is not None:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        return await factory()

    try:
        return asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        click.echo(interrupted or f"runbook: interrupted; the run can be resumed with "
                   f"`runbook resume {run_id or 'RUN'}`", err=True)
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
    """Secrets from the sources named on the command line (--secret-env, --secret-cmd,
    --secret-keyring), else runbook.toml's [secrets], else asked without echo.
    `also`: names the inventory declares for logging in, and access profiles' passwords, which
    --secret-env may name too (the transport reads those when connecting)."""
    cctx = click.get_current_context(silent=True)
    meta = cctx.meta if cctx is not None else {}
    given = cli_sources(env_map, meta.get("secret_cmd", ()), meta.get("secret_keyring", ()))
    for_transport = (access_secret_names() | (also or set())) - set(names)
    given = {k: v for k, v in given.items() if k not in for_transport}
    ctx = cctx.find_object(Ctx) if cctx is not None else None
    configured = ctx.config.secrets if ctx is not None else {}
    return resolve_secrets(names, given, configured)


def _remember(cctx: click.Context, param: click.Parameter, value: Any) -> Any:
    cctx.meta[param.name or ""] = value
    return value


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
    variable `--secret-env` names, else `--secret-cmd` / `--secret-keyring`, else runbook.toml's
    [secrets], else asked without echo (None without a terminal)."""
    mapping = parse_params(env_map)
    cctx = click.get_current_context(silent=True)
    meta = cctx.meta if cctx is not None else {}
    given = cli_sources((), meta.get("secret_cmd", ()), meta.get("secret_keyring", ()))
    ctx = cctx.find_object(Ctx) if cctx is not None else None
    configured = ctx.config.secrets if ctx is not None else {}

    def ask(target: str, secret: str) -> str | None:
        if secret in mapping:
            value = os.environ.get(mapping[secret])
            if value is None:
                raise UsageError(f"secret {secret!r}: environment variable {mapping[secret]} "
                                 "is not set")
            return value
        source = given.get(secret) or configured.get(secret)
        if source is not None and source.kind != "prompt":
            return read_source(secret, source)
        if sys.stdin.isatty():
            return getpass.getpass(f"{secret} for {target} (secret, not echoed): ")
        return None

    return ask


def make_engine(ctx: Ctx, journal: Journal, decider: Any,
                secret_env: tuple[str, ...] = ()) -> Engine:
    """An engine whose transport verifies host keys against known_hosts and our trust file,
    and reads login and climb secrets from `secret_env` (else asks without echo)."""
    from ..engine import Engine
    from ..hostkeys import HostKeyStore
    from ..inventory import Inventory
    from ..sshauth import ConnectionSecrets
    from ..transport import Transport

    store = HostKeyStore(ctx.data_dir)
    ask = access_asker(secret_env)
    logins = ConnectionSecrets(parse_params(secret_env))

    def transport(inv: Any) -> Transport:
        t = Transport(inv, store, secrets=logins)
        t.ask_secret = ask
        return t

    engine = Engine(journal, decider, transport_factory=transport,
                    inventory_from_snapshot=Inventory.from_snapshot)
    engine.default_concurrency = ctx.config.get("concurrency")
    return engine


async def execute(ctx: Ctx, engine: Any, run_id: str, secrets: dict[str, str]) -> int:
    """Run the engine on `run_id`, printing events; return the exit code for its state."""
    engine.subscribe(Printer(as_json=ctx.as_json))
    state = await engine.execute(run_id, secrets)
    if state != "succeeded" and not ctx.as_json:
        hint = {"waiting": "confirm with `runbook resume {id} --confirm STEP` (or --yes)",
                "in_doubt": "decide with `runbook resume {id} --in-doubt CHOICE`",
                "failed": "fix the cause, then `runbook resume {id}` retries the failed step"}
        if state in hint:
            click.echo("runbook: " + hint[state].format(id=run_id), err=True)
    code = EXIT_CODES.get(state, 1)
    if state == "failed" and engine.failure_code:
        code = engine.failure_code
    return code


decision_options = [
    click.option("--yes", "-y", is_flag=True,
                 help="Approve every step marked `confirm`, except those that cannot be undone "
                      "(and every step of a critical procedure): they need --confirm STEP."),
    click.option("--confirm", "confirm", multiple=True, metavar="STEP",
                 help="Approve this confirm step, or mark this manual step done (repeatable)."),
    click.option("--secret-env", multiple=True, metavar="NAME=ENVVAR",
                 help="Read secret NAME from environment variable ENVVAR (never from argv)."),
    click.option("--secret-cmd", "secret_cmd", multiple=True, metavar="NAME='COMMAND'",
                 expose_value=False, callback=_remember,
                 help="Read secret NAME from the first line COMMAND prints (run without a "
                      "shell, e.g. sic_key='pass show cp/sic')."),
    click.option("--secret-keyring", "secret_keyring", multiple=True,
                 metavar="NAME[=SERVICE/USER]", expose_value=False, callback=_remember,
                 help="Read secret NAME from the system keyring (default service runbook, "
                      "user NAME)."),
    click.option("--accept-new-host-key", is_flag=True,
                 help="Trust (and record) host keys never seen before. A changed key is "
                      "always refused."),
]
