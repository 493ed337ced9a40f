#!/usr/bin/env python3
"""A dynamic inventory as Ansible runs it: --list prints groups and _meta.hostvars as JSON."""
import json
import sys

if sys.argv[1:] == ["--list"]:
    print(json.dumps({
        "_meta": {"hostvars": {"cp1": {"ansible_host": "10.1.0.1", "runbook_role": "gateway"},
                               "cp2": {"ansible_host": "10.1.0.2"}}},
        "all": {"children": ["gateways"]},
        "gateways": {"hosts": ["cp1", "cp2"], "vars": {"ansible_user": "admin"}},
    }))
elif sys.argv[1:2] == ["--host"]:
    print("{}")
else:
    sys.exit("usage: dynamic.py --list | --host NAME")
