"""Step kinds: one module each; `RUNNERS` maps a kind to the coroutine that performs it."""

from .cert import check_cert
from .cli import run_cli
from .files import copy, put_back, save
from .run import run_command
from .wait import wait_until

RUNNERS = {"run": run_command, "wait": wait_until, "backup": save, "restore": put_back,
           "copy": copy, "cert": check_cert, "cli": run_cli}

__all__ = ["RUNNERS"]
