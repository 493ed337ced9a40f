"""Descriptions in exported HTML are CommonMark (markdown-it-py), escaped and self-contained."""

from __future__ import annotations

from runbook.export import build_plan, render
from runbook.loader import load_procedure, procedure_hash

from .helpers import write_procedure

PROC = """
id: test.markdown
title: Markdown <b>title</b>
vendor: test
source: {document: tests}
risk: low
version: "1"
description: A procedure.
steps:
  - id: note
    title: Read this
    kind: manual
    description: |
      Check the *active* policy with **care**, then `fw stat`:

      1. open SmartConsole
      2. install <script>alert(1)</script> nothing

      ![tracker](https://example.invalid/pixel.png) and [the manual](https://example.invalid/m)
"""


def test_description_markdown_renders_to_safe_html(tmp_path) -> None:
    path = write_procedure(tmp_path, PROC)
    plan = build_plan(load_procedure(path), procedure_hash(path.read_text()), str(path), {},
                      None)
    page = render(plan, "html")
    assert "<em>active</em>" in page and "<strong>care</strong>" in page
    assert "<code>fw stat</code>" in page and "<li>open SmartConsole</li>" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img" not in page and 'href="https://example.invalid/m"' in page
    assert "<title>Markdown &lt;b&gt;title&lt;/b&gt;</title>" in page
    assert '<table class="steps">' not in page  # a plan's table has no status column
    assert "<table>" in page and "<th>step</th>" in page
