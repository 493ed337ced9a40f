"""Bad input of every kind gives a clean, located error or is handled; never a traceback."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbook.errors import InventoryError, UsageError
from runbook.headless import FlagDecider
from runbook.inventory import Inventory
from runbook.linesplit import LINE_PIECE, Splitter
from runbook.loader import load_procedure
from runbook.model import Param
from runbook.params import coerce

from .helpers import engine_for, write_procedure

FAST = settings(max_examples=300, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20),
                    st.floats(allow_nan=False))
trees = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=20)


@FAST
@given(st.one_of(trees, st.dictionaries(st.sampled_from(["all", "ftds", "x"]), trees)))
def test_any_inventory_structure_is_accepted_or_refused_cleanly(data) -> None:
    try:
        inv = Inventory.from_dict(data, "fuzz.yaml")
    except InventoryError as exc:
        assert str(exc).startswith("fuzz.yaml")
        return
    for name in inv.targets:
        inv.get(name)
    Inventory.from_snapshot(inv.snapshot())


@FAST
@given(st.text(max_size=300))
def test_any_yaml_text_inventory_gives_an_inventory_error(text) -> None:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return
    try:
        Inventory.from_dict(data, "fuzz.yaml")
    except InventoryError:
        pass


@FAST
@given(st.sampled_from(["string", "int", "bool", "ip", "secret"]),
       st.one_of(st.text(max_size=40), st.binary(max_size=20).map(
           lambda b: b.decode("latin-1"))))
def test_any_param_value_is_typed_or_refused_cleanly(kind, raw) -> None:
    param = Param(type=kind)  # type: ignore[arg-type]
    try:
        coerce("p", param, raw, None)
    except UsageError as exc:
        assert "parameter 'p'" in str(exc)


@FAST
@given(st.lists(st.binary(max_size=3000), max_size=20))
def test_any_device_bytes_become_bounded_text_lines(chunks) -> None:
    lines: list[str] = []
    splitter = Splitter("stdout", lambda s, chunk: lines.extend(chunk))
    for c in chunks:
        splitter.feed(c)
    splitter.close()
    assert all(isinstance(x, str) and len(x.encode("utf-8", "replace")) <= 4 * LINE_PIECE
               for x in lines)
    assert sum(c.count(b"\n") for c in chunks) <= len(lines)
    data = b"".join(chunks)  # under 64 KiB: however it was chunked, the lines are exact
    want = data.split(b"\n")
    if want[-1] == b"":
        want.pop()
    assert lines == [w.rstrip(b"\r").decode("utf-8", "replace") for w in want]


async def test_hostile_output_is_shown_stored_and_checked(ssh_device, tmp_path) -> None:
    path = write_procedure(tmp_path, r"""
        id: test.hostile
        title: Hostile output
        vendor: test
        source: {document: tests}
        risk: low
        params: {dev: {type: target}}
        steps:
          - id: noise
            title: Noise
            kind: run
            target: dev
            command: >-
              printf '\377\376 bad utf-8\n\033[31mred\033[0m\n';
              head -c 300000 /dev/zero | tr '\0' a; echo; echo end
            expect: {match: ["^end$"]}
        """)
    engine, journal, rec = engine_for(ssh_device.data_dir, FlagDecider())
    run_id = engine.create(load_procedure(path), path.read_text(), str(path),
                           {"dev": ssh_device.name}, {}, Inventory.load(ssh_device.inventory_path))
    assert await engine.execute(run_id, {}) == "succeeded"
    lines = rec.lines("noise")
    assert lines[0].endswith(" bad utf-8") and "\ufffd" in lines[0]
    assert max(len(x) for x in lines) <= LINE_PIECE  # the 300 kB line came in pieces
    assert lines[-1] == "end"
    (attempt,) = journal.attempts(run_id)
    assert attempt.output_bytes and attempt.output_bytes > 300_000


def test_bad_input_writes_nothing_outside_the_data_directory(tmp_path) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    from .helpers import REPO

    bad = sorted((Path(__file__).parent / "procedures" / "bad").glob("*.yaml"))
    work, home, data = tmp_path / "work", tmp_path / "home", tmp_path / "data"
    for d in (work, home):
        d.mkdir()
    (work / "inv.yaml").write_text("all: {hosts: {a: {ansible_port: [x]}}}\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "RUNBOOK_HOME": str(data),
           "PYTHONPATH": str(REPO)}
    before = sorted(p for p in tmp_path.rglob("*"))
    for args in (["validate", *map(str, bad)], ["run", str(bad[0]), "-i", "inv.yaml"],
                 ["run", str(REPO / "tests/procedures/good.yaml"), "-i", "inv.yaml"],
                 ["show", "nope"], ["resume", "nope"], ["verify-record", "inv.yaml"]):
        r = subprocess.run([sys.executable, "-m", "runbook", *args], cwd=work, env=env,
                           capture_output=True, text=True)
        assert r.returncode in (1, 2), (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stdout + r.stderr
        assert len(r.stderr.strip().splitlines()) >= 1
    after = sorted(p for p in tmp_path.rglob("*") if data not in p.parents and p != data)
    assert after == before
