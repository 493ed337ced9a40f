"""Step kinds: one module each; `RUNNERS` maps a kind to the coroutine that performs it.

The kinds are imported on first use of `RUNNERS` (they bring asyncssh and the certificate
code): `runbook.steps.base` alone, which the engine needs at import, stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    RUNNERS: dict[str, Callable[..., Awaitable[Any]]]


def __getattr__(name: str) -> Any:
    if name != "RUNNERS":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from .cert import check_cert
    from .cli import run_cli
    from .files import copy, put_back, save
    from .run import run_command
    from .wait import wait_until

    runners = {"run": run_command, "wait": wait_until, "backup": save, "restore": put_back,
               "copy": copy, "cert": check_cert, "cli": run_cli}
    globals()["RUNNERS"] = runners
    return runners


__all__ = ["RUNNERS"]
