"""The `runbook` command line: the click group and its commands."""
