"""Read an inventory in any form Ansible reads: YAML, INI, JSON, an executable, a directory.

Which reader: an executable file starting with `#!` is run with `--list` (Ansible's
dynamic-inventory protocol); `.ini`/`.cfg` is INI; otherwise YAML/JSON is tried first and INI
second, as Ansible's `auto` order does, and when neither fits the error says both. A directory
is read file by file in name order. `group_vars/` and `host_vars/` beside the inventory are read
too (files `NAME`, `NAME.yml`, `NAME.yaml`, `NAME.json`, or a directory `NAME/` of them).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from .ansible_vars import Vaulted
from .errors import InventoryError
from .inventory_ini import host_names, looks_like_ini, read_ini
from .inventory_model import RawInventory

SCRIPT_TIMEOUT = 30.0  # seconds an executable inventory may take to answer --list
_GROUP_KEYS = {"hosts", "vars", "children"}
_SKIP_SUFFIXES = (".retry", ".pyc", ".pyo", ".bak", ".orig", ".swp", "~")


class _LineLoader(yaml.SafeLoader):
    """safe_load that remembers the line of every mapping (for error messages)."""


class LineDict(dict[Any, Any]):
    """A mapping from YAML that knows its line, and each key's line (1-based)."""

    line: int = 0
    lines: dict[Any, int]


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.lines = {}
    for knode, vnode in node.value:
        key = loader.construct_object(knode, deep=True)
        try:
            out[key] = loader.construct_object(vnode, deep=True)
        except TypeError:
            raise InventoryError(f"line {knode.start_mark.line + 1}: a key cannot be a "
                                 "list or mapping") from None
        out.lines[key] = knode.start_mark.line + 1
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor("!vault", lambda loader, node: Vaulted(""))
_LineLoader.add_constructor(  # Ansible's "do not template this": the text as it is
    "!unsafe", lambda loader, node: str(loader.construct_scalar(node)))  # type: ignore[arg-type]


def yaml_load(text: str, source: str) -> Any:
    """YAML (safe) with line-aware mappings; raises InventoryError at file:line:col."""
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        loc = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InventoryError(f"{source}{loc}: {problem}") from None
    except InventoryError as exc:
        raise InventoryError(f"{source}:{str(exc).removeprefix('line ')}") from None


def _at(source: str, node: Any, key: Any = None) -> str:
    if isinstance(node, LineDict):
        line = node.lines.get(key, node.line) if key is not None else node.line
        return f"{source}:{line}"
    return source


def is_script_format(data: Any) -> bool:
    """True for the JSON of `ansible-inventory --list` / a dynamic inventory script."""
    if not isinstance(data, dict):
        return False
    if "_meta" in data:
        return True
    for v in data.values():
        if isinstance(v, list):
            return True
        if isinstance(v, dict) and (isinstance(v.get("hosts"), list)
                                    or isinstance(v.get("children"), list)):
            return True
    return False


def read_yaml_data(data: Any, source: str, raw: RawInventory | None = None) -> RawInventory:
    """Ansible's YAML inventory: top-level groups with hosts, vars and children."""
    inv = raw or RawInventory(source)
    if not isinstance(data, dict) or not data:
        raise InventoryError(f"{source}: expected a mapping with `all` (or groups) at the top")
    for gname, node in data.items():
        _yaml_group(inv, str(gname), node, source, _at(source, data, gname))
    return inv


def _yaml_group(inv: RawInventory, gname: str, node: Any, source: str, where: str) -> None:
    if node is None:
        node = {}
    if not isinstance(node, dict):
        raise InventoryError(f"{where}: group {gname!r} must be a mapping")
    inv.group(gname)
    unknown = set(node) - _GROUP_KEYS
    if unknown:
        raise InventoryError(f"{where}: group {gname!r}: unknown key(s) "
                             f"{', '.join(sorted(map(str, unknown)))} (expected hosts, vars, "
                             "children)")
    gvars = node.get("vars") or {}
    if not isinstance(gvars, dict):
        raise InventoryError(f"{_at(source, node, 'vars')}: group {gname!r}: vars must be a "
                             "mapping")
    inv.group(gname).vars.update({str(k): v for k, v in gvars.items()})
    hosts = node.get("hosts") or {}
    if not isinstance(hosts, dict):
        raise InventoryError(f"{_at(source, node, 'hosts')}: group {gname!r}: hosts must be a "
                             "mapping (host: variables)")
    for hname, hvars in hosts.items():
        hwhere = _at(source, hosts, hname)
        if hvars is not None and not isinstance(hvars, dict):
            raise InventoryError(f"{hwhere}: host {hname!r} in group {gname!r} must map to "
                                 "variables (or nothing)")
        names, port = host_names(str(hname), hwhere)
        base = {"ansible_port": port} if port is not None else {}
        for h in names:
            inv.add_host(gname, h, {**base, **{str(k): v for k, v in (hvars or {}).items()}})
    children = node.get("children") or {}
    if not isinstance(children, dict):
        raise InventoryError(f"{_at(source, node, 'children')}: group {gname!r}: children "
                             "must be a mapping")
    for cname, cnode in children.items():
        cwhere = _at(source, children, cname)
        inv.add_child(gname, str(cname), cwhere)
        _yaml_group(inv, str(cname), cnode, source, cwhere)


def read_script_data(data: Any, source: str, raw: RawInventory | None = None,
                     host_vars: Any = None) -> RawInventory:
    """The dynamic-inventory JSON: groups as host lists or {hosts, vars, children}, and
    `_meta.hostvars`. `host_vars(name)` is asked when `_meta` is missing."""
    inv = raw or RawInventory(source)
    if not isinstance(data, dict):
        raise InventoryError(f"{source}: expected a JSON object of groups")
    meta = data.get("_meta", {})
    hostvars = meta.get("hostvars", {}) if isinstance(meta, dict) else None
    if not isinstance(hostvars, dict):
        raise InventoryError(f"{source}: _meta.hostvars must be an object")
    seen: list[str] = []
    for gname, node in data.items():
        if gname == "_meta":
            continue
        if isinstance(node, list):
            node = {"hosts": node}
        if not isinstance(node, dict):
            raise InventoryError(f"{source}: group {gname!r} must be a list of hosts or an "
                                 "object with hosts, vars, children")
        inv.group(gname)
        for key, kind in (("hosts", list), ("children", list), ("vars", dict)):
            if key in node and not isinstance(node[key], kind):
                raise InventoryError(f"{source}: group {gname!r}: {key} must be a "
                                     f"{'list' if kind is list else 'object'}")
        for h in node.get("hosts", []):
            inv.add_host(gname, str(h))
            seen.append(str(h))
        for c in node.get("children", []):
            inv.add_child(gname, str(c), f"{source}: group {gname!r}")
        inv.group(gname).vars.update(node.get("vars", {}))
    for h in dict.fromkeys(seen):
        got = hostvars.get(h, {}) if "_meta" in data or host_vars is None else host_vars(h)
        if not isinstance(got, dict):
            raise InventoryError(f"{source}: variables of host {h!r} must be an object")
        inv.hostvars[h].update(got)
    return inv


def run_script(path: Path, *args: str) -> Any:
    """Run an executable inventory (no shell) and parse its JSON; clear errors on failure."""
    what = f"{path} {' '.join(args)}"
    try:
        done = subprocess.run([str(path), *args], capture_output=True, text=True,
                              timeout=SCRIPT_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise InventoryError(f"{what}: the inventory program gave no answer within "
                             f"{SCRIPT_TIMEOUT:g} s") from None
    except OSError as exc:
        raise InventoryError(f"{what}: cannot run the inventory program: "
                             f"{exc.strerror}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1][:200]
        raise InventoryError(f"{what}: the inventory program failed (exit "
                             f"{done.returncode}): {last}")
    try:
        return json.loads(done.stdout or "{}")
    except json.JSONDecodeError as exc:
        raise InventoryError(f"{what}: the inventory program printed no valid JSON "
                             f"(line {exc.lineno}, column {exc.colno}: {exc.msg})") from None


def is_executable_inventory(path: Path) -> bool:
    """An executable file that starts with `#!` (a mode bit alone is not enough)."""
    if not os.access(path, os.X_OK):
        return False
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == b"#!"
    except OSError:
        return False


def read_file(path: Path, raw: RawInventory) -> None:
    """Read one inventory file of any form into `raw`."""
    source = str(path)
    if is_executable_inventory(path):
        read_script_data(run_script(path, "--list"), source, raw,
                         lambda h: run_script(path, "--host", h))
        return
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not a text file"
        raise InventoryError(f"{path}: cannot read the inventory: {why}") from None
    if path.suffix in (".ini", ".cfg"):
        read_ini(text, source, raw)
        return
    try:
        data = yaml_load(text, source)
    except InventoryError as yaml_error:
        if path.suffix in (".yaml", ".yml", ".json") and not looks_like_ini(text):
            raise
        try:
            read_ini(text, source, raw)
        except InventoryError as ini_error:
            raise InventoryError(f"{ini_error} (read as INI; as YAML: {yaml_error})") from None
        return
    if isinstance(data, dict) and is_script_format(data):
        read_script_data(data, source, raw)
    elif isinstance(data, dict):
        read_yaml_data(data, source, raw)
    elif data is None or isinstance(data, str):
        read_ini(text, source, raw)  # a bare list of host names reads as INI
    else:
        raise InventoryError(f"{source}: expected a mapping of groups (YAML), an object of "
                             "groups (JSON) or INI sections")


def read_path(path: Path) -> RawInventory:
    """An inventory file, executable or directory, with group_vars/ and host_vars/ beside."""
    raw = RawInventory(str(path))
    if path.is_dir():
        files = [p for p in sorted(path.iterdir()) if p.is_file()
                 and not p.name.startswith(".") and not p.name.endswith(_SKIP_SUFFIXES)]
        for f in files:
            read_file(f, raw)
        base = path
    elif path.exists():
        read_file(path, raw)
        base = path.parent
    else:
        raise InventoryError(f"{path}: cannot read the inventory: no such file or directory")
    raw.reconcile()
    _vars_dirs(raw, base)
    return raw


def _var_files(folder: Path, name: str) -> list[Path]:
    out = [folder / f"{name}{ext}" for ext in ("", ".yml", ".yaml", ".json")]
    found = [p for p in out if p.is_file()]
    sub = folder / name
    if sub.is_dir():
        found += [p for p in sorted(sub.rglob("*")) if p.is_file()
                  and p.suffix in ("", ".yml", ".yaml", ".json") and not p.name.startswith(".")]
    return found


def _vars_from(folder: Path, name: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for f in _var_files(folder, name):
        try:
            data = yaml_load(f.read_text(), str(f))
        except OSError as exc:
            raise InventoryError(f"{f}: cannot read: {exc.strerror}") from None
        if data is None:
            continue
        if not isinstance(data, dict):
            raise InventoryError(f"{f}: expected a mapping of variables")
        merged.update({str(k): v for k, v in data.items()})
    return merged


def _vars_dirs(raw: RawInventory, base: Path) -> None:
    gdir, hdir = base / "group_vars", base / "host_vars"
    if gdir.is_dir():
        for g in raw.groups.values():
            g.file_vars = _vars_from(gdir, g.name)
    if hdir.is_dir():
        for h in raw.hosts():
            found = _vars_from(hdir, h)
            if found:
                raw.host_file_vars[h] = found
