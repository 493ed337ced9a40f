"""Plans say what will happen (cli lines, copies, cert checks, secrets), records speak words."""

from __future__ import annotations

from pathlib import Path

from runbook.export import build_plan, build_record, render
from runbook.inventory import Inventory
from runbook.library import resolve
from runbook.loader import load_procedure, procedure_hash

INV = Inventory.from_dict({"all": {"hosts": {
    n: {"ansible_host": "192.0.2.1", "runbook_role": r, "sf_uuid": f"uuid-{n}"}
    for n, r in (("fmc1", "fmc"), ("ftd1", "ftd"), ("cos1", "cos-stream"))}}})


def plan_md(name: str, given: dict[str, str]) -> str:
    path = Path(resolve(name))
    proc = load_procedure(path)
    return render(build_plan(proc, procedure_hash(path.read_text()), str(path), given, INV),
                  "md")


def test_a_plan_lists_the_lines_a_cli_step_sends() -> None:
    md = plan_md("clavister/cmp-revoke", {"firewall": "cos1"})
    assert "Send on **cos1**, line by line:" in md
    assert "cmp/clcert" in md.split("Send on **cos1**, line by line:")[1]


def test_a_plan_says_what_a_copy_copies_where() -> None:
    md = plan_md("cisco/ftd-copy-sftunnel-certs", {"fmc": "fmc1", "ftd": "ftd1"})
    assert "copy fmc1:/var/sf/peers/uuid-ftd1/cacert.pem → /var/sf/peers/uuid-fmc1/cacert.pem" \
        in md


def test_a_plan_gives_a_cert_steps_path_and_thresholds() -> None:
    md = plan_md("cisco/fmc-sftunnel-ca-renew", {"fmc": "fmc1"})
    assert "read the certificate /etc/sf/ca_root/cacert.pem" in md
    assert "warn under 90 days left, fail under 0; an expired certificate warns" in md


def test_a_plan_shows_secrets_as_not_stored_never_empty() -> None:
    md = plan_md("clavister/cmp-initiate", {
        "firewall": "cos1", "cmp_fqdn": "ca.example", "reference": "12345",
        "subject_cn": "cos1.example"})
    assert "| psk | •••••• (secret, not stored) |" in md


def test_a_change_record_has_no_python_reprs(tmp_path: Path) -> None:
    from tests.tui.conftest import record_run

    rec = record_run(tmp_path)
    rec.journal.set_run_state(rec.run_id, "rolled_back", "")
    md = render(build_record(rec.journal, rec.run_id), "md")
    rec.journal.close()
    assert "state **rolled back**" in md
    for repr_ in ("None", "True", "False", "['", "rolled_back"):
        assert repr_ not in md, repr_
    assert "| token | •••••• (secret, not stored) |" in md
