"""Allow `python -m runbook`."""

from .cli import main

main()
