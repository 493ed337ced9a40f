"""`runbook config` and `runbook inventory`: what runbook will use, and where it came from."""

from __future__ import annotations

import sys

import click

from ..config import default_path
from ..errors import UsageError
from .common import Ctx, fail


@click.command("config")
@click.pass_obj
def config_cmd(ctx: Ctx) -> None:
    """Print the effective settings and where each came from (flag, environment, file)."""
    rows = ctx.config.report()
    where = str(ctx.config.path) if ctx.config.path else f"{default_path()} (not present)"
    human = [f"config file: {where}"]
    human += [f"{r['key']:24} {'' if r['value'] is None else r['value']!s:40} {r['from']}"
              for r in rows]
    ctx.emit({"file": str(ctx.config.path) if ctx.config.path else None, "settings": rows},
             "\n".join(human))


@click.command("inventory")
@click.argument("pattern", default="all")
@click.option("--inventory", "-i", metavar="FILE", help="Inventory (default: runbook.toml's).")
@click.pass_obj
def inventory_cmd(ctx: Ctx, pattern: str, inventory: str | None) -> None:
    """Show the devices PATTERN selects (an Ansible host pattern), as runbook resolved them."""
    try:
        inv = ctx.inventory(inventory)
        if inv is None:
            raise UsageError("no inventory: give -i FILE or set `inventory` in runbook.toml")
        chosen = inv.select(pattern)
    except Exception as exc:  # noqa: BLE001
        sys.exit(fail(exc, ctx))
    rows = [{"name": t.name, **t.to_dict()} for t in chosen]
    ctx.emit(rows, "\n".join(f"{t.name:20} {(t.user or '-') + '@' + t.host + ':' + str(t.port):32} "
                              f"groups: {','.join(g for g in t.groups if g != 'all')}"
                              for t in chosen))
