"""The `runbook` command: the TUI by default, and the same engine headless."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .. import library
from ..completion import param_values, procedures, run_ids
from ..config import load_config
from ..errors import DiskFull, RunbookError, UsageError
from ..headless import EXIT_CODES, FlagDecider
from ..journal import Journal
from ..journal_records import FINISHED
from ..paths import disk_full, is_disk_full
from .backups import backups_group
from .common import (
    Ctx,
    decision_options,
    execute,
    fail,
    login_secret_names,
    make_engine,
    parse_params,
    read_secrets,
    run_async,
    say_error,
)
from .observe import observe_cmd, serve_journal_env
from .records import comment_cmd, export_cmd, plan_cmd, rollback_cmd, verify_record_cmd
from .settings import config_cmd, inventory_cmd
from .teams import approve_cmd, journal_group

IN_DOUBT = ["rerun", "skip", "done", "verify", "rollback", "abort", "wait", "kill"]


def with_decisions(fn: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed(decision_options):
        fn = opt(fn)
    return fn


class JsonErrorsGroup(click.Group):
    """With --json, click's own usage errors are one JSON object on stderr too."""

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if "--json" not in argv or not standalone_mode or os.environ.get("_RUNBOOK_COMPLETE"):
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            super().main(argv, prog_name or "runbook", complete_var, False, **extra)
        except click.ClickException as exc:
            sys.exit(say_error("invalid input", exc.format_message(), exc.exit_code, None,
                               True))
        except click.Abort:
            sys.exit(say_error("interrupted", "aborted", 130, None, True))
        sys.exit(0)


@click.group(cls=JsonErrorsGroup, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", envvar="RUNBOOK_HOME", metavar="DIR",
              help="Where runs, backups and trust are kept (default: the user data dir).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--inventory", "-i", "inventory", metavar="FILE",
              help="Inventory for the terminal UI.")
@click.option("--journal", "journal", envvar="RUNBOOK_JOURNAL", metavar="URL|FILE",
              help="The run store: a team's postgresql://… server, or a SQLite file "
                   "(default: journal.db in the data dir).")
@click.option("--config", "config_file", metavar="FILE", envvar="RUNBOOK_CONFIG",
              help="Settings file (default: runbook.toml in the user config dir).")
@click.option("--operator", metavar="NAME", help="Name recorded as who ran the change.")
@click.option("--concurrency", type=click.IntRange(1, 1000), metavar="N",
              help="Fan-out limit for steps that set none.")
@click.version_option(package_name="runbook-trust")
@click.pass_context
def main(cctx: click.Context, data_dir: str | None, as_json: bool, inventory: str | None,
         journal: str | None, config_file: str | None, operator: str | None,
         concurrency: int | None) -> None:
    """Step through trust re-establishment procedures on security devices, with resume,
    rollback and a change record. Without a command, opens the terminal UI."""
    try:
        config = load_config(config_file)
    except RunbookError as exc:
        sys.exit(fail(exc))
    config.override("operator", operator, "--operator")
    config.override("concurrency", concurrency, "--concurrency")
    config.override("inventory", inventory, "--inventory")
    config.override("journal", journal, "--journal or RUNBOOK_JOURNAL")
    env = cctx.get_parameter_source("data_dir") == click.core.ParameterSource.ENVIRONMENT
    config.override("data_dir", data_dir, "RUNBOOK_HOME" if env else "--data-dir")
    cctx.obj = Ctx(None, as_json, config)
    if cctx.invoked_subcommand is None:
        sys.exit(tui(cctx.obj, inventory_path=config.get("inventory")))


def tui(ctx: Ctx, **kwargs: Any) -> int:
    """Open the terminal UI (Textual is imported only here)."""
    try:
        from ..screens.app import run_tui
        return run_tui(data_dir=ctx.data_dir, **kwargs)
    except Exception as exc:  # noqa: BLE001 - one line for the user, never a traceback
        return fail(exc, ctx)


@main.command("demo")
@click.option("--scenario", default="healthy", show_default=True,
              help="Lab scenario (see `runbook lab --help`).")
@click.option("--fresh", is_flag=True,
              help="Build the lab anew instead of bringing back the one kept in the data "
                   "directory (unfinished runs on the old lab cannot be resumed then).")
@click.pass_obj
def demo_cmd(ctx: Ctx, scenario: str, fresh: bool) -> None:
    """Start the lab of simulated devices and open the terminal UI on it. The lab is kept in
    the data directory ('demo-lab'): the next `runbook demo` of the same scenario brings it
    back as it was (devices, host keys, ports), so a run it was doing can be resumed."""
    sys.exit(tui(ctx, lab=scenario, fresh_lab=fresh))


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. The page has no login: keep it on loopback (reach it "
                   "through an SSH tunnel) unless the network is trusted.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--inventory", "-i", "inventory", metavar="FILE", help="Inventory for the UI.")
@click.option("--observe", is_flag=True,
              help="Serve the read-only observer of the journal (for a change board) instead "
                   "of the operator's UI: runs, steps and output live, nothing can be changed.")
@click.pass_obj
def serve_cmd(ctx: Ctx, host: str, port: int, inventory: str | None, observe: bool) -> None:
    """Open the terminal UI in a web browser (textual-serve); each tab runs its own app."""
    if importlib.util.find_spec("textual_serve") is None:
        sys.exit(fail(UsageError("`runbook serve` needs textual-serve: "
                                 "pip install 'runbook[serve]'"), ctx))
    from ..screens.browser import serve_command
    # the same interpreter, so no PATH or virtualenv is assumed
    command = [sys.executable, "-m", "runbook", "--data-dir", str(ctx.data_dir.resolve())]
    if inventory:
        command += ["-i", str(Path(inventory).resolve())]
    if observe:
        command.append("observe")
        serve_journal_env(ctx)
    serve_command(shlex.join(command), host=host, port=port,
                  title="runbook observer" if observe else "runbook")


@main.command("open")
@click.argument("run", shell_complete=run_ids)
@click.pass_obj
def open_cmd(ctx: Ctx, run: str) -> None:
    """Open the terminal UI straight on RUN."""
    sys.exit(tui(ctx, open_run=run))


@main.command("validate")
@click.argument("files", nargs=-1, required=True, shell_complete=procedures)
@click.option("--strict", is_flag=True,
              help="Also refuse output patterns without evidence (a quoted sample and its "
                   "source).")
@click.pass_obj
def validate_cmd(ctx: Ctx, files: tuple[str, ...], strict: bool) -> None:
    """Check procedure files; print FILE:LINE:COL: message for each problem (with --json, a
    list of {file, line, column, message}: `[]` when all are clean)."""
    from ..errors import ProcedureError
    from ..loader import load_procedure

    problems: list[dict[str, Any]] = []
    for f in files:
        try:
            p = load_procedure(library.resolve(f), strict=strict)
            if not ctx.as_json:
                click.echo(f"{f}: ok ({p.id}, {len(p.steps)} steps)")
        except ProcedureError as exc:
            problems.append({"file": exc.file, "line": exc.line, "column": exc.column,
                             "message": exc.detail})
            if not ctx.as_json:
                click.echo(str(exc), err=True)
        except RunbookError as exc:
            problems.append({"file": f, "line": None, "column": None, "message": str(exc)})
            if not ctx.as_json:
                click.echo(str(exc), err=True)
    if ctx.as_json:
        click.echo(json.dumps(problems, indent=2))
    sys.exit(2 if problems else 0)


@main.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of procedure files (for editors: yaml-language-server)."""
    from ..loader import procedure_schema

    click.echo(json.dumps(procedure_schema(), indent=2))


@main.command("list")
@click.pass_obj
def list_cmd(ctx: Ctx) -> None:
    """List the procedures shipped with runbook."""
    items = library.catalogue()
    ctx.emit([i.__dict__ for i in items],
             "\n".join(f"{i.ref:40} {i.risk:8} {i.title}" for i in items) or "no procedures")


@main.command("run")
@click.argument("procedure", shell_complete=procedures)
@click.option("--inventory", "-i", metavar="FILE",
              help="Ansible inventory (YAML, INI, JSON or executable; default: runbook.toml's).")
@click.option("--param", "-p", multiple=True, metavar="NAME=VALUE", shell_complete=param_values,
              help="A parameter value.")
@with_decisions
@click.pass_obj
def run_cmd(ctx: Ctx, procedure: str, inventory: str | None, param: tuple[str, ...],
            yes: bool, confirm: tuple[str, ...], secret_env: tuple[str, ...],
            accept_new_host_key: bool) -> None:
    """Run PROCEDURE (a file, or a name from `runbook list`) headless."""
    from ..loader import load_procedure

    def start() -> tuple[Journal, Any, str, dict[str, str]]:
        path = library.resolve(procedure)
        proc = load_procedure(path)
        text = Path(path).read_text()
        inv = ctx.inventory(inventory)
        secrets = read_secrets(proc.secret_params, secret_env, login_secret_names(inv))
        journal = ctx.journal()
        engine = make_engine(ctx, journal, FlagDecider(yes, set(confirm), None,
                                                       accept_new_host_key), secret_env)
        run_id = engine.create(proc, text, str(path), parse_params(param), secrets, inv)
        return journal, engine, run_id, secrets

    sys.exit(_guarded(ctx, start))


@main.command("resume")
@click.argument("run", shell_complete=run_ids)
@click.option("--in-doubt", type=click.Choice(IN_DOUBT), metavar="|".join(IN_DOUBT),
              help="What to do with a step that was interrupted mid-way (default: stop and "
                   "say which step and what it was running).")
@click.option("--take-over", is_flag=True,
              help="Take over a run another operator drove (their process must be gone).")
@click.option("--inventory", "-i", "inventory", metavar="FILE",
              help="Reach the run's devices with your own inventory (keys, jump hosts, "
                   "host keys); names, addresses and ports must match the run's.")
@with_decisions
@click.pass_obj
def resume_cmd(ctx: Ctx, run: str, in_doubt: str | None, take_over: bool,
               inventory: str | None, yes: bool, confirm: tuple[str, ...],
               secret_env: tuple[str, ...], accept_new_host_key: bool) -> None:
    """Resume RUN (an id, a unique part of one, or `last`) where it stopped."""

    def start() -> tuple[Journal, Any, str, dict[str, str]]:
        from ..inventory import Inventory

        journal = ctx.journal()
        rec = journal.get_run(run)
        secrets = read_secrets(rec.secret_names, secret_env, login_secret_names(rec.inventory))
        engine = make_engine(ctx, journal, FlagDecider(yes, set(confirm), in_doubt,
                                                       accept_new_host_key, take_over),
                             secret_env)
        engine.local_inventory = Inventory.load(inventory) if inventory else None
        return journal, engine, rec.id, secrets

    try:
        with ctx.journal() as j:
            rec = j.get_run(run)
    except Exception as exc:  # noqa: BLE001
        sys.exit(fail(exc, ctx))
    if rec.finished:  # resuming twice (or from a script) is not an error
        click.echo(f"run {rec.id} is already {rec.state}; nothing to resume", err=True)
        sys.exit(EXIT_CODES.get(rec.state, 0))
    sys.exit(_guarded(ctx, start))


def _guarded(ctx: Ctx, start: Callable[[], tuple[Journal, Any, str, dict[str, str]]]) -> int:
    journal = None
    run_id: str | None = None
    try:
        journal, engine, run_id, secrets = start()
        return run_async(ctx, lambda: execute(ctx, engine, run_id, secrets), run_id)
    except (DiskFull, OSError) as exc:
        if isinstance(exc, OSError) and not is_disk_full(exc):
            return fail(exc, ctx)
        where = exc.where if isinstance(exc, DiskFull) else None
        return fail(disk_full(where or ctx.data_dir, run_id), ctx)
    except Exception as exc:  # noqa: BLE001 - one line for the user, never a traceback
        return fail(exc, ctx)
    finally:
        if journal is not None:
            try:
                journal.close()
            except Exception:  # noqa: BLE001 - the run's own outcome was already reported
                pass


@main.command("runs")
@click.pass_obj
def runs_cmd(ctx: Ctx) -> None:
    """List runs, unfinished first."""
    try:
        journal = ctx.journal()
        runs = sorted(journal.list_runs(), key=lambda r: (r.finished, r.created_at[::-1]))
        rows = [{"id": r.id, "state": journal.shown_state(r), "procedure": r.procedure_id,
                 "created_at": r.created_at, "reason": r.reason,
                 "held_by": None if r.finished else journal.holder(r.id)} for r in runs]
        ctx.emit(rows, "\n".join(
            f"{r['id']:22} {r['state']:11} {r['procedure']:32} {str(r['created_at'])[:19]}"
            + ("" if r["state"] in FINISHED else
               f"  held by {r['held_by']}" if r["held_by"] else "  free to resume")
            for r in rows) or "no runs yet")
    except Exception as exc:  # noqa: BLE001
        sys.exit(fail(exc, ctx))


@main.command("show")
@click.argument("run", shell_complete=run_ids)
@click.pass_obj
def show_cmd(ctx: Ctx, run: str) -> None:
    """Show RUN's steps and where it stopped."""
    try:
        journal = ctx.journal()
        rec = journal.get_run(run)
        engine = make_engine(ctx, journal, FlagDecider())
        rows = engine.view(rec.id)
        state, holder = journal.shown_state(rec), journal.holder(rec.id)
        why = rec.reason
        if state == "interrupted":
            why = (f"no process runs it any more; `runbook resume {rec.id}` continues it"
                   " (a step it was running is in doubt)")
        elif holder:
            why = f"held by {holder}" + (f"; {why}" if why else "")
        head = (f"run {rec.id}: {rec.procedure_title} ({rec.procedure_id})\nstate: {state}"
                + (f" — {why}" if why else ""))
        body = "\n".join(f"  {v.status:11} {v.step_id:28} {v.target or '':12} {v.reason}"
                         for v in rows)
        ctx.emit({"run": rec.id, "state": state, "held_by": holder, "reason": rec.reason,
                  "params": rec.params, "steps": [v.__dict__ for v in rows]}, head + "\n" + body)
    except Exception as exc:  # noqa: BLE001
        sys.exit(fail(exc, ctx))


def _scenario_help() -> str:
    from ..lab.scenarios import SCENARIOS  # light: descriptions only, no device simulators

    width = max(len(n) for n in SCENARIOS)
    return "\b\nScenarios:\n" + "\n".join(f"  {n:{width}}  {d}" for n, d in SCENARIOS.items())


@main.command("lab", epilog=_scenario_help())
@click.option("--dir", "lab_dir", metavar="DIR", help="Where the devices' files and the "
              "inventory go (default: a 'lab' folder in the data directory).")
@click.option("--scenario", default="healthy", show_default=True, metavar="NAME",
              help="One of the scenarios below.")
@click.pass_obj
def lab_cmd(ctx: Ctx, lab_dir: str | None, scenario: str) -> None:
    """Start the simulated devices on loopback until Ctrl-C; print and write an inventory,
    and the values procedures ask for on the lab."""
    from ..lab.lab import SCENARIOS, LabError, run_lab
    from ..lab.values import lines

    if scenario not in SCENARIOS:
        sys.exit(fail(UsageError(f"unknown scenario {scenario!r} (known: "
                                 f"{', '.join(SCENARIOS)})"), ctx))
    where = Path(lab_dir) if lab_dir else ctx.data_dir / "lab"

    def ready(lab: Any) -> None:
        click.echo(f"lab ({scenario}: {SCENARIOS[scenario]}) is up; devices:")
        for name, srv in lab.servers.items():
            click.echo(f"  {name:6} 127.0.0.1:{srv.port}")
        click.echo("values for the procedures' parameters (lab-only secrets shown in full):")
        for line in lines(json.loads((lab.dir / "lab.json").read_text())["devices"]):
            click.echo(line)
        click.echo(f"inventory: {lab.inventory_path}\npress Ctrl-C to stop the lab")

    async def go() -> int:
        try:
            await run_lab(where, scenario, ready)
        except LabError as exc:
            return fail(UsageError(str(exc)), ctx)
        return 0

    code = run_async(ctx, go, interrupted="runbook: lab stopped; its devices are gone (the "
                     "next `runbook lab` builds them anew)")
    sys.exit(0 if code == 130 else code)


for command in (rollback_cmd, export_cmd, plan_cmd, verify_record_cmd, comment_cmd,
                backups_group, config_cmd, inventory_cmd, approve_cmd, journal_group,
                observe_cmd):
    main.add_command(command)
