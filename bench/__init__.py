"""Benchmarks of runbook against hand-written asyncssh and Ansible (not part of the tests)."""
