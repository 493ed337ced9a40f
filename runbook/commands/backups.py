"""`runbook backups ...`: the encrypted backup store (rotate its key)."""

from __future__ import annotations

import os
import sys

import click

from ..backupkeys import ENV_PASSPHRASE
from ..errors import UsageError
from .common import Ctx, fail


@click.group("backups")
def backups_group() -> None:
    """The backup store: every backup is encrypted at rest (AES-256-GCM)."""


@backups_group.command("rekey")
@click.option("--passphrase-env", metavar="ENVVAR",
              help="Derive the new key from the passphrase in ENVVAR (for headless use; set "
                   f"${ENV_PASSPHRASE} to it afterwards). Default: a new random key in the OS "
                   "keyring, or in a 0600 key file in the config directory without one.")
@click.pass_obj
def rekey_cmd(ctx: Ctx, passphrase_env: str | None) -> None:
    """Re-encrypt every backup under a new key and forget the old one.

    The old key must be available (keyring, key file, or the old passphrase in
    $RUNBOOK_BACKUP_PASSPHRASE). Every backup is read first, so a missing or wrong key
    changes nothing; an interrupted rekey can be run again.
    """
    from ..backups import BackupStore

    try:
        passphrase = None
        if passphrase_env:
            passphrase = os.environ.get(passphrase_env)
            if not passphrase:
                raise UsageError(f"--passphrase-env: environment variable {passphrase_env} is "
                                 "not set")
        count, kid = BackupStore(ctx.data_dir).rekey(passphrase)
    except Exception as exc:  # noqa: BLE001 - one line for the user
        sys.exit(fail(exc, ctx))
    ctx.emit({"objects": count, "key_id": kid},
             f"re-encrypted {count} backup object(s) under key {kid}")
