"""Parameters cannot inject commands, secrets never reach disk or screen, host keys are checked."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest

from runbook.events import DecisionNeeded
from runbook.headless import FlagDecider
from runbook.inventory import Inventory
from runbook.lab.server import generate_key
from runbook.loader import load_procedure

from .helpers import cli, cli_env, engine_for, write_procedure

PAYLOADS = ["; id", "$(id)", "`id`", "a\nid", "it's \"quoted\"", "*", "../../etc/passwd",
            "x && touch pwned", "${HOME}", "| tee pwned", "-n", "'; touch pwned; '"]

ECHO = """
id: test.echo
title: Echo a value
vendor: test
source: {document: tests}
risk: low
params:
  dev: {type: target}
  value: {type: string}
steps:
  - {id: echo, title: Echo, kind: run, target: dev, command: "printf '%s\\n' {{ value }}"}
"""


@pytest.mark.parametrize("payload", PAYLOADS)
async def test_injection_payloads_reach_the_device_as_literals(ssh_device, tmp_path,
                                                               payload) -> None:
    path = write_procedure(tmp_path, ECHO)
    engine, _, rec = engine_for(ssh_device.data_dir)
    inv = Inventory.load(ssh_device.inventory_path)
    run_id = engine.create(load_procedure(path), path.read_text(), str(path),
                           {"dev": ssh_device.name, "value": payload}, {}, inv)

    assert await engine.execute(run_id, {}) == "succeeded"

    (command,) = ssh_device.server.commands
    assert shlex.split(command) == ["printf", "%s\n", payload]
    assert "\n".join(rec.lines("echo")) == payload
    assert not (ssh_device.root / "pwned").exists()


SECRET = "s3cr3t-Tok3n-XYZ"
SECRET_PROC = """
id: test.secret
title: Uses a secret
vendor: test
source: {document: tests}
risk: low
params:
  dev: {type: target}
  key: {type: secret}
steps:
  - id: init
    title: Initialise with the one-time key
    kind: run
    target: dev
    command: echo key is "$KEY"; echo "$KEY" | base64; printf %s "$KEY" | od -An -tx1
    secrets: {KEY: "{{ key }}"}
  - {id: fail, title: Fails naming it, kind: run, target: dev, command: "cat; exit 1",
     stdin: "{{ key }}"}
"""


async def test_secret_is_in_no_byte_of_journal_output_or_log(ssh_device, tmp_path) -> None:
    path = write_procedure(tmp_path, SECRET_PROC)
    env = cli_env(ssh_device.data_dir, tmp_path, RB_KEY=SECRET)

    code, out, err = await cli(["run", str(path), "-i", str(ssh_device.inventory_path),
                                "-p", f"dev={ssh_device.name}", "--secret-env", "key=RB_KEY"],
                               env)
    code2, out2, err2 = await cli(["show", "last"], env)
    code3, out3, err3 = await cli(["--json", "runs"], env)

    assert code == 1, out + err
    assert ssh_device.server.commands  # the steps ran, and the secret was on no command line
    assert not any(SECRET in c for c in ssh_device.server.commands)
    assert "key is ********" in out
    screen = out + err + out2 + err2 + out3 + err3
    files = [p for p in ssh_device.data_dir.rglob("*") if p.is_file()]
    assert any(p.name == "journal.db" for p in files)
    import base64
    forms = [SECRET, base64.b64encode(SECRET.encode()).decode().rstrip("="),
             SECRET.encode().hex()]
    for form in forms:
        assert form not in screen
        for p in files:
            assert form.encode() not in p.read_bytes(), p.name


async def test_secret_cannot_be_given_on_the_command_line(ssh_device, tmp_path) -> None:
    path = write_procedure(tmp_path, SECRET_PROC)
    env = cli_env(ssh_device.data_dir, tmp_path)
    code, out, err = await cli(["run", str(path), "-i", str(ssh_device.inventory_path),
                                "-p", f"dev={ssh_device.name}", "-p", f"key={SECRET}"], env)
    assert code == 2
    assert "secret" in err and "Traceback" not in err
    assert ssh_device.server.commands == []


async def test_changed_host_key_stops_before_any_command(ssh_device, tmp_path) -> None:
    path = write_procedure(tmp_path, ECHO)
    # Someone else now answers on the device's address with another key.
    await ssh_device.server.stop()
    ssh_device.server.host_key = generate_key()
    await ssh_device.server.start()  # same port
    env = cli_env(ssh_device.data_dir, tmp_path)

    code, out, err = await cli(["run", str(path), "-i", str(ssh_device.inventory_path), "-p",
                                f"dev={ssh_device.name}", "-p", "value=x",
                                "--accept-new-host-key"], env)

    assert code == 5, out + err
    assert "changed" in (out + err).lower()
    assert (out + err).count("SHA256:") >= 2
    assert ssh_device.server.commands == []


async def test_unknown_host_key_refused_headless_without_flag(ssh_device, tmp_path) -> None:
    path = write_procedure(tmp_path, ECHO)
    inv_text = ssh_device.inventory_path.read_text()
    unpinned = tmp_path / "unpinned.yaml"
    unpinned.write_text("\n".join(line for line in inv_text.splitlines()
                                  if "runbook_known_hosts" not in line) + "\n")
    env = cli_env(ssh_device.data_dir, tmp_path)
    args = ["run", str(path), "-i", str(unpinned), "-p", f"dev={ssh_device.name}",
            "-p", "value=x"]

    code, out, err = await cli(args, env)
    assert code == 5, out + err
    assert "SHA256:" in out + err
    assert ssh_device.server.commands == []

    code, out, err = await cli(args + ["--accept-new-host-key"], env)
    assert code == 0, out + err
    assert ssh_device.server.commands == ["printf '%s\n' x"]
    trust = ssh_device.data_dir / "known_hosts"
    assert trust.stat().st_mode & 0o777 == 0o600
    assert f"[127.0.0.1]:{ssh_device.server.port} " in trust.read_text()


async def test_host_key_question_goes_to_the_decider(ssh_device, tmp_path) -> None:
    path = write_procedure(tmp_path, ECHO)
    inv_text = ssh_device.inventory_path.read_text()
    unpinned = tmp_path / "unpinned.yaml"
    unpinned.write_text("\n".join(line for line in inv_text.splitlines()
                                  if "runbook_known_hosts" not in line) + "\n")
    engine, _, rec = engine_for(ssh_device.data_dir, FlagDecider())
    run_id = engine.create(load_procedure(path), path.read_text(), str(path),
                           {"dev": ssh_device.name, "value": "x"}, {}, Inventory.load(unpinned))
    assert await engine.execute(run_id, {}) == "failed"
    (question,) = [e for e in rec.of(DecisionNeeded) if e.question == "host_key"]
    assert question.details["fingerprint"].startswith("SHA256:")


def test_engine_imports_without_textual() -> None:
    code = ("import sys, runbook.engine, runbook.commands.main, runbook.headless, runbook.journal;"
            "sys.exit(1 if 'textual' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_trusted_keys_are_read_once_per_version_of_the_files(tmp_path) -> None:
    """A fan-out parses known_hosts once, not once per device; accepting a key is seen by
    the very next connection."""
    from types import SimpleNamespace

    from runbook.hostkeys import HostKeyStore

    user = tmp_path / "known_hosts"
    first, second = generate_key(), generate_key()
    user.write_text(f"10.0.0.1 {first.export_public_key('openssh').decode()}")
    store = HostKeyStore(tmp_path / "data", user_known_hosts=user)
    (tmp_path / "data").mkdir()
    fw1 = SimpleNamespace(name="fw1", host="10.0.0.1", port=22)  # no pinned key file
    fw2 = SimpleNamespace(name="fw2", host="10.0.0.2", port=22)
    assert store.known_hosts(fw1) is store.known_hosts(fw2)
    assert store.known_keys(fw2) == []
    store.trust(fw2, second)
    assert {k.get_fingerprint() for k in store.known_keys(fw2)} == {second.get_fingerprint()}
    assert {k.get_fingerprint() for k in store.known_keys(fw1)} == {first.get_fingerprint()}
