"""Inventories in every form Ansible reads, resolved as Ansible resolves them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbook.errors import InventoryError
from runbook.inventory import Inventory
from runbook.inventory_ini import read_ini
from runbook.inventory_model import expand_range
from runbook.inventory_readers import read_path

HERE = Path(__file__).parent / "inventories"
FORMS = [HERE / "site" / "hosts.ini", HERE / "site.yaml", HERE / "dynamic.py"]


def names(inv: Inventory, spec: str) -> list[str]:
    return [t.name for t in inv.select(spec)]


def test_ini_groups_children_vars_ranges_ports_and_vars_dirs() -> None:
    inv = Inventory.load(HERE / "site" / "hosts.ini")
    assert names(inv, "ftds") == ["ftd01", "ftd02", "ftd03", "ftd04"]
    assert names(inv, "edge") == ["fwa", "fwb", "fwc", "ftd01"]
    assert names(inv, "ungrouped") == ["ungrouped-box"]
    ftd04 = inv.get("ftd04")
    assert (ftd04.host, ftd04.port, ftd04.user) == ("10.0.0.4", 2222, "sfadmin")
    assert ftd04.vars["site"] == "branch office" and ftd04.vars["weight"] == 3
    assert inv.get("ftd02").user == "admin"  # host var over the parent group's
    assert inv.get("ftd01").vars["site"] == "edge"  # same depth: higher priority wins
    assert inv.get("ftd02").vars["tier"] == 3  # group_vars/ftds.yaml
    assert inv.get("fmc1").vars["tier"] == 1  # group_vars/all over the inventory's group vars
    assert inv.get("fwb").vars["site"] == "rack-b"  # host_vars/fwb.yml
    assert "cisco" in inv.get("ftd03").groups and "all" in inv.get("ftd03").groups


def test_ansible_connection_vars_are_mapped_or_reported_never_kept_as_secrets() -> None:
    inv = Inventory.load(HERE / "site" / "hosts.ini")
    fmc = inv.get("fmc1")
    assert fmc.vars["runbook_access"] == "sudo" and fmc.vars["runbook_shell"] == "cli"
    assert "ansible_password" not in fmc.vars
    assert "not-read-from-here" not in json.dumps(inv.snapshot())
    notes = "\n".join(inv.notes)
    assert "ansible_password on ungrouped-box" in notes and "secret source" in notes
    assert "ansible_become on fmc1: mapped: runbook_access sudo" in notes
    assert "ansible_network_os" in notes and "not-read-from-here" not in notes


def test_yaml_json_and_executable_inventories_give_the_same_devices() -> None:
    ini, yml = Inventory.load(FORMS[0]), Inventory.load(FORMS[1])
    assert set(ini.targets) == set(yml.targets)
    for name in yml.targets:
        assert (yml.get(name).host, yml.get(name).port, yml.get(name).user) == \
               (ini.get(name).host, ini.get(name).port, ini.get(name).user)
    dyn = Inventory.load(HERE / "dynamic.py")
    assert names(dyn, "gateways") == ["cp1", "cp2"]
    assert dyn.get("cp1").roles == ("gateway",) and dyn.get("cp2").user == "admin"


def test_json_of_ansible_inventory_list_is_read(tmp_path) -> None:
    listing = {"_meta": {"hostvars": {"a": {"ansible_port": 2022}}},
               "all": {"children": ["ungrouped", "fw"]}, "fw": {"hosts": ["a", "b"]},
               "ungrouped": {"hosts": ["c"]}}
    path = tmp_path / "listing.json"
    path.write_text(json.dumps(listing))
    inv = Inventory.load(path)
    assert names(inv, "fw") == ["a", "b"] and inv.get("a").port == 2022
    assert names(inv, "all:!fw") == ["c"]


def test_host_patterns_as_ansible_defines_them() -> None:
    inv = Inventory.load(HERE / "site" / "hosts.ini")
    assert names(inv, "cisco:&edge") == ["ftd01"]
    assert names(inv, "cisco:!ftds") == ["fmc1"]
    assert names(inv, "!ftds:cisco") == ["fmc1"]  # order of terms does not matter
    assert names(inv, "fmcs:edge") == ["fmc1", "fwa", "fwb", "fwc", "ftd01"]
    assert names(inv, "ftd0*") == ["ftd01", "ftd02", "ftd03", "ftd04"]
    assert names(inv, "~fw[ab]") == ["fwa", "fwb"]
    assert names(inv, "fmc1, ftds[1:2]") == ["fmc1", "ftd02", "ftd03"]
    assert names(inv, "all:!cisco:!edge") == ["ungrouped-box"]
    with pytest.raises(InventoryError, match="no device or group 'fdts'.*did you mean ftds"):
        inv.select("cisco:!fdts")  # a mistyped exclusion never widens the change
    with pytest.raises(InventoryError, match="'zz\\*' matches no device"):
        inv.select("zz*")
    with pytest.raises(InventoryError, match="not a valid regular expression"):
        inv.select("~(")


def test_host_ranges() -> None:
    assert expand_range("ftd[01:03]", "x") == ["ftd01", "ftd02", "ftd03"]
    assert expand_range("fw[a:c]-[1:2]", "x") == ["fwa-1", "fwa-2", "fwb-1", "fwb-2", "fwc-1",
                                                  "fwc-2"]
    assert expand_range("h[0:8:4]", "x") == ["h0", "h4", "h8"]
    with pytest.raises(InventoryError, match="x: host range 'h\\[3:1\\]': the start is after"):
        expand_range("h[3:1]", "x")
    with pytest.raises(InventoryError, match="names more than 10000 hosts"):
        expand_range("h[0:99999999999]", "x")
    with pytest.raises(InventoryError, match="names more than 10000 hosts"):
        expand_range("h[0:999][0:999]", "x")


@pytest.mark.parametrize(("name", "text", "message"), [
    ("inv.ini", "[web\nh1\n", r"inv.ini:1: .*section header"),
    ("inv.ini", "[web:kids]\nh1\n", r"inv.ini:1: section \[web:kids\]: expected"),
    ("inv.ini", "[web]\nh1 port\n", r"inv.ini:2: host 'h1' in \[web\]: expected NAME=VALUE"),
    ("inv.ini", "[web:vars]\njust-a-word\n", r"inv.ini:2: \[web:vars\]: expected NAME=VALUE"),
    ("inv.ini", "[a:children]\nb\n[b:children]\na\n", r"inv.ini:4: group 'a' cannot be a child"),
    ("hosts", "[web]\nh[1:x]\n", r"hosts:2: host range 'h\[1:x\]'"),
    ("inv.yaml", "all:\n  hosts:\n    a: [1]\n", r"inv.yaml:3: host 'a' in group 'all' must"),
    ("inv.yaml", "all:\n  children:\n    x:\n      host: {}\n",
     r"inv.yaml:3: group 'x': unknown key\(s\) host"),
])
def test_errors_name_file_line_and_construct(tmp_path, name, text, message) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InventoryError, match=message):
        Inventory.load(path)


def test_an_ini_file_named_yaml_is_read_as_ansible_would(tmp_path) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text("[web]\nh1 ansible_port=2200\n")
    assert Inventory.load(path).get("h1").port == 2200


def test_executable_inventory_failures_are_clear(tmp_path) -> None:
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/sh\necho 'token=hunter2 rejected' >&2\necho oops >&2\nexit 3\n")
    bad.chmod(0o755)
    with pytest.raises(InventoryError, match=r"bad.sh --list: the inventory program failed "
                                             r"\(exit 3\): oops"):
        Inventory.load(bad)
    junk = tmp_path / "junk.sh"
    junk.write_text("#!/bin/sh\necho not json\n")
    junk.chmod(0o755)
    with pytest.raises(InventoryError, match="printed no valid JSON"):
        Inventory.load(junk)


def test_executable_inventory_times_out(tmp_path, monkeypatch) -> None:
    import runbook.inventory_readers as readers

    slow = tmp_path / "slow.sh"
    slow.write_text("#!/bin/sh\nexec sleep 30\n")
    slow.chmod(0o755)
    monkeypatch.setattr(readers, "SCRIPT_TIMEOUT", 0.5)
    with pytest.raises(InventoryError, match="gave no answer within 0.5 s"):
        Inventory.load(slow)


def _ansible_inventory() -> Path | None:
    """The benchmark's own ansible-core (installed there on first use; None when it cannot)."""
    from bench.contenders import ansible_bin

    found = ansible_bin()
    return found / "ansible-inventory" if found else None


@pytest.mark.parametrize("path", FORMS, ids=lambda p: p.name)
def test_resolved_vars_equal_ansible_inventory_list(path, tmp_path) -> None:
    tool = _ansible_inventory()
    if tool is None:
        pytest.skip("ansible-core could not be installed into the benchmark's venv (offline?)")
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = {**os.environ, "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"),
           "ANSIBLE_HOME": str(tmp_path), "ANSIBLE_LOCAL_TEMP": str(tmp_path)}
    done = subprocess.run([str(tool), "-i", str(path), "--list"], capture_output=True,
                          text=True, env=env, check=True)
    theirs = json.loads(done.stdout)
    ours = read_path(path).resolve()
    assert {h: ours.get(h) for h in theirs["_meta"]["hostvars"]} == theirs["_meta"]["hostvars"]
    raw = read_path(path)
    for g, v in theirs.items():
        if g not in ("_meta", "all"):  # Ansible lists `all`'s own hosts under ungrouped
            assert sorted(raw.groups[g].hosts) == sorted(v.get("hosts", [])), g
            assert sorted(raw.groups[g].children) == sorted(v.get("children", [])), g


def test_inventory_command_shows_the_selection_and_says_what_it_ignores() -> None:
    from click.testing import CliRunner

    from runbook.commands.main import main

    r = CliRunner().invoke(main, ["inventory", "-i", str(FORMS[0]), "cisco:!fmcs"])
    assert r.exit_code == 0, r.stderr
    assert [line.split()[0] for line in r.stdout.splitlines()] == ["ftd01", "ftd02", "ftd03",
                                                                   "ftd04"]
    assert "sfadmin@10.0.0.4:2222" in r.stdout
    assert "runbook: inventory: " in r.stderr and "ansible_password on" in r.stderr
    r = CliRunner().invoke(main, ["--json", "inventory", "-i", str(FORMS[0]), "nope"])
    assert r.exit_code == 2
    last = json.loads(r.stderr.splitlines()[-1])
    assert last["title"] == "invalid inventory" and "'nope'" in last["error"]
    assert all("warning" in json.loads(line) for line in r.stderr.splitlines()[:-1])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="[]:=#;\n abcfw019-_.*'\"", max_size=120))
def test_any_ini_text_is_read_or_refused_cleanly(text) -> None:
    try:
        raw = read_ini(text, "fuzz.ini")
        raw.reconcile()
        Inventory.from_raw(raw, None)
    except InventoryError as exc:
        assert str(exc).startswith("fuzz.ini")
