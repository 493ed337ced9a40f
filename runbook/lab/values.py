"""The lab's values a procedure asks for (domain, CMP reference, port, CN...): as inventory host
variables named like the procedures' parameters, and as lines `runbook lab` prints.

The lab's own test secrets (Expert and admin passwords, the CMP PSK) are lab-only and printed
in full by `runbook lab`; they never go into the inventory's parameter variables, and the
Parameters form fills a secret only from a lab it runs itself (`runbook demo`).
"""

from __future__ import annotations

from typing import Any

from . import checkpoint, cisco

DOMAIN = "Domain1"
DOMAIN_IP = "192.0.2.10"
IKE_DN = "C=US, O=Lab, CN=sol1"
COS_CN = "cos1.lab.example"


def host_vars(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Variables of device `name` named like the parameters procedures take for it."""
    if name == "mds1":
        return {"domain": DOMAIN, "domain_ip": DOMAIN_IP, "cma_ip": DOMAIN_IP,
                "gateway_objects": " ".join(checkpoint.OBJECTS.values())}
    if name in checkpoint.OBJECTS:
        return {"gateway_object": checkpoint.OBJECTS[name], "domain": DOMAIN,
                "cma_ip": DOMAIN_IP}
    if name == "cos1" and isinstance(spec.get("cmp"), dict):
        cmp = spec["cmp"]
        return {"cmp_fqdn": "127.0.0.1", "cmp_port": cmp.get("port", 0),
                "reference": cmp["ref"], "subject_cn": COS_CN}
    if name == "sol1":
        return {"new_dn": IKE_DN}
    return {}


def secrets(specs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The lab's test secrets by the parameter name procedures give them."""
    cmp = specs.get("cos1", {}).get("cmp") or {}
    return {"psk": str(cmp["psk"])} if cmp.get("psk") else {}


def lines(specs: dict[str, dict[str, Any]]) -> list[str]:
    """What `runbook lab` prints: each value, the procedures' parameter it fills and where
    it is kept."""
    cmp = specs.get("cos1", {}).get("cmp") or {}
    out = [
        f"  Check Point  domain={DOMAIN}  domain_ip/cma_ip={DOMAIN_IP}  "
        f"gateway_object: gw1={checkpoint.OBJECTS['gw1']} gw2={checkpoint.OBJECTS['gw2']}",
        f"               Expert password (lab only): {checkpoint.EXPERT_PASSWORD}  "
        "(inventory: runbook_expert_password)",
        f"  Cisco        admin/sudo password (lab only): {cisco.ADMIN_PASSWORD}  "
        "(inventory: runbook_sudo_password)",
    ]
    if cmp:
        out += [f"  Clavister    cmp_fqdn=127.0.0.1  cmp_port={cmp.get('port') or '-'}  "
                f"reference={cmp['ref']}  subject_cn={COS_CN} (the CN the lab CA issues)",
                f"               psk (lab only): {cmp['psk']}  (lab.json; typed, or filled "
                "in by `runbook demo`)"]
    out.append(f"  Solaris      new_dn={IKE_DN}")
    return out
