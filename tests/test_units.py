"""Small parts on their own: templating, conditions, redaction, inventory, params."""

from __future__ import annotations

import pytest
import yaml

from runbook.conditions import evaluate
from runbook.errors import ConditionError, InventoryError, TemplateError, UsageError
from runbook.inventory import Inventory
from runbook.redact import MASK, Redactor
from runbook.template import Value, render

INVENTORY = """
all:
  vars: {ansible_user: admin, site: hq}
  children:
    cisco:
      vars: {ansible_user: sfadmin, ansible_port: 2200}
      children:
        ftds:
          hosts:
            ftd1: {ansible_host: 10.0.0.1, runbook_role: ftd}
            ftd2: {ansible_host: 10.0.0.2, runbook_role: [ftd, edge], ansible_port: 22}
      hosts:
        fmc1:
          ansible_host: 10.0.0.10
          runbook_role: fmc
          ansible_ssh_common_args: "-o ProxyJump=bastion"
          ansible_ssh_private_key_file: keys/fmc
    bastions:
      hosts:
        bastion: {ansible_host: 192.0.2.1}
"""


def test_inventory_groups_precedence_roles_and_jump(tmp_path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(INVENTORY)
    inv = Inventory.load(path)
    ftd1, ftd2, fmc = inv.get("ftd1"), inv.get("ftd2"), inv.get("fmc1")
    assert (ftd1.host, ftd1.port, ftd1.user) == ("10.0.0.1", 2200, "sfadmin")
    assert ftd2.port == 22 and ftd2.roles == ("ftd", "edge")
    assert inv.get("bastion").user == "admin" and inv.get("bastion").port == 22
    assert fmc.jump == "bastion" and fmc.key_files == (str(tmp_path / "keys/fmc"),)
    assert [t.name for t in inv.select("role=ftd")] == ["ftd1", "ftd2"]
    assert [t.name for t in inv.select("cisco")] == ["fmc1", "ftd1", "ftd2"]
    assert [t.name for t in inv.select("ftd2, ftds")] == ["ftd2", "ftd1"]
    again = Inventory.from_snapshot(inv.snapshot())
    assert again.get("fmc1") == fmc


def test_inventory_errors_are_clear(tmp_path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text("all:\n  hosts:\n    a: {ansible_port: [1]\n")
    with pytest.raises(InventoryError, match=r"inv.yaml:\d+:\d+: "):
        Inventory.load(path)
    inv = Inventory.from_dict(yaml.safe_load(INVENTORY))
    with pytest.raises(InventoryError, match="did you mean ftd2, ftd1"):
        inv.get("ftd")
    with pytest.raises(InventoryError, match="no device has role 'nope'"):
        inv.select("role=nope")


def test_template_quotes_every_value_unless_raw() -> None:
    values = {"v": Value("a b; c"), "n": Value(3), "s": Value("pa'ss", secret=True)}
    assert render("x {{ v }} {{ n }}", values).text == "x 'a b; c' 3"
    assert render("x {{ v | raw }}", values).text == "x a b; c"
    assert render("^{{ v }}$", values, "regex").text == "^a\\ b;\\ c$"
    with pytest.raises(TemplateError, match="is a secret"):  # it would be on the device's argv
        render("k={{ s }}", values)
    assert render("k={{ s }}", values, "text").secrets == {"pa'ss"}
    with pytest.raises(TemplateError, match="no parameter or capture named 'x'"):
        render("{{ x }}", values)


def test_conditions_are_a_small_safe_language() -> None:
    assert evaluate("a == 'x' and b in [1, 2] and not c", {"a": "x", "b": 2, "c": False})
    for bad in ("__import__('os')", "a.b", "a()", "[x for x in y]"):
        with pytest.raises(ConditionError):
            evaluate(bad, {"a": 1})


def test_redactor_hides_secrets_and_their_encodings() -> None:
    r = Redactor(["hunter22"])
    assert r("pw hunter22 b64 aHVudGVyMjI= hex 68756e7465723232") == \
        f"pw {MASK} b64 {MASK} hex {MASK}"


def test_params_are_typed_and_secrets_refused_on_the_command_line() -> None:
    from runbook.loader import load_procedure_text
    from runbook.params import resolve
    p = load_procedure_text(
        "id: p\ntitle: t\nvendor: v\nsource: {document: d}\nrisk: low\n"
        "params:\n  n: {type: int}\n  b: {type: bool, default: false}\n  k: {type: secret}\n"
        "steps:\n  - {id: a, title: A, kind: manual}\n")
    vals = resolve(p, {"n": "7"}, {"k": "abcd1234"}, None)
    assert vals["n"].value == 7 and vals["b"].value is False and vals["k"].secret
    with pytest.raises(UsageError, match="is a secret"):
        resolve(p, {"n": "7", "k": "x"}, {}, None)
    with pytest.raises(UsageError, match="'seven' is not a valid int"):
        resolve(p, {"n": "seven"}, {"k": "abcd1234"}, None)
    with pytest.raises(UsageError, match="at least 4"):
        resolve(p, {"n": "1"}, {"k": "abc"}, None)
