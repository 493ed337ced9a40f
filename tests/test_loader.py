"""Procedure files: located errors for malformed ones, a JSON Schema, no code from YAML tags."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbook import library
from runbook.errors import ProcedureError
from runbook.loader import load_procedure, load_procedure_text, procedure_schema

from .helpers import REPO

BAD = sorted((Path(__file__).parent / "procedures" / "bad").glob("*.yaml"))
SHIPPED = sorted(library.root().rglob("*.yaml"))


def expected(path: Path) -> tuple[str, str]:
    m = re.match(r"# expect: (\d+:\d+): (.*)", path.read_text().split("\n", 1)[0])
    assert m, f"{path.name} lacks its `# expect: LINE:COL: text` header"
    return m.group(1), m.group(2)


def test_there_are_at_least_twenty_malformed_files() -> None:
    assert len(BAD) >= 20


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_malformed_file_gives_one_located_error(path: Path) -> None:
    where, text = expected(path)
    with pytest.raises(ProcedureError) as info:
        load_procedure(path)
    assert f"{info.value.line}:{info.value.column}" == where
    assert text in str(info.value)
    assert str(info.value).startswith(f"{path}:{where}: ")
    assert "errors.pydantic.dev" not in str(info.value)


def test_validate_command_prints_one_line_per_bad_file_and_exits_2(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-m", "runbook", "validate", *map(str, BAD)],
                          capture_output=True, text=True, cwd=REPO,
                          env={"PYTHONPATH": str(REPO), "RUNBOOK_HOME": str(tmp_path),
                               "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == len(BAD)
    for path, line in zip(BAD, lines, strict=True):
        assert line.startswith(f"{path}:{expected(path)[0]}: ")


def test_python_tags_are_never_executed(tmp_path) -> None:
    marker = tmp_path / "pwned"
    text = f'id: x\nsteps: !!python/object/apply:os.system ["touch {marker}"]\n'
    with pytest.raises(ProcedureError, match="is not allowed"):
        load_procedure_text(text, "evil.yaml")
    scalar = f'id: !!python/object/apply:os.system ["touch {marker}"]\n'
    with pytest.raises(ProcedureError):
        load_procedure_text(scalar, "evil.yaml")
    assert not marker.exists()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_procedures_load_and_match_the_schema(path: Path) -> None:
    load_procedure(path)
    jsonschema.validate(yaml.safe_load(path.read_text()), procedure_schema())


def test_committed_schema_is_up_to_date() -> None:
    committed = json.loads((REPO / "runbook" / "procedure.schema.json").read_text())
    assert committed == procedure_schema()


def test_schema_command_prints_the_schema() -> None:
    out = subprocess.run([sys.executable, "-m", "runbook", "schema"], capture_output=True,
                         text=True, cwd=REPO, env={"PYTHONPATH": str(REPO),
                                                   "PATH": "/usr/bin:/bin"})
    assert json.loads(out.stdout)["title"] == "runbook procedure"


GOOD = (Path(__file__).parent / "procedures" / "good.yaml").read_text()
LINES = GOOD.splitlines()


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "truncate"]))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "insert":
            lines[i] = lines[i][: len(lines[i]) // 2] + draw(st.text(max_size=5)) + \
                lines[i][len(lines[i]) // 2:]
        else:
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
    return "\n".join(lines)


@settings(max_examples=300, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_files_give_a_procedure_or_a_located_error(text: str) -> None:
    try:
        load_procedure_text(text, "fuzz.yaml")
    except ProcedureError as exc:
        assert 1 <= exc.line <= text.count("\n") + 2
        assert exc.column >= 1
        assert str(exc).startswith(f"fuzz.yaml:{exc.line}:{exc.column}: ")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_procedure_has_a_readable_plan(path: Path) -> None:
    from runbook.export import build_plan, render
    from runbook.inventory import Inventory
    from runbook.loader import procedure_hash

    proc = load_procedure(path)
    inv = Inventory.from_dict({"all": {"hosts": {
        n: {"ansible_host": "192.0.2.1", "runbook_role": r, "sf_uuid": f"uuid-{n}"}
        for n, r in (("mds1", "mds"), ("gw1", "gateway"), ("fmc1", "fmc"), ("ftd1", "ftd"),
                     ("cos1", "cos-stream"), ("sol1", "ike-host"))}}})
    given = {}
    for name, p in proc.params.items():
        if p.default is not None or p.type == "secret" or not p.required:
            continue
        given[name] = {"target": next(iter(inv.targets)), "targets": "all", "ip": "192.0.2.9",
                       "int": "1", "bool": "true"}.get(p.type, "x1")
        if p.type == "target":
            matches = [t for t in inv.targets.values() if name.replace("_", "-") in t.roles
                       or any(r in name for r in t.roles)]
            if p.accepts is not None:
                matches = [t for t in inv.targets.values() if set(p.accepts.role) & set(t.roles)]
            given[name] = (matches or list(inv.targets.values()))[0].name
        if p.type == "choice":
            given[name] = p.choices[0]
        if name == "new_dn":
            given[name] = "C=US, O=Lab, CN=x1"
    text = path.read_text()
    md = render(build_plan(proc, procedure_hash(text), str(path), given, inv), "md")
    assert md.startswith(f"# Plan: {proc.title}")
    assert "## Backout plan" in md
    for step in proc.steps:
        assert f"(`{step.id}`)" in md
    assert "•••••• (secret, not stored)" in md or not proc.secret_params


def test_a_text_is_parsed_once_whatever_it_is_called_and_errors_name_each_caller() -> None:
    """A run's procedure is read from its file, then from the journal's copy under the run's
    path: the second read is the first one's result. An error is never remembered: each
    caller is told of it under the name it gave."""
    text = SHIPPED[0].read_text()
    assert load_procedure_text(text, "first.yaml") is load_procedure_text(text, "other.yaml")
    broken = text.replace("steps:", "stepz:", 1)
    for name in ("one.yaml", "two.yaml"):
        with pytest.raises(ProcedureError) as err:
            load_procedure_text(broken, name)
        assert str(err.value).startswith(f"{name}:")
