"""`runbook rollback | export | plan | verify-record | comment`: undo a run and account for it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .. import library
from ..completion import param_values, procedures, run_ids
from ..errors import UsageError
from ..headless import FlagDecider, Printer
from ..journal import Journal
from ..paths import write_private
from .common import (
    Ctx,
    fail,
    login_secret_names,
    make_engine,
    parse_params,
    read_secrets,
    run_async,
)

if TYPE_CHECKING:  # annotation only
    from ..engine import Engine

FORMATS = ["md", "json", "html"]


def write_out(text: str, output: str | None) -> None:
    """Write to a 0600 file (never widening an existing file's mode) or to stdout."""
    if not output:
        click.echo(text, nl=False)
        return
    path = write_private(Path(output), text)
    click.echo(f"written: {path}", err=True)


@click.command("rollback")
@click.argument("run", shell_complete=run_ids)
@click.option("--to", "to_step", metavar="STEP", help="Undo STEP and every step after it.")
@click.option("--step", "only_step", metavar="STEP", help="Undo only STEP.")
@click.option("--force", is_flag=True, help="Restore files even if they changed since their "
                                            "step finished (someone else's change is lost).")
@click.option("--secret-env", multiple=True, metavar="NAME=ENVVAR")
@click.option("--accept-new-host-key", is_flag=True)
@click.pass_obj
def rollback_cmd(ctx: Ctx, run: str, to_step: str | None, only_step: str | None, force: bool,
                 secret_env: tuple[str, ...], accept_new_host_key: bool) -> None:
    """Undo RUN: restore its backups newest first (hash-checked), run its rollback commands."""
    from ..rollback import rollback

    if to_step and only_step:
        sys.exit(fail(UsageError("give --to or --step, not both"), ctx))

    def start() -> tuple[Journal, Engine, str, dict[str, str]]:
        journal = ctx.journal()
        rec = journal.get_run(run)
        secrets = read_secrets(rec.secret_names, secret_env, login_secret_names(rec.inventory))
        engine = make_engine(ctx, journal, FlagDecider(accept_new_host_key=accept_new_host_key),
                             secret_env)
        return journal, engine, rec.id, secrets

    async def go(engine: Engine, run_id: str, secrets: dict[str, str]) -> int:
        engine.subscribe(Printer(as_json=ctx.as_json))
        state = await rollback(engine, run_id, secrets, to_step=to_step, only_step=only_step,
                               force=force)
        return 0 if state in ("rolled_back", "waiting") else 1

    journal = None
    try:
        journal, engine, run_id, secrets = start()
        sys.exit(run_async(ctx, lambda: go(engine, run_id, secrets)))
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - one line for the user
        sys.exit(fail(exc, ctx))
    finally:
        if journal is not None:
            try:
                journal.close()
            except Exception:  # noqa: BLE001 - the rollback's own outcome was already reported
                pass


@click.command("export")
@click.argument("run", shell_complete=run_ids)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="md", show_default=True)
@click.option("-o", "--output", metavar="FILE", help="Write here (mode 0600) instead of stdout.")
@click.option("--sign-key", metavar="KEYFILE", help="Sign the JSON record with this Ed25519 "
              "private key (PEM or OpenSSH; passphrase from $RUNBOOK_SIGN_PASSPHRASE or asked).")
@click.pass_obj
def export_cmd(ctx: Ctx, run: str, fmt: str, output: str | None, sign_key: str | None) -> None:
    """Write RUN's change record: who, where, when, what, outputs, backups, decisions."""
    from ..export import build_record, render
    from ..export.sign import load_private, sign

    try:
        if sign_key and fmt != "json":
            raise UsageError("--sign-key needs --format json (the signed form of a record)")
        key = load_private(sign_key) if sign_key else None
        journal = ctx.journal()
        logs = Path(output + ".logs") if output else None
        record = build_record(journal, journal.get_run(run).id, logs)
        if key is not None:
            sign(record, key)
        write_out(render(record, fmt), output)
    except Exception as exc:  # noqa: BLE001
        sys.exit(fail(exc, ctx))


@click.command("plan")
@click.argument("procedure", shell_complete=procedures)
@click.option("--inventory", "-i", metavar="FILE")
@click.option("--param", "-p", multiple=True, metavar="NAME=VALUE", shell_complete=param_values)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="md", show_default=True)
@click.option("-o", "--output", metavar="FILE")
@click.pass_obj
def plan_cmd(ctx: Ctx, procedure: str, inventory: str | None, param: tuple[str, ...], fmt: str,
             output: str | None) -> None:
    """Write the implementation and backout plan of PROCEDURE, for approval before the run."""
    from ..export import build_plan, render
    from ..loader import load_procedure, procedure_hash

    try:
        path = library.resolve(procedure)
        proc = load_procedure(path)
        inv = ctx.inventory(inventory)
        plan = build_plan(proc, procedure_hash(path.read_text()), str(path), parse_params(param),
                          inv)
        write_out(render(plan, fmt), output)
    except Exception as exc:  # noqa: BLE001
        sys.exit(fail(exc, ctx))


@click.command("verify-record")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--key", "key_file", metavar="PUBKEY", help="Also require a valid signature by "
              "this Ed25519 public key (PEM, or an OpenSSH `ssh-ed25519` line).")
@click.pass_obj
def verify_record_cmd(ctx: Ctx, file: str, key_file: str | None) -> None:
    """Check an exported JSON record whole: its hash chain, the seal at its end and every
    section against the seal (and its signature with --key); name what was changed."""
    from ..export import verify_record
    from ..export.sign import check, load_public

    try:
        record = json.loads(Path(file).read_text())
        if not isinstance(record, dict):
            raise ValueError("not an object")
        public = load_public(key_file) if key_file else None
    except (ValueError, OSError) as exc:
        sys.exit(fail(UsageError(f"{file}: not a JSON change record ({exc})"), ctx))
    except UsageError as exc:
        sys.exit(fail(exc, ctx))
    problem = verify_record(record)
    if problem is None and public is not None:
        problem = check(record, public)
    if problem:
        click.echo(f"runbook: record NOT intact: {problem}", err=True)
        sys.exit(1)
    signed = record.get("signature") if isinstance(record.get("signature"), dict) else None
    how = (f", signed by {signed.get('key')}" if public is not None and signed else
           f", signature by {signed.get('key')} not checked (give --key)" if signed else "")
    click.echo(f"record intact: {len(record['events'])} events, head {record['chain']['head']}"
               f"{how}")


@click.command("comment")
@click.argument("run", shell_complete=run_ids)
@click.argument("text")
@click.option("--step", metavar="STEP", help="The step the comment is about.")
@click.pass_obj
def comment_cmd(ctx: Ctx, run: str, text: str, step: str | None) -> None:
    """Add an operator's comment to RUN's change record."""
    try:
        journal = ctx.journal()
        make_engine(ctx, journal, FlagDecider()).comment(run, text, step)
    except Exception as exc:  # noqa: BLE001
        sys.exit(fail(exc, ctx))

