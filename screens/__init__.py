"""The Textual application: screens, widgets and styles over the runbook engine."""

from .app import RunbookApp, create_app, run_tui

__all__ = ["RunbookApp", "create_app", "run_tui"]
