"""Step kinds: one module each; `RUNNERS` maps a kind to the coroutine that performs it."""

from .run import run_command
from .wait import wait_until

RUNNERS = {"run": run_command, "wait": wait_until}

__all__ = ["RUNNERS"]
