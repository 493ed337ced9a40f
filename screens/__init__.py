"""The Textual application: screens, widgets and styles over the runbook engine."""
