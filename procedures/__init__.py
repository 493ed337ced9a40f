"""Procedure YAML files shipped with runbook, grouped by vendor."""
