"""Allow `python -m runbook`."""

from .commands.main import main

main()
