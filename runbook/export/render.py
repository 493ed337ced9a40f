"""Write a change record or a plan as JSON, Markdown (for the ticket) or HTML (for people)."""

from __future__ import annotations

import html
import json
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore

from ..errors import UsageError
from ..redact import MASK

SECRET_SHOWN = "•••••• (secret, not stored)"

FORMATS = ("json", "md", "html")


def render(doc: dict[str, Any], fmt: str) -> str:
    """The document in `fmt`; raises UsageError for an unknown format."""
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    lines = markdown(doc)
    if fmt == "md":
        return "\n".join(lines) + "\n"
    if fmt == "html":
        return to_html(doc)
    raise UsageError(f"unknown format {fmt!r} (use {', '.join(FORMATS)})")


def _fence(text: str) -> list[str]:
    fence = "````" if "```" in text else "```"
    return [fence, text.rstrip("\n"), fence]


def words(value: Any) -> str:
    """A value in words for people: yes/no, lists joined, nothing as a dash, no Python reprs."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple | set):
        return ", ".join(words(v) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {words(v)}" for k, v in value.items()) or "none"
    return str(value)


def state(value: str) -> str:
    """A run or step state in words (`rolled back`, `in doubt`)."""
    return value.replace("_", " ")


def _cell(value: Any) -> str:
    return ("" if value is None else words(value)).replace("|", "\\|").replace("\n", " ")


def markdown(doc: dict[str, Any]) -> list[str]:
    """Markdown lines for a record or a plan."""
    p = doc["procedure"]
    plan = doc["format"] == "runbook-plan"
    src = p["source"]
    out = [f"# {'Plan' if plan else 'Change record'}: {p['title']}", ""]
    out += [f"- Procedure: `{p['id']}` version {p['version']} (sha256 `{p['sha256'][:16]}`)",
            f"- Vendor: {p['vendor']}; risk: **{p['risk']}**",
            f"- Source: {src['document']}" + (f", {src['section']}" if src.get("section") else "")]
    if not plan:
        r = doc["run"]
        out += [f"- Run: `{r['id']}`, state **{state(r['state'])}**"
                + (f" ({r['reason']})" if r["reason"] else ""),
                f"- By: {r['user']} on {r['hostname']}",
                f"- When: {r['started_at']} to {r['finished_at']} UTC "
                f"({r['started_local']} to {r['finished_local']} local)"]
    out += ["", "## Parameters", "", "| name | value |", "| --- | --- |"]
    secrets = set(doc.get("run", {}).get("secret_names", []))
    out += [f"| {_cell(k)} | {_cell(SECRET_SHOWN if k in secrets or v == MASK else v)} |"
            for k, v in doc["params"].items()]
    if not plan and doc["targets"]:
        out += ["", "## Devices", "", "| name | address | user | host key |",
                "| --- | --- | --- | --- |"]
        out += [f"| {t['name']} | {t.get('host')}:{t.get('port')} | {_cell(t.get('user'))} | "
                f"`{t.get('host_key') or 'not connected'}` |" for t in doc["targets"]]
    out += ["", "## Steps", ""]
    if plan:
        out += _plan_steps(doc)
    else:
        out += _record_steps(doc)
    return out


def _plan_steps(doc: dict[str, Any]) -> list[str]:
    out = ["| # | step | kind | on | confirm |", "| --- | --- | --- | --- | --- |"]
    for i, s in enumerate(doc["steps"], 1):
        on = ", ".join(r["target"] for r in s["on"] if r["target"]) or "-"
        out.append(f"| {i} | {_cell(s['title'])} (`{s['id']}`) | {s['kind']} | {_cell(on)} | "
                   f"{'yes' if s['confirm'] else ''} |")
    out += ["", "## Implementation", ""]
    for i, s in enumerate(doc["steps"], 1):
        out += [f"### {i}. {s['title']} (`{s['id']}`)", ""]
        if s["description"]:
            out += [s["description"].strip(), ""]
        if s["when"]:
            out += [f"Only when `{s['when']}`.", ""]
        if s.get("approve"):
            who = "one person" if s["approve"] == "other" else f"{s['approve']} people"
            out += [f"Needs approval by {who} not driving the run (`runbook approve`).", ""]
        if s.get("batches"):
            out += [f"Rolled out in {len(s['batches'])} batches"
                    + (f" (rollout `{s['rollout']}`)" if s.get("rollout") else "")
                    + f", stopping when more than {s['max_fail']} device(s) fail: "
                    + "; ".join(f"{n}. {', '.join(map(str, b))}"
                                for n, b in enumerate(s["batches"], 1)), ""]
        for r in s["on"]:
            where = f" on **{r['target']}**" if r["target"] else ""
            if r["command"]:
                out += [f"Run{where}:", ""] + _fence(r["command"]) + [""]
            if r.get("does") and s["kind"] == "cli":
                out += [f"Send{where}, line by line:", ""] + _fence("\n".join(r["does"])) + [""]
            elif r.get("does"):
                out += [f"- {line}{where}" for line in r["does"]] + [""]
            if r["backups"]:
                out += [f"Backed up first{where}: " + ", ".join(f"`{b}`" for b in r["backups"]),
                        ""]
    out += ["## Backout plan", "",
            "`runbook rollback RUN` restores every backed-up file (newest change first, each "
            "checked by hash) and runs these commands, last step first:", ""]
    any_rb = False
    for s in reversed(doc["steps"]):
        if s.get("irreversible"):
            any_rb = True
            out.append(f"- `{s['id']}`: **cannot be undone**: {s['irreversible'].strip()} "
                       "Once it has run, rollback refuses to undo it or any step before it.")
        for r in s["on"]:
            if r["rollback"] or r["backups"]:
                any_rb = True
                where = f" on {r['target']}" if r["target"] else ""
                out.append(f"- `{s['id']}`{where}: restore "
                           + (", ".join(f"`{b}`" for b in r["backups"]) or "nothing")
                           + ("; then " + "; ".join(f"`{c}`" for c in r["rollback"])
                              if r["rollback"] else ""))
    if not any_rb:
        out.append("- Nothing to undo: no step changes files or declares rollback commands.")
    return out


def _record_steps(doc: dict[str, Any]) -> list[str]:
    out = ["| step | device | status | exit | seconds | started (UTC) |",
           "| --- | --- | --- | --- | --- | --- |"]
    for s in doc["steps"]:
        if not s["attempts"]:
            out.append(f"| {_cell(s['title'])} | | {state(s['status'])} | | | |")
        for a in s["attempts"]:
            out.append(f"| {_cell(s['title'])} | {_cell(a['target'])} | {state(a['status'])} | "
                       f"{_cell(a['exit_status'])} | {_cell(a['seconds'])} | "
                       f"{a['started_at'][:19]} |")
    for s in doc["steps"]:
        out += ["", f"### {s['title']} (`{s['id']}`)", ""]
        for a in s["attempts"]:
            where = f" on {a['target']}" if a["target"] else ""
            out.append(f"**Attempt {a['attempt']}{where}: {state(a['status'])}**"
                       + (f" — {a['reason']}" if a["reason"] else ""))
            if a["command"]:
                out += [""] + _fence(a["command"])
            o = a["output"]
            if o["text"]:
                note = (f"output trimmed: {o['lines']} lines, sha256 `{o['sha256']}`"
                        + (f", full log `{o['full_log']}`" if o["full_log"] else ""))
                out += ["", "Output" + (f" ({note})" if o["trimmed"] else "") + ":", ""]
                out += _fence(o["text"])
            out.append("")
        if s["backups"]:
            out += ["Backups:", "", "| device | path | state | sha256 | mode | restored |",
                    "| --- | --- | --- | --- | --- | --- |"]
            out += [f"| {_cell(b['target'])} | `{b['path']}` | {b['state']} | "
                    f"`{(b['sha256'] or '-')[:16]}` | {b['mode'] or ''} | "
                    f"{b['restored_at'] or ''} |" for b in s["backups"]]
            out.append("")
        for c in s["certificates"]:
            out += ["Certificate facts:", "", "| fact | value |", "| --- | --- |"]
            out += [f"| {_cell(k)} | {_cell(v)} |" for k, v in c.items()]
            out.append("")
    if doc.get("operators"):
        out += ["## Operators", ""]
        out += [f"- {o['ts'][:19]} {o['by']}" + (f" took over from {o['previous']}"
                                                 if o.get("previous") else " started the run")
                for o in doc["operators"]]
        out.append("")
    if doc.get("approvals"):
        out += ["## Approvals (four eyes)", ""]
        out += [f"- {a['ts'][:19]} {a['by']} approved {a['step_id']}"
                + (f" (database user {a['database_user']})" if a.get("database_user") else "")
                + (f": {a['comment']}" if a.get("comment") else "") for a in doc["approvals"]]
        out.append("")
    if doc["decisions"]:
        out += ["## Operator decisions", ""]
        out += [f"- {d['ts'][:19]} {d['question']}"
                + (f" ({d['step_id']}" + (f" on {d['target']}" if d['target'] else "") + ")"
                   if d["step_id"] else "") + f": **{d['answer']}**" for d in doc["decisions"]]
    if doc["comments"]:
        out += ["", "## Comments", ""]
        out += [f"- {c['ts'][:19]} " + (f"({c['step_id']}) " if c["step_id"] else "")
                + c["text"] for c in doc["comments"]]
    if doc["rollbacks"]:
        out += ["", "## Rollback", ""]
        for r in doc["rollbacks"]:
            if r.get("event") == "rollback_refusal":
                out.append(f"- {r['ts'][:19]} " + refusal_words(r))
                continue
            detail = {k: v for k, v in r.items()
                      if k not in ("seq", "ts", "step_id", "target", "event")}
            out.append(f"- {r['ts'][:19]} " + (f"{r['step_id']} " if r["step_id"] else "")
                       + (f"on {r['target']} " if r["target"] else "")
                       + ", ".join(f"{k.replace('_', ' ')}: {words(v)}"
                                   for k, v in detail.items()))
    out += ["", "## Integrity", "",
            f"{doc['chain']['events']} journal events, hash-chained; head `{doc['chain']['head']}`."
            " Check the JSON record with `runbook verify-record FILE`."]
    return out


def refusal_words(r: dict[str, Any]) -> str:
    """A refused rollback in one sentence: who asked, for what, and why runbook refused."""
    what = (f"only step {r['only_step']}" if r.get("only_step") else
            f"from step {r['to_step']} on" if r.get("to_step") else "the whole run")
    who = f" asked by {r['by']}" if r.get("by") else ""
    force = " (with --force)" if r.get("force") else ""
    return (f"**Rollback refused** by runbook: a rollback of {what}{force}{who} was refused "
            f"before anything changed. Reason: {r.get('reason', '')}")


CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#111}
h1{font-size:1.6em;border-bottom:2px solid #333}h2{margin-top:1.6em;border-bottom:1px solid #999}
table{border-collapse:collapse;margin:.6em 0;width:100%}
th,td{border:1px solid #bbb;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eee}code,pre{font-family:ui-monospace,monospace;font-size:12px}
pre{background:#f6f6f6;border:1px solid #ddd;padding:.5em;white-space:pre-wrap;word-break:break-all}
.succeeded{color:#060}.failed,.in_doubt{color:#a00;font-weight:bold}.rolled_back{color:#850}
@media print{body{margin:0;max-width:none}pre{page-break-inside:avoid}h2{page-break-after:avoid}}
"""


STATUSES = {"succeeded", "failed", "in_doubt", "rolled_back", "skipped", "pending", "running",
            "waiting", "aborted", "interrupted"}


def _markdown_it() -> MarkdownIt:
    """CommonMark plus tables; raw HTML in a description is shown as text, never run, and
    images are not fetched (a record makes no external request)."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table").disable("image")

    def classes(state: StateCore) -> None:  # colour status cells and mark the steps table
        tokens = state.tokens
        for i, tok in enumerate(tokens):
            if tok.type in ("td_open", "th_open") and i + 1 < len(tokens):
                text = tokens[i + 1].content.strip()
                if text in STATUSES:
                    tok.attrSet("class", text)
                if tok.type == "th_open" and text == "status":
                    for back in range(i, -1, -1):
                        if tokens[back].type == "table_open":
                            tokens[back].attrSet("class", "steps")
                            break

    md.core.ruler.push("runbook_classes", classes)
    return md


def to_html(doc: dict[str, Any]) -> str:
    """One self-contained HTML file (inline CSS, no scripts, no external requests)."""
    body = _markdown_it().render("\n".join(markdown(doc)) + "\n")
    title = html.escape(doc["procedure"]["title"])
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title><style>{CSS}</style></head><body>\n"
            + body + "</body></html>\n")
