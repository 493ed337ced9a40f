"""Change records and plans: one dict built from the journal, written as JSON, Markdown or HTML."""

from .plan import build_plan
from .record import build_record, verify_record
from .render import render

__all__ = ["build_plan", "build_record", "render", "verify_record"]
