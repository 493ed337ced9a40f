"""~/.ssh/config read as OpenSSH reads it, on real sshds: hop chains, ports, trust per hop."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import pytest
import yaml

from runbook.errors import InventoryError
from runbook.hops import resolve
from runbook.inventory import Inventory
from runbook.sshconfig import SshConfigError, lookup, parse_jump, parse_ssh_args, split_jumps

from .helpers import cli, cli_env, write_procedure

PROC = """
id: test.hello
title: Say hello
vendor: test
source: {document: tests}
risk: low
params:
  dev: {type: target}
steps:
  - {id: hello, title: Hello, kind: run, target: dev, command: "echo hello-from-device"}
"""
USER = getpass.getuser()


def fp(server: Any) -> str:
    return server.host_key.get_fingerprint("sha256")


async def chain(tmp_path: Path, sshd_factory: Any) -> tuple[Any, Any, Any]:
    bastion = await sshd_factory("bastion", "DEBUG1")
    inner = await sshd_factory("inner", "DEBUG1")
    device = await sshd_factory("device", "VERBOSE")
    return bastion, inner, device


def home_with_config(tmp_path: Path, body: str, trusted: list[Any]) -> Path:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    kh = tmp_path / "ssh_known_hosts"
    kh.write_text("".join(s.known_hosts_line for s in trusted))
    (home / ".ssh" / "config").write_text(
        body + f"Host *\n  User {USER}\n  IdentityFile {tmp_path / 'client_key'}\n"
        f"  IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n")
    return home


def chain_config(bastion: Any, inner: Any, device: Any) -> str:
    return (f"Host dev\n  HostName 127.0.0.1\n  Port {device.port}\n  ProxyJump inner\n"
            f"Host inner\n  HostName 127.0.0.1\n  Port {inner.port}\n  ProxyJump bastion\n"
            f"Host bastion\n  HostName 127.0.0.1\n  Port {bastion.port}\n")


def inventory(tmp_path: Path, host: dict[str, Any] | None = None) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump({"all": {"hosts": {"dev": host or {}}}}))
    return path


async def run(tmp_path: Path, home: Path, *extra: str) -> tuple[int, str]:
    data = tmp_path / "data"
    data.mkdir(mode=0o700, exist_ok=True)
    proc = write_procedure(tmp_path, PROC)
    code, out, err = await cli(["run", str(proc), "-i", str(tmp_path / "inventory.yaml"),
                                "-p", "dev=dev", *extra], cli_env(data, home))
    return code, out + err


def forwarded(server: Any, to: Any) -> bool:
    return f"target 127.0.0.1 port {to.port}" in server.log.read_text()


async def test_two_hop_chain_configured_only_in_the_ssh_config(tmp_path, sshd_factory) -> None:
    bastion, inner, device = await chain(tmp_path, sshd_factory)
    home = home_with_config(tmp_path, chain_config(bastion, inner, device),
                            [bastion, inner, device])
    inventory(tmp_path)  # the device by its ssh-config alias, nothing else

    code, text = await run(tmp_path, home)

    assert code == 0, text
    assert "hello-from-device" in text
    assert forwarded(bastion, inner) and forwarded(inner, device)  # Port and ProxyJump honoured
    assert "Accepted publickey" in device.log.read_text()


async def test_a_jump_host_that_is_down_fails_the_run_and_nothing_goes_direct(
        tmp_path, sshd_factory) -> None:
    bastion, inner, device = await chain(tmp_path, sshd_factory)
    home = home_with_config(tmp_path, chain_config(bastion, inner, device),
                            [bastion, inner, device])
    inventory(tmp_path)
    bastion.stop()

    code, text = await run(tmp_path, home)

    assert code == 5, text
    assert f"jump host bastion (127.0.0.1:{bastion.port}) for dev: cannot connect" in text
    assert "hello-from-device" not in text
    assert "Accepted publickey" not in device.log.read_text()
    assert "Accepted publickey" not in inner.log.read_text()


async def test_an_unknown_jump_host_key_is_named_as_the_jump_hosts(tmp_path,
                                                                   sshd_factory) -> None:
    bastion, inner, device = await chain(tmp_path, sshd_factory)
    home = home_with_config(tmp_path, chain_config(bastion, inner, device), [inner, device])
    inventory(tmp_path)

    code, text = await run(tmp_path, home)

    assert code == 5, text
    assert (f"jump host bastion (127.0.0.1:{bastion.port}) for dev: unknown host key "
            f"{fp(bastion)}") in text
    assert fp(device) not in text and "Accepted publickey" not in device.log.read_text()

    code, text = await run(tmp_path, home, "--accept-new-host-key")

    assert code == 0, text
    trusted = (tmp_path / "data" / "known_hosts").read_text()
    assert f"[127.0.0.1]:{bastion.port} " in trusted and f":{device.port} " not in trusted


async def test_strict_host_key_checking_in_the_config_refuses_even_an_accepted_key(
        tmp_path, sshd_factory) -> None:
    device = await sshd_factory("device")
    home = home_with_config(
        tmp_path, f"Host dev\n  HostName 127.0.0.1\n  Port {device.port}\n"
        "  StrictHostKeyChecking yes\n", [])
    inventory(tmp_path)

    code, text = await run(tmp_path, home, "--accept-new-host-key")

    assert code == 5, text
    assert "StrictHostKeyChecking yes" in text and fp(device) in text
    assert not (tmp_path / "data" / "known_hosts").exists() or \
        str(device.port) not in (tmp_path / "data" / "known_hosts").read_text()


async def test_strict_host_key_checking_no_never_weakens_the_check(tmp_path,
                                                                  sshd_factory) -> None:
    device = await sshd_factory("device")
    home = home_with_config(
        tmp_path, f"Host dev\n  HostName 127.0.0.1\n  Port {device.port}\n"
        "  StrictHostKeyChecking no\n", [])
    inventory(tmp_path)

    code, text = await run(tmp_path, home)

    assert code == 5, text
    assert f"unknown host key {fp(device)}" in text


async def test_an_inventory_jump_list_names_an_ssh_alias_and_user_host_port(
        tmp_path, sshd_factory) -> None:
    bastion, inner, device = await chain(tmp_path, sshd_factory)
    home = home_with_config(tmp_path, f"Host inner\n  HostName 127.0.0.1\n  Port {inner.port}\n",
                            [bastion, inner, device])
    inventory(tmp_path, {"ansible_host": "127.0.0.1", "ansible_port": device.port,
                         "ansible_ssh_common_args":
                         f"-J {USER}@127.0.0.1:{bastion.port},inner"})

    code, text = await run(tmp_path, home)

    assert code == 0, text
    assert forwarded(bastion, inner) and forwarded(inner, device)


async def test_proxycommand_in_the_ssh_config_is_refused_naming_it(tmp_path,
                                                                   sshd_factory) -> None:
    device = await sshd_factory("device", "VERBOSE")
    home = home_with_config(
        tmp_path, f"Host dev\n  HostName 127.0.0.1\n  Port {device.port}\n"
        f"  ProxyCommand nc %h %p\n", [device])
    inventory(tmp_path)

    code, text = await run(tmp_path, home)

    assert code == 2, text
    assert f"{home / '.ssh' / 'config'}:4: ProxyCommand nc %h %p (for host dev) is not " \
           "supported" in text
    assert "Traceback" not in text and "Accepted publickey" not in device.log.read_text()


async def test_proxycommand_in_ssh_args_of_the_inventory_is_refused(tmp_path) -> None:
    path = inventory(tmp_path, {"ansible_ssh_common_args": "-o ProxyCommand='nc %h %p'"})
    home = tmp_path / "home"
    home.mkdir()

    code, text = await run(tmp_path, home)

    assert code == 2, text
    assert f"{path}: host 'dev': ansible_ssh_common_args: ssh option -o ProxyCommand is " \
           "not supported" in text


def test_jump_lists_parse_as_openssh_does() -> None:
    assert split_jumps("a@b:2222,c") == ("a@b:2222", "c")
    assert parse_jump("a@b:2222") == parse_jump("ssh://a@b:2222")
    assert (parse_jump("a@b:2222").user, parse_jump("a@b:2222").host,
            parse_jump("a@b:2222").port) == ("a", "b", 2222)
    assert parse_jump("c").port is None and parse_jump("c").user is None
    assert parse_jump("u@[::1]:2200").host == "::1"
    assert parse_ssh_args("-J a@b:2222,c", "x").options["ProxyJump"] == "a@b:2222,c"
    assert parse_ssh_args("-o ProxyJump=a@b:2222,c -o ControlMaster=auto -C",
                          "x").options == {"ProxyJump": "a@b:2222,c"}
    with pytest.raises(SshConfigError, match="expected"):
        split_jumps("a@b:xx")


def test_a_jump_list_becomes_a_chain_of_hops(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RUNBOOK_SSH_CONFIG", str(tmp_path / "none"))
    (tmp_path / "none").write_text("")
    inv = Inventory.from_dict({"all": {"hosts": {"fw1": {
        "ansible_ssh_common_args": "-J a@b:2222,c"}}}})
    assert inv.targets["fw1"].jump == "a@b:2222,c"
    hop = resolve("fw1", inv)
    assert hop.jumps == ("a@b:2222", "c")
    last = resolve("c", inv, jumps=("a@b:2222",), via_of="fw1")
    first = resolve("a@b:2222", inv, via_of="fw1")
    assert last.jumps == ("a@b:2222",) and (first.user, first.host, first.port) == \
        ("a", "b", 2222) and first.where() == "jump host a@b:2222 (b:2222) for fw1"


def test_unsupported_config_options_are_named_and_harmless_ones_ignored(tmp_path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text("Host *\n  ControlMaster auto\n  ForwardAgent no\n"
                   "Host fw1\n  HostKeyAlias other\n")
    assert lookup("fw2", paths=[cfg]).hostname == "fw2"
    with pytest.raises(SshConfigError, match=f"{cfg}:5: HostKeyAlias other"):
        lookup("fw1", paths=[cfg])


def test_match_host_blocks_and_first_value_wins(tmp_path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text("Match host 10.1.*\n  Port 2201\n  User ops\n"
                   "Host fw1\n  HostName 10.1.0.5\n  Port 2299\n  ConnectTimeout 7\n"
                   "  ServerAliveInterval 9\n  GlobalKnownHostsFile /g1 /g2\n")
    s = lookup("fw1", paths=[cfg])
    assert (s.hostname, s.port, s.user, s.connect_timeout, s.keepalive_interval,
            s.global_known_hosts) == ("10.1.0.5", 2299, None, 7.0, 9.0, ("/g1", "/g2"))
    assert lookup("10.1.2.3", paths=[cfg]).port == 2201


def test_bad_ssh_args_in_the_inventory_are_an_inventory_error() -> None:
    with pytest.raises(InventoryError, match="-o ProxyCommand is not supported"):
        Inventory.from_dict({"all": {"hosts": {"fw1": {
            "ansible_ssh_common_args": "-o ProxyCommand=nc"}}}})


async def test_a_key_passphrase_is_a_secret_read_from_secret_env(tmp_path, sshd_factory
                                                                 ) -> None:
    import asyncssh

    device = await sshd_factory("device")
    key = asyncssh.read_private_key(str(tmp_path / "client_key"))
    enc = tmp_path / "encrypted_key"
    enc.write_bytes(key.export_private_key("pkcs8-pem", passphrase="pp-Secret-1x"))
    enc.chmod(0o600)
    (tmp_path / "kh").write_text(device.known_hosts_line)
    inventory(tmp_path, {"ansible_host": "127.0.0.1", "ansible_port": device.port,
                         "ansible_user": USER, "ansible_ssh_private_key_file": str(enc),
                         "runbook_known_hosts": str(tmp_path / "kh"),
                         "runbook_key_passphrase_secret": "key_pw"})
    home = tmp_path / "home"
    home.mkdir()

    code, text = await run(tmp_path, home)
    assert code == 5 and "needs secret 'key_pw'" in text and "--secret-env key_pw=" in text

    wrong = {"KP": "not-it-at-all"}
    code, text = await run_env(tmp_path, home, wrong, "--secret-env", "key_pw=KP")
    assert code == 5 and "cannot use the private key" in text, text

    code, text = await run_env(tmp_path, home, {"KP": "pp-Secret-1x"},
                               "--secret-env", "key_pw=KP")
    assert code == 0 and "hello-from-device" in text, text
    assert not [p for p in (tmp_path / "data").rglob("*")
                if p.is_file() and b"pp-Secret-1x" in p.read_bytes()]


async def run_env(tmp_path: Path, home: Path, extra: dict[str, str], *args: str
                  ) -> tuple[int, str]:
    data = tmp_path / "data"
    data.mkdir(mode=0o700, exist_ok=True)
    proc = write_procedure(tmp_path, PROC)
    code, out, err = await cli(["run", str(proc), "-i", str(tmp_path / "inventory.yaml"),
                                "-p", "dev=dev", *args], cli_env(data, home, **extra))
    return code, out + err


def test_an_inventory_names_its_ssh_config_and_explicit_values_win(tmp_path) -> None:
    cfg = tmp_path / "cfg"
    cfg.write_text("Host fw1\n  HostName 10.9.9.9\n  Port 2299\n  User cfguser\n"
                   "  UserKnownHostsFile ~/kh-a ~/kh-b\n")
    inv = Inventory.from_dict({"all": {"hosts": {
        "fw1": {"runbook_ssh_config": str(cfg)},
        "fw2": {"ansible_host": "fw1", "ansible_ssh_common_args": f"-F {cfg} -p 2300 -l me"},
        "fw3": {"ansible_host": "fw1", "ansible_port": 22, "runbook_ssh_config": str(cfg)}}}})
    one, two, three = (resolve(n, inv) for n in ("fw1", "fw2", "fw3"))
    assert (one.host, one.port, one.user) == ("10.9.9.9", 2299, "cfguser")
    assert one.user_known_hosts == (str(Path.home() / "kh-a"), str(Path.home() / "kh-b"))
    assert (two.host, two.port, two.user) == ("10.9.9.9", 2300, "me")
    assert three.port == 22
