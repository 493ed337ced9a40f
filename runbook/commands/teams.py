"""`runbook approve | journal copy`: four-eyes approval and moving runs between journals."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..errors import UsageError
from ..journals import open_journal


@click.command("approve")
@click.argument("run")
@click.argument("step")
@click.option("--comment", default="", help="Why you approve (kept in the change record).")
@click.pass_obj
def approve_cmd(ctx: Any, run: str, step: str, comment: str) -> None:
    """Approve STEP of RUN as a second pair of eyes (you must not be driving RUN)."""
    from .. import operators  # here, not at import: `runbook --help` stays quick
    from ..loader import load_procedure_text
    from .common import fail

    try:
        with ctx.journal() as journal:
            rec = journal.get_run(run)
            procedure = load_procedure_text(rec.procedure_text, rec.procedure_path)
            found = next((s for s in procedure.steps if s.id == step), None)
            if found is None:
                raise UsageError(f"run {rec.id} has no step {step!r} (steps: "
                                 f"{', '.join(s.id for s in procedure.steps)})")
            left = operators.approve(journal, rec.id, step, found.approve, comment)
            who = operators.identity(journal)
        ctx.emit({"run": rec.id, "step": step, "by": who, "missing": left},
                 f"{who} approved step {step} of run {rec.id}"
                 + (f"; {left} more approval(s) needed" if left else
                    f"; the operator can now resume it (runbook resume {rec.id})"))
    except Exception as exc:  # noqa: BLE001 - one line for the user, never a traceback
        sys.exit(fail(exc, ctx))


@click.group("journal")
def journal_group() -> None:
    """Work with run stores (SQLite files and PostgreSQL servers)."""


@journal_group.command("copy")
@click.argument("src")
@click.argument("dst")
@click.argument("runs", nargs=-1)
@click.pass_obj
def journal_copy_cmd(ctx: Any, src: str, dst: str, runs: tuple[str, ...]) -> None:
    """Copy RUNS (default: all) from SRC to DST, each a postgresql:// URL or a SQLite file;
    hash chains travel intact, runs already in DST are left alone."""
    from ..journal_copy import copy_runs  # brings the backup store: loaded when used
    from .common import fail

    try:
        with open_journal(src) as source, open_journal(dst) as dest:
            report = copy_runs(source, dest, list(runs) or None)
        ctx.emit({"copied": report.copied, "skipped": report.skipped},
                 f"copied {len(report.copied)} run(s)"
                 + (f"; {len(report.skipped)} already there: {', '.join(report.skipped)}"
                    if report.skipped else ""))
    except Exception as exc:  # noqa: BLE001
        sys.exit(fail(exc, ctx))
