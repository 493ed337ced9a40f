"""Change records: three formats, a shipped schema, no secrets, and a hash chain that tells."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from importlib import resources

import jsonschema
import pytest

from .helpers import cli, cli_env, write_procedure

SECRET = "Echo3d-Secr3t-Value"
PROC = """
id: test.record
title: Record me
vendor: test
source: {document: tests, section: "2.1"}
risk: medium
params:
  dev: {type: target}
  dir: {type: string}
  psk: {type: secret}
steps:
  - id: set-key
    title: Set the key
    kind: run
    target: dev
    command: echo psk="$PSK"; printf '%s' "$PSK" > {{ dir }}/psk.txt
    secrets: {PSK: "{{ psk }}"}
    modifies: ["{{ dir }}/psk.txt"]
  - id: long
    title: Long output
    kind: run
    target: dev
    command: "seq 1 500"
  - id: approve
    title: Approve in the console
    kind: manual
    description: "Open the **console** and approve."
"""


async def finished_run(device, tmp_path):
    path = write_procedure(tmp_path, PROC)
    env = cli_env(device.data_dir, tmp_path, RB_PSK=SECRET)
    code, out, err = await cli(["run", str(path), "-i", str(device.inventory_path),
                                "-p", f"dev={device.name}", "-p", f"dir={device.remote_dir}",
                                "--secret-env", "psk=RB_PSK", "--confirm", "approve"], env)
    assert code == 0, out + err
    run_id = re.search(r"run (\S+):", out).group(1)
    code, out, err = await cli(["comment", run_id, "Change approved by CAB-1234"], env)
    assert code == 0, err
    return run_id, env


def secret_forms() -> list[str]:
    return [SECRET, base64.b64encode(SECRET.encode()).decode().rstrip("="),
            SECRET.encode().hex()]


async def test_export_three_formats_schema_and_no_secret(ssh_device, tmp_path) -> None:
    run_id, env = await finished_run(ssh_device, tmp_path)
    outputs = {}
    for fmt in ("json", "md", "html"):
        dest = tmp_path / f"record.{fmt}"
        code, out, err = await cli(["export", run_id, "--format", fmt, "-o", str(dest)], env)
        assert code == 0, err
        assert dest.stat().st_mode & 0o777 == 0o600
        outputs[fmt] = dest.read_text()

    record = json.loads(outputs["json"])
    schema = json.loads(resources.files("runbook").joinpath("record.schema.json").read_text())
    jsonschema.validate(record, schema)
    assert record["params"]["psk"] == "********"
    steps = {s["id"]: s for s in record["steps"]}
    command = steps["set-key"]["attempts"][0]["command"]
    assert "IFS= read -r PSK" in command and 'echo psk="$PSK";' in command  # sent on stdin
    assert steps["set-key"]["backups"][0]["state"] == "absent"
    long_out = steps["long"]["attempts"][0]["output"]
    assert long_out["trimmed"] and long_out["lines"] == 500
    full_log = long_out["full_log"]
    assert open(full_log).read().splitlines() == [str(i) for i in range(1, 501)]
    assert record["comments"][0]["text"] == "Change approved by CAB-1234"
    assert any(d["question"] == "manual" and d["answer"] == "done"
               for d in record["decisions"])
    assert record["targets"][0]["host_key"].startswith("SHA256:")
    assert "<table" in outputs["html"] and "<script" not in outputs["html"]
    assert "| Set the key |" in outputs["md"]
    for text in outputs.values():
        for form in secret_forms():
            assert form not in text
    for log in (tmp_path / "record.json.logs").iterdir():
        assert all(form not in log.read_text() for form in secret_forms())


async def test_verify_record_names_the_tampered_event(ssh_device, tmp_path) -> None:
    run_id, env = await finished_run(ssh_device, tmp_path)
    dest = tmp_path / "record.json"
    assert (await cli(["export", run_id, "--format", "json", "-o", str(dest)], env))[0] == 0

    code, out, err = await cli(["verify-record", str(dest)], env)
    assert code == 0 and "intact" in out

    record = json.loads(dest.read_text())
    victim = next(e for e in record["events"] if e["kind"] == "step_finished")
    victim["data"]["status"] = "succeedeD"  # one byte
    dest.write_text(json.dumps(record))
    code, out, err = await cli(["verify-record", str(dest)], env)
    assert code == 1
    assert f"event {victim['seq']} (step_finished)" in err


async def test_plan_renders_commands_backups_and_backout(ssh_device, tmp_path) -> None:
    path = write_procedure(tmp_path, PROC)
    env = cli_env(ssh_device.data_dir, tmp_path)
    code, out, err = await cli(["plan", str(path), "-i", str(ssh_device.inventory_path),
                                "-p", f"dev={ssh_device.name}", "-p", "dir=/etc/x"], env)
    assert code == 0, err
    assert "IFS= read -r PSK" in out and 'echo psk="$PSK"' in out  # handed over on stdin
    assert "Backed up first on **" in out and "`/etc/x/psk.txt`" in out
    assert "## Backout plan" in out
    assert ssh_device.server.commands == []  # a plan never touches a device


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


async def test_html_record_renders_in_headless_chromium(ssh_device, tmp_path) -> None:
    browser = chromium()
    if browser is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required in CI (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    run_id, env = await finished_run(ssh_device, tmp_path)
    page = tmp_path / "record.html"
    assert (await cli(["export", run_id, "--format", "html", "-o", str(page)], env))[0] == 0
    shot = tmp_path / "record.png"
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         page.as_uri()], capture_output=True, text=True, timeout=120)
    assert '<table class="steps">' in dom.stdout and "Set the key" in dom.stdout
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile2'}",
         f"--screenshot={shot}", "--window-size=1024,1400", page.as_uri()],
        capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
