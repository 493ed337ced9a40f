"""Shell completion (bash, zsh, fish via click): run ids, procedure names, inventory hosts.

Completion must never fail loudly or change anything: every helper returns no suggestions on
any error, and the journal is only read when it already exists.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem


def _settings(cctx: click.Context) -> Any:
    from .config import load_config

    root = cctx.find_root()
    return load_config(root.params.get("config_file")), root.params


def _data_dir(cctx: click.Context) -> Path:
    import platformdirs

    cfg, params = _settings(cctx)
    raw = (params.get("data_dir") or os.environ.get("RUNBOOK_HOME") or cfg.get("data_dir")
           or platformdirs.user_data_dir("runbook", False))
    return Path(raw).expanduser()


def run_ids(cctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Runs in the journal (unfinished first), plus `last`."""
    try:
        import sqlite3

        db = _data_dir(cctx) / "journal.db"
        if not db.exists():
            return []
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT id, state, procedure_id FROM runs ORDER BY "
                               "created_at DESC").fetchall()
        finally:
            con.close()
    except Exception:  # noqa: BLE001 - completion never fails
        return []
    items = [CompletionItem("last", help="the newest run")]
    items += [CompletionItem(r[0], help=f"{r[1]} {r[2]}") for r in rows]
    return [i for i in items if i.value.startswith(incomplete)]


def procedures(cctx: click.Context, param: click.Parameter,
               incomplete: str) -> list[CompletionItem]:
    """Shipped procedures by `vendor/name`, and files."""
    try:
        from . import library

        items = [CompletionItem(e.ref, help=e.title) for e in library.catalogue()
                 if e.ref.startswith(incomplete)]
    except Exception:  # noqa: BLE001
        items = []
    return items + [CompletionItem(incomplete, type="file")]


def param_values(cctx: click.Context, param: click.Parameter,
                 incomplete: str) -> list[CompletionItem]:
    """`-p NAME=` completes with the inventory's hosts and groups."""
    name, sep, value = incomplete.partition("=")
    if not sep:
        return []
    try:
        from .inventory import Inventory

        cfg, _ = _settings(cctx)
        path = cctx.params.get("inventory") or cfg.get("inventory")
        if not path:
            return []
        inv = Inventory.load(path)
    except Exception:  # noqa: BLE001
        return []
    names = [*inv.targets, *(g for g in inv.groups if g not in inv.targets)]
    return [CompletionItem(f"{name}={n}") for n in names if n.startswith(value)]
