"""`runbook observe`: the change board's read-only live view of the journal, in the terminal."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..completion import run_ids
from .common import Ctx, fail


@click.command("observe")
@click.argument("run", required=False, shell_complete=run_ids)
@click.pass_obj
def observe_cmd(ctx: Ctx, run: str | None) -> None:
    """Watch the journal's runs as they happen, read-only (RUN: open that run straight away).
    Nothing in this view can resume, roll back, approve or answer anything."""
    try:
        from ..screens.observe import run_observer

        sys.exit(run_observer(ctx.config.get("journal"), ctx.data_dir, run))
    except Exception as exc:  # noqa: BLE001 - one line for the user, never a traceback
        sys.exit(fail(exc, ctx))


def serve_journal_env(ctx: Ctx) -> None:
    """Hand the journal the user named (flag, environment or settings file) to the observer
    processes `runbook serve --observe` starts, through their environment: a team journal's
    URL may hold a password, which must not show on a command line."""
    spec = ctx.config.get("journal")
    if not spec:
        return
    if not str(spec).startswith(("postgresql://", "postgres://")):
        spec = str(Path(spec).resolve())
    os.environ["RUNBOOK_JOURNAL"] = str(spec)
