"""Access profiles: each climbs on the lab as on the device, and what skips the climb fails."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from runbook import access
from runbook.access import Level, Platform
from runbook.access_session import AccessSession
from runbook.errors import AccessError, InventoryError
from runbook.headless import FlagDecider
from runbook.hostkeys import HostKeyStore
from runbook.inventory import Inventory
from runbook.lab import checkpoint, cisco
from runbook.loader import load_procedure
from runbook.remote import RemoteFileError, RemoteFiles
from runbook.transport import Transport

from .helpers import engine_for, write_procedure

EXACT = "printf 'line one\\n  two\\t\\\\x\\n\\nlast'; exit {code}"
EXACT_LINES = ["line one", "  two\t\\x", "", "last"]


def edited(lab: Any, tmp_path: Path, **hosts: dict[str, Any]) -> Inventory:
    """The lab's inventory with some hosts' variables changed (None removes a variable)."""
    data = yaml.safe_load(lab.inventory_path.read_text())
    for group in data["all"]["children"].values():
        for name, host in group["hosts"].items():
            for key, value in hosts.get(name, {}).items():
                if value is None:
                    host.pop(key, None)
                else:
                    host[key] = value
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(data))
    return Inventory.load(path)


async def run(transport: Transport, name: str, command: str, timeout: float = 20,
              stdin: bytes | None = None) -> tuple[Any, list[str]]:
    lines: list[str] = []
    result = await transport.exec(name, command, timeout=timeout, stdin=stdin,
                                  on_line=lambda s, line: lines.append(line))
    return result, lines


@pytest.fixture
async def lab_transport(lab_factory, tmp_path):
    lab = await lab_factory("healthy")
    transport = Transport(Inventory.load(lab.inventory_path), HostKeyStore(tmp_path))
    yield lab, transport
    await transport.close()


def test_every_shipped_platform_loads_and_names_its_passwords() -> None:
    assert access.names() == ["cli", "ftd-root", "gaia-expert", "shell", "sudo"]
    assert access.platform("gaia-expert").secrets == ["expert_password"]
    assert [lv.name for lv in access.platform("ftd-root").levels] == ["exec", "expert", "root"]
    assert access.platform("cli").prompt == "System:/\\S*> $"


def test_an_unknown_access_profile_is_refused_naming_the_known_ones(tmp_path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text("all:\n  hosts:\n    gw9: {runbook_access: gaia}\n")
    with pytest.raises(InventoryError, match="'gaia' is not an access profile .*gaia-expert"):
        Inventory.load(path)


@pytest.mark.parametrize("name", ["gw1", "ftd1", "fmc1"])
async def test_each_profile_climbs_to_root_with_exact_status_output_and_stdin(
        lab_transport, name) -> None:
    lab, transport = lab_transport
    result, lines = await run(transport, name, "echo $LAB_PRIV")
    assert (result.exit_status, lines) == (0, ["root"])
    for code in (0, 1, 42):
        result, lines = await run(transport, name, EXACT.format(code=code))
        assert result.exit_status == code and lines == EXACT_LINES
    payload = bytes(range(256)) * 3
    result, lines = await run(transport, name, "sha256sum | cut -c1-64", stdin=payload)
    assert lines == [hashlib.sha256(payload).hexdigest()]
    assert lab.servers[name].commands.count("<shell>") == 1  # one climb, reused


async def test_the_same_command_gives_the_same_lines_through_the_climb_as_over_exec(
        lab_transport) -> None:
    _, transport = lab_transport
    command = "printf 'a\\r\\nb  \\n\\tc\\\\n'; printf 'no newline'"
    plain = await run(transport, "jump", command)
    climbed = await run(transport, "gw1", command)
    assert climbed[1] == plain[1] and climbed[0].exit_status == plain[0].exit_status == 0


async def test_a_gateway_without_the_profile_lands_in_clish_and_the_step_fails(
        lab_factory, tmp_path) -> None:
    lab = await lab_factory("healthy")
    inventory = edited(lab, tmp_path, gw1={"runbook_access": None})
    path = write_procedure(tmp_path, """
        id: test.expert-command
        title: An Expert-mode command
        vendor: checkpoint
        source: {document: tests}
        risk: low
        params:
          gw: {type: target}
        steps:
          - id: state
            title: SIC state
            kind: run
            target: gw
            command: cp_conf sic state
            expect: {match: ["^Trust State:"]}
        """)
    engine, journal, rec = engine_for(tmp_path / "data", FlagDecider())
    run_id = engine.create(load_procedure(path), path.read_text(), str(path), {"gw": "gw1"},
                           {}, inventory)
    assert await engine.execute(run_id, {}) == "failed"
    assert "CLINFR0329  Invalid command:'cp_conf'." in journal.get_run(run_id).reason
    assert lab.servers["gw1"].commands == ["cp_conf sic state"]


async def test_an_ftd_without_the_profile_cannot_write_its_root_owned_files(
        lab_factory, tmp_path) -> None:
    lab = await lab_factory("healthy")
    inventory = edited(lab, tmp_path, ftd1={"runbook_access": None},
                       fmc1={"runbook_access": None})
    transport = Transport(inventory, HostKeyStore(tmp_path))
    uuid = lab.spec("fmc1")["uuid"]
    target = f"/var/sf/peers/{uuid}/cacert.pem"
    before = (lab.root("ftd1") / target.lstrip("/")).read_bytes()
    try:
        result, lines = await run(transport, "ftd1", f"cat {target}")
        assert result.exit_status == 1 and lines == [cisco_ftd_refusal()]
        with pytest.raises(RemoteFileError, match="Permission denied"):
            await RemoteFiles(transport, inventory.get("ftd1")).write(target, b"x", 0o644)
        result, lines = await run(transport, "fmc1",
                                  "cp /etc/sf/ca_root/cacert.pem /etc/sf/ca_root/x.pem")
        assert result.exit_status == 1 and "Permission denied" in lines[0]
        result, lines = await run(transport, "fmc1", "openssl x509 -noout -subject "
                                  "-in /etc/sf/ca_root/cacert.pem")
        assert result.exit_status == 0  # reading is allowed
    finally:
        await transport.close()
    assert (lab.root("ftd1") / target.lstrip("/")).read_bytes() == before
    assert not (lab.root("fmc1") / "etc/sf/ca_root/x.pem").exists()


def cisco_ftd_refusal() -> str:
    from runbook.lab.login import MSG
    return MSG["ftd_invalid"]


async def test_a_wrong_expert_password_is_a_clear_error_that_never_shows_it(
        lab_factory, tmp_path) -> None:
    lab = await lab_factory("healthy")
    inventory = edited(lab, tmp_path, gw1={"runbook_expert_password": "wrong-pw-123"},
                       ftd1={"runbook_sudo_password": "wrong-pw-456"})
    transport = Transport(inventory, HostKeyStore(tmp_path))
    try:
        with pytest.raises(AccessError, match=r"gw1: `expert` \(to the expert level\) was "
                                              r"refused: Wrong password\.") as err:
            await run(transport, "gw1", "true")
        assert "wrong-pw-123" not in str(err.value)
        with pytest.raises(AccessError, match="ftd1: `sudo su` .*refused") as err:
            await run(transport, "ftd1", "true")
        assert "wrong-pw-456" not in str(err.value)
    finally:
        await transport.close()


async def test_a_password_from_the_environment_and_a_missing_one(lab_factory, tmp_path,
                                                                monkeypatch) -> None:
    lab = await lab_factory("healthy")
    monkeypatch.setenv("GW1_EXPERT", checkpoint.EXPERT_PASSWORD)
    inventory = edited(lab, tmp_path, gw1={"runbook_expert_password": None,
                                           "runbook_expert_password_env": "GW1_EXPERT"},
                       gw2={"runbook_expert_password": None})
    transport = Transport(inventory, HostKeyStore(tmp_path))
    seen: list[str] = []
    transport.on_secret = seen.append
    try:
        result, lines = await run(transport, "gw1", "echo $LAB_PRIV")
        assert lines == ["root"] and seen == [checkpoint.EXPERT_PASSWORD]
        with pytest.raises(AccessError, match="gw2: the expert_password is needed"):
            await run(transport, "gw2", "true")
    finally:
        await transport.close()


async def test_a_timeout_through_the_climb_stops_the_command_and_the_next_one_climbs_again(
        lab_transport) -> None:
    lab, transport = lab_transport
    result, _ = await run(transport, "ftd1", "sleep 30", timeout=0.5)
    assert result.timed_out and result.exit_status is None
    result, lines = await run(transport, "ftd1", "echo again")
    assert lines == ["again"] and lab.servers["ftd1"].commands.count("<shell>") == 2


async def test_a_cli_step_takes_the_platform_prompt_and_answers_more(lab_factory,
                                                                     tmp_path) -> None:
    lab = await lab_factory("healthy")
    path = write_procedure(tmp_path, """
        id: test.paging
        title: A paged clish command
        vendor: checkpoint
        source: {document: tests}
        risk: low
        params:
          gw: {type: target}
        steps:
          - id: config
            title: Show the configuration
            kind: cli
            target: gw
            lines: [show configuration]
            errors: ["CLINFR"]
            expect: {match: ["^set interface eth59 state on$"], not_match: ["More"]}
        """)
    engine, journal, rec = engine_for(tmp_path / "data", FlagDecider())
    run_id = engine.create(load_procedure(path), path.read_text(), str(path), {"gw": "gw1"},
                           {}, Inventory.load(lab.inventory_path))
    assert await engine.execute(run_id, {}) == "succeeded", journal.get_run(run_id).reason
    lines = rec.lines("config")
    assert [line for line in lines if line.startswith("set interface")] == [
        f"set interface eth{i} state on" for i in range(60)]


async def test_backup_and_restore_of_a_root_owned_ftd_file_go_through_the_climb(
        lab_factory, tmp_path) -> None:
    lab = await lab_factory("healthy")
    uuid = lab.spec("fmc1")["uuid"]
    path = write_procedure(tmp_path, f"""
        id: test.root-files
        title: Change and restore a root-owned file
        vendor: cisco
        source: {{document: tests}}
        risk: low
        params:
          ftd: {{type: target}}
        steps:
          - id: keep
            title: Keep the CA file
            kind: backup
            target: ftd
            paths: ["/var/sf/peers/{uuid}/cacert.pem"]
          - id: spoil
            title: Overwrite it
            kind: run
            target: ftd
            command: echo spoiled > /var/sf/peers/{uuid}/cacert.pem
          - id: put-back
            title: Restore it
            kind: restore
            target: ftd
            from_step: keep
        """)
    file = lab.root("ftd1") / f"var/sf/peers/{uuid}/cacert.pem"
    before = file.read_bytes()
    engine, journal, rec = engine_for(tmp_path / "data", FlagDecider())
    run_id = engine.create(load_procedure(path), path.read_text(), str(path), {"ftd": "ftd1"},
                           {}, Inventory.load(lab.inventory_path))
    assert await engine.execute(run_id, {}) == "succeeded", journal.get_run(run_id).reason
    assert file.read_bytes() == before
    digest = hashlib.sha256(before).hexdigest()
    assert f"restored /var/sf/peers/{uuid}/cacert.pem sha256 {digest} verified" in \
        rec.lines("put-back")
    commands = lab.servers["ftd1"].commands
    assert commands.count("<shell>") == 1 and any("base64 -d" in c for c in commands)
    secret = cisco.ADMIN_PASSWORD.encode()
    for f in (tmp_path / "data").rglob("*"):
        if f.is_file():
            assert secret not in f.read_bytes(), f


async def test_the_climb_recovers_exact_bytes_through_a_real_pty_and_bash(sshd) -> None:
    """The generic routine on OpenSSH with a real terminal: echo, CRLF and readline."""
    transport = Transport(Inventory.load(sshd.inventory_path), HostKeyStore(sshd.data_dir))
    try:
        platform = Platform(name="test-shell", session="pty",
                            levels=[Level(name="exec", prompt=r"[#$] ?$")])
        session = AccessSession(await transport.open_pty_process(sshd.name), sshd.name,
                                platform, lambda s: "")
        await session.climb(20)
        for code in (0, 1, 42):
            data = bytearray()
            status = await session.run(EXACT.format(code=code), 20, data.extend)
            assert status == code and bytes(data) == b"line one\n  two\t\\x\n\nlast"
        data = bytearray()
        payload = bytes(range(256)) * 40
        assert await session.run("cat", 20, data.extend, payload) == 0
        assert bytes(data) == payload
        await session.close()
    finally:
        await transport.close()


STATE = """
id: test.sic-state
title: SIC state in Expert mode
vendor: checkpoint
source: {document: tests}
risk: low
params:
  gw: {type: target}
steps:
  - id: state
    title: SIC state
    kind: run
    target: gw
    command: cp_conf sic state
    expect: {match: ["^Trust State:"]}
"""


async def test_the_cli_takes_the_expert_password_from_secret_env_and_never_prints_it(
        lab_factory, tmp_path) -> None:
    from .helpers import cli, cli_env

    lab = await lab_factory("healthy")
    inventory = edited(lab, tmp_path, gw1={"runbook_expert_password": None})
    path = write_procedure(tmp_path, STATE)
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    env = cli_env(data, tmp_path, GW_PW=checkpoint.EXPERT_PASSWORD)
    args = ["run", str(path), "-i", str(inventory.source), "-p", "gw=gw1", "--yes"]
    code, out, err = await cli(args, env)
    assert code == 1 and "the expert_password is needed" in out + err
    code, out, err = await cli([*args, "--secret-env", "expert_password=GW_PW"], env)
    assert code == 0, out + err
    assert "Trust State:" in out and checkpoint.EXPERT_PASSWORD not in out + err


async def test_the_expert_password_comes_from_a_command_or_runbook_toml_too(
        lab_factory, tmp_path) -> None:
    from .helpers import cli, cli_env

    lab = await lab_factory("healthy")
    inventory = edited(lab, tmp_path, gw1={"runbook_expert_password": None})
    path = write_procedure(tmp_path, STATE)
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (tmp_path / "pw").write_text(checkpoint.EXPERT_PASSWORD + "\n")
    env = cli_env(data, tmp_path)
    args = ["run", str(path), "-i", str(inventory.source), "-p", "gw=gw1", "--yes"]
    code, out, err = await cli([*args, "--secret-cmd",
                                f"expert_password=cat {tmp_path / 'pw'}"], env)
    assert code == 0, out + err
    assert "Trust State:" in out and checkpoint.EXPERT_PASSWORD not in out + err
    config = tmp_path / "runbook.toml"
    config.write_text(f'[secrets]\nexpert_password = "cmd:cat {tmp_path / "pw"}"\n')
    code, out, err = await cli(["--config", str(config), *args], env)
    assert code == 0, out + err
    assert "Trust State:" in out and checkpoint.EXPERT_PASSWORD not in out + err
