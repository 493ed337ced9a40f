"""Output evidence: every pattern of the shipped procedures matches its quoted sample, and
`runbook validate --strict` refuses patterns that have none."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runbook import library
from runbook.errors import ProcedureError
from runbook.evidence import check, patterns, problems
from runbook.loader import load_procedure, load_procedure_text
from runbook.template import Value, render

from .helpers import REPO, cli, cli_env

SHIPPED = sorted(library.root().rglob("*.yaml"))
PATTERNS = [(path, step.id, kind, pattern, ev)
            for path in SHIPPED for step in load_procedure(path).steps
            for _, kind, pattern in patterns(step)
            for ev in [next((e for e in step.evidence if e.pattern == pattern), None)]]


def test_the_shipped_procedures_have_patterns_to_check() -> None:
    assert len(PATTERNS) >= 20
    assert {k for *_, k, _, _ in PATTERNS} >= {"match", "not_match", "capture"}


@pytest.mark.parametrize(("path", "step", "kind", "pattern", "ev"), PATTERNS,
                         ids=[f"{p.parent.name}/{p.stem}:{s}:{k}" for p, s, k, *_ in PATTERNS])
def test_each_pattern_matches_its_quoted_sample(path, step, kind, pattern, ev) -> None:
    assert ev is not None, f"{path.name}: step {step}: {pattern!r} has no evidence"
    assert ev.source.strip() and ev.sample.strip()
    rx = re.compile(render(pattern, {k: Value(v) for k, v in ev.values.items()}, "regex").text)
    assert any(rx.search(line) for line in ev.sample.splitlines()), (pattern, ev.sample)
    if kind == "not_match":  # a failure marker must not fire on documented success output
        assert ev.success and not any(rx.search(line) for line in ev.success.splitlines())
    assert check(kind, pattern, ev) is None


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_shipped_procedure_passes_strict_validation(path: Path) -> None:
    assert problems(load_procedure(path, strict=True)) == []


BASE = """\
id: t.evidence
title: t
vendor: lab
source: {document: tests}
risk: low
params:
  host: {type: target}
steps:
  - id: one
    title: one
    kind: run
    target: host
    command: fw stat
"""


def test_a_pattern_without_evidence_is_refused_where_it_is_written() -> None:
    text = BASE + "    expect: {match: [\"Trust established\"]}\n"
    load_procedure_text(text, "p.yaml")  # fine without --strict (a site's own procedures)
    with pytest.raises(ProcedureError) as info:
        load_procedure_text(text, "p.yaml", strict=True)
    assert str(info.value).startswith("p.yaml:14:")
    assert "match pattern 'Trust established' has no evidence" in str(info.value)


@pytest.mark.parametrize(("evidence", "message"), [
    ('[{pattern: "Trust established", sample: "Trust State: initialized", source: "x"}]',
     "does not match its evidence sample"),
    ('[{pattern: "Other", sample: "Other", source: "x"}]', "has no evidence"),
])
def test_evidence_that_does_not_back_the_pattern_is_refused(evidence: str, message: str) -> None:
    text = BASE + ("    expect: {match: [\"Trust established\"]}\n"
                   f"    evidence: {evidence}\n")
    with pytest.raises(ProcedureError) as info:
        load_procedure_text(text, "p.yaml", strict=True)
    assert message in str(info.value)


def test_a_not_match_pattern_needs_a_success_sample_it_does_not_match() -> None:
    body = BASE + ("    expect: {not_match: [\"(?i)error\"]}\n"
                   "    evidence: [{pattern: \"(?i)error\", sample: \"ERROR: x\", "
                   "source: \"doc\"%s}]\n")
    with pytest.raises(ProcedureError, match="needs a `success` sample"):
        load_procedure_text(body % "", "p.yaml", strict=True)
    with pytest.raises(ProcedureError, match="also matches the success sample"):
        load_procedure_text(body % ", success: \"no errors\"", "p.yaml", strict=True)
    load_procedure_text(body % ", success: \"all fine\"", "p.yaml", strict=True)


def test_a_capture_is_checked_against_its_sample() -> None:
    rx = "^\\\\S+\\\\s+(\\\\S+)"
    text = BASE + (f"    capture: {{policy: \"{rx}\"}}\n"
                   f"    evidence: [{{pattern: \"{rx}\", sample: \"localhost Standard\","
                   " source: \"doc\"}]\n")
    load_procedure_text(text, "p.yaml", strict=True)


async def test_validate_strict_on_the_command_line(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE + "    expect: {match: [\"CONNECTED\"]}\n")
    env = cli_env(tmp_path / "data", tmp_path)
    code, out, err = await cli(["validate", str(bad)], env)
    assert code == 0, err
    code, out, err = await cli(["validate", "--strict", str(bad)], env)
    assert code == 2
    assert err.startswith(f"{bad}:14:") and "has no evidence" in err
    shipped = [str(p) for p in SHIPPED]
    code, out, err = await cli(["validate", "--strict", *shipped], env)
    assert code == 0, err


def test_ci_runs_strict_validation() -> None:
    assert "validate --strict procedures/*/*.yaml" in (REPO / ".ci/run").read_text()
