"""A keyring backend for tests: works headless, keeps nothing on disk.

In-process tests install `MemoryKeyring` with keyring.set_keyring; a `runbook` subprocess picks
`EnvKeyring` through PYTHON_KEYRING_BACKEND exactly as a user picks a backend, and reads the
stored passwords from RB_TEST_KEYRING (JSON of {"service/user": password}).
"""

from __future__ import annotations

import json
import os

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class MemoryKeyring(KeyringBackend):
    """Passwords in a dict.

    Its priority is below keyring's own "no keyring" backend, so that merely importing this
    module (pytest collects it with every test) never makes keyring's detection pick it as the
    OS keyring: it is used only where a test installs it or names it in PYTHON_KEYRING_BACKEND.
    """

    priority = -1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.store.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


class EnvKeyring(MemoryKeyring):
    """Passwords from the RB_TEST_KEYRING environment variable."""

    def __init__(self) -> None:
        super().__init__()
        for key, value in json.loads(os.environ.get("RB_TEST_KEYRING", "{}")).items():
            service, _, user = key.partition("/")
            self.store[(service, user)] = value
