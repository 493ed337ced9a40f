"""Crash torture: SIGKILL runbook at random moments, resume, and check nothing was lost."""
