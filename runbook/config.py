"""The user's defaults: runbook.toml in the platform config directory, under command-line flags.

Keys: `inventory`, `data_dir`, `operator` (the name recorded in the journal and change
records), `concurrency` (fan-out limit for steps that set none), `journal` (a team's
`postgresql://…` run store; shown with any password masked) and a `[secrets]` table mapping
a secret's name (a procedure's secret parameter or an access profile's password) to a source
(`env:VAR`, `cmd:COMMAND`, `keyring:SERVICE/USER`, `prompt`). Precedence: command-line flag,
then environment variable (RUNBOOK_HOME for the data directory), then this file, then the
built-in default; `runbook config` prints each value and where it came from. An unknown key
is an error (a typo must not pass silently); a missing file is fine, unless named by --config
or RUNBOOK_CONFIG.
"""

from __future__ import annotations

import getpass
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from .errors import RunbookError
from .secret_sources import Source, parse_source

ENV_CONFIG = "RUNBOOK_CONFIG"
KEYS = {"inventory": str, "data_dir": str, "operator": str, "concurrency": int, "journal": str}


class ConfigError(RunbookError):
    """The configuration file cannot be read or holds a wrong value."""

    title = "invalid configuration"
    exit_code = 2


def default_path() -> Path:
    """runbook.toml in the platform's user config directory."""
    return Path(platformdirs.user_config_dir("runbook", False)) / "runbook.toml"


@dataclass
class Config:
    """Effective settings, each with where it came from."""

    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, Source] = field(default_factory=dict)
    path: Path | None = None

    def get(self, key: str) -> Any:
        """The effective value of `key` (None when unset)."""
        return self.values.get(key)

    def override(self, key: str, value: Any, origin: str) -> None:
        """A flag or environment variable given: it wins over the file."""
        if value is not None:
            self.values[key] = value
            self.origins[key] = origin

    def report(self) -> list[dict[str, Any]]:
        """Each setting, its value and its origin, for `runbook config`."""
        from .journal_url import redact_url

        rows = [{"key": k, "value": redact_url(str(self.values[k])) if k == "journal" and
                 self.values.get(k) else self.values.get(k),
                 "from": self.origins.get(k, "default")} for k in KEYS]
        rows += [{"key": f"secrets.{n}", "value": s.describe(), "from": s.origin}
                 for n, s in self.secrets.items()]
        return rows


def load_config(explicit: str | None = None) -> Config:
    """Read the configuration (from --config, $RUNBOOK_CONFIG or the default place)."""
    named = explicit or os.environ.get(ENV_CONFIG)
    path = Path(named).expanduser() if named else default_path()
    cfg = Config(path=path)
    cfg.values = {"concurrency": 10, "operator": getpass.getuser(),
                  "data_dir": platformdirs.user_data_dir("runbook", False)}
    cfg.origins = {k: "default" for k in cfg.values}
    try:
        text = path.read_text()
    except FileNotFoundError:
        if named:
            raise ConfigError(f"{path}: no such configuration file") from None
        cfg.path = None
        return cfg
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    origin = str(path)
    for key, value in data.items():
        if key == "secrets":
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: [secrets] must be a table of NAME = \"SOURCE\"")
            for name, spec in value.items():
                if not isinstance(spec, str):
                    raise ConfigError(f"{path}: secrets.{name}: expected a string such as "
                                      "\"keyring:runbook/admin\"")
                try:
                    cfg.secrets[name] = parse_source(spec, f"{path}: secrets.{name}")
                except RunbookError as exc:
                    raise ConfigError(str(exc)) from None
            continue
        kind = KEYS.get(key)
        if kind is None:
            raise ConfigError(f"{path}: unknown setting {key!r} (known: "
                              f"{', '.join([*KEYS, 'secrets'])})")
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(f"{path}: {key} must be a {kind.__name__}")
        if isinstance(value, int) and key == "concurrency" and not 1 <= value <= 1000:
            raise ConfigError(f"{path}: concurrency must be between 1 and 1000")
        if isinstance(value, str) and key in ("inventory", "data_dir"):  # relative to the file
            value = str(path.parent / Path(value).expanduser())
        cfg.values[key] = value
        cfg.origins[key] = origin
    return cfg
