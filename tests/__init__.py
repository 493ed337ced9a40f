"""Tests for runbook."""
