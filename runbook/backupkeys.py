"""Backup encryption at rest: AES-256-GCM per blob, under a key kept away from the blobs.

A sealed blob is `RBK1 | key id (8 bytes) | nonce (12 bytes) | ciphertext+tag`; the
associated data is the header plus the content's sha256 (hex), so a blob cannot be swapped
for another one or moved to another hash without failing authentication.

Where the key lives (never in the data directory; the data directory only names key ids in
`backups/key.json`):
1. `$RUNBOOK_BACKUP_PASSPHRASE` set: the key is derived from it (scrypt, with a random salt
   kept in key.json). For headless use; nothing is stored anywhere.
2. Else the OS keyring (`keyring`: macOS Keychain, Windows Credential Locker, Secret Service),
   service `runbook-backup-key`, one entry per key id.
3. Else (headless Linux, CI, containers: no keyring backend) a 0600 file per key id in
   `<platform config dir>/runbook/backup-keys/`, a 0700 folder. This protects the backups
   when the data directory alone is copied, synced or leaked; it does not protect them from
   someone who can read both directories as the same user. README "Security" says so.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .errors import JournalError
from .paths import write_private

MAGIC = b"RBK1"
HEADER = len(MAGIC) + 8 + 12
ENV_PASSPHRASE = "RUNBOOK_BACKUP_PASSPHRASE"
SERVICE = "runbook-backup-key"


class BackupKeyError(JournalError):
    """The key a backup was encrypted with is not available, or another key was given."""

    title = "backup key"


@dataclass(frozen=True)
class BackupKey:
    """A 256-bit key and its id (a keyed hash of it: the id reveals nothing about the key)."""

    id: str
    secret: bytes
    where: str  # "keyring", "key file", "passphrase"


def key_id(secret: bytes) -> str:
    """16 hex digits naming `secret` without revealing it."""
    return hmac.new(secret, b"runbook backup key id", hashlib.sha256).hexdigest()[:16]


def seal(key: BackupKey, sha256: str, data: bytes) -> bytes:
    """Encrypt `data` (whose sha256 is `sha256`) under `key` with a fresh nonce."""
    header = MAGIC + bytes.fromhex(key.id) + secrets.token_bytes(12)
    return header + AESGCM(key.secret).encrypt(header[-12:], data, header + sha256.encode())


def blob_key_id(blob: bytes) -> str | None:
    """The key id a sealed blob names, or None for a plaintext (pre-encryption) object."""
    return blob[4:12].hex() if blob[:4] == MAGIC and len(blob) >= HEADER else None


def unseal(key: BackupKey, sha256: str, blob: bytes) -> bytes:
    """Decrypt a sealed blob; raises InvalidTag if it was altered or the key is wrong."""
    header = blob[:HEADER]
    return AESGCM(key.secret).decrypt(header[-12:], blob[HEADER:], header + sha256.encode())


def _usable_keyring() -> Any | None:
    """The keyring module if a real OS keyring backend is available, else None."""
    try:
        import keyring
        backend = keyring.get_keyring()
    except Exception:  # noqa: BLE001 - no keyring is a normal case, handled by the fallback
        return None
    names = [type(b).__module__ for b in getattr(backend, "backends", [backend])]
    real = [n for n in names if not n.startswith(("keyring.backends.fail",
                                                  "keyring.backends.null", "keyrings.alt"))]
    return keyring if real and getattr(backend, "priority", 1) > 0 else None


def key_dir() -> Path:
    """Where key files go when there is no keyring: the platform config dir, not the data dir."""
    return Path(platformdirs.user_config_dir("runbook", False)) / "backup-keys"


class KeySource:
    """The backup keys of one data directory: the current one for new blobs, any by id."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.meta_path = data_dir / "backups" / "key.json"
        self.env = dict(os.environ) if env is None else env
        self._cache: dict[str, BackupKey] = {}

    def meta(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.meta_path.read_text()))
        except FileNotFoundError:
            return {}

    def _write_meta(self, meta: dict[str, Any]) -> None:
        self.meta_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(self.meta_path, json.dumps(meta, indent=1))

    def current(self) -> BackupKey:
        """The key new blobs are sealed with; the first call makes one (see module doc)."""
        meta = self.meta()
        if not meta.get("current"):
            key = self.create(self.env.get(ENV_PASSPHRASE))
            if self._first_meta({"current": key.id, "kind": key.where} | self._salt_of(key)):
                return key
            if key.where != "passphrase":
                self.retire(key.id)  # another process made the first key at the same moment
            meta = self.meta()
        return self.get(str(meta["current"]))

    def _first_meta(self, meta: dict[str, Any]) -> bool:
        """Write key.json only if none exists yet (a hard link never replaces a file)."""
        self.meta_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.meta_path.with_name(f".key.json.{os.getpid()}")
        write_private(tmp, json.dumps(meta, indent=1))
        try:
            os.link(tmp, self.meta_path)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink()

    def _salt_of(self, key: BackupKey) -> dict[str, str]:
        salt = getattr(self, "_last_salt", None)
        return {"salt": salt} if key.where == "passphrase" and salt else {}

    def create(self, passphrase: str | None) -> BackupKey:
        """A new key: derived from `passphrase` (new salt), else random and stored."""
        if passphrase:
            salt = secrets.token_hex(16)
            secret = _derive(passphrase, salt)
            self._last_salt = salt
            key = BackupKey(key_id(secret), secret, "passphrase")
        else:
            secret = secrets.token_bytes(32)
            key = BackupKey(key_id(secret), secret, _store(key_id(secret), secret))
        self._cache[key.id] = key
        return key

    def get(self, kid: str) -> BackupKey:
        """The key with id `kid`; raises BackupKeyError saying where it was looked for."""
        if kid in self._cache:
            return self._cache[kid]
        meta = self.meta()
        passphrase = self.env.get(ENV_PASSPHRASE)
        for salt in [meta.get("salt")] + list(meta.get("old_salts", [])):
            if passphrase and salt:
                secret = _derive(passphrase, str(salt))
                if key_id(secret) == kid:
                    self._cache[kid] = BackupKey(kid, secret, "passphrase")
                    return self._cache[kid]
        found = _load(kid)
        if found is not None:
            self._cache[kid] = found
            return found
        if meta.get("kind") == "passphrase" or meta.get("old_salts"):
            hint = (f"the passphrase in ${ENV_PASSPHRASE} is not the one these backups were "
                    "encrypted with" if passphrase else
                    f"set ${ENV_PASSPHRASE} to the passphrase the backups were encrypted with")
        else:
            hint = (f"it is neither in the OS keyring (service {SERVICE}) nor in {key_dir()}; "
                    "restore that key (from your keyring or key-file backup) to read them")
        raise BackupKeyError(f"backup key {kid} is not available: {hint}. Nothing was changed")

    def retire(self, kid: str) -> None:
        """Forget a stored key once no blob needs it."""
        _delete(kid)
        self._cache.pop(kid, None)

    def set_current(self, key: BackupKey, old: list[str]) -> None:
        meta = self.meta()
        old_salts = list(meta.get("old_salts", []))
        if meta.get("salt"):
            old_salts.append(meta["salt"])
        new = {"current": key.id, "kind": key.where, "previous": old, "old_salts": old_salts}
        self._write_meta(new | self._salt_of(key))

    def finish_rekey(self) -> None:
        meta = self.meta()
        for kid in meta.pop("previous", []):
            if kid != meta.get("current"):
                self.retire(kid)
        meta.pop("old_salts", None)
        self._write_meta(meta)


_derived: dict[tuple[str, str], bytes] = {}


def _derive(passphrase: str, salt: str) -> bytes:
    if (passphrase, salt) not in _derived:
        kdf = Scrypt(salt=bytes.fromhex(salt), length=32, n=2 ** 15, r=8, p=1)
        _derived[(passphrase, salt)] = kdf.derive(passphrase.encode())
    return _derived[(passphrase, salt)]


def _store(kid: str, secret: bytes) -> str:
    """Store a new key: the OS keyring if there is one, else a 0600 key file."""
    kr = _usable_keyring()
    text = base64.b64encode(secret).decode()
    if kr is not None:
        try:
            kr.set_password(SERVICE, kid, text)
            return "keyring"
        except Exception:  # noqa: BLE001 - a locked or broken keyring: use the key file
            pass
    folder = key_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    write_private(folder / kid, text + "\n")
    return "key file"


def _load(kid: str) -> BackupKey | None:
    kr = _usable_keyring()
    text: str | None = None
    where = "keyring"
    if kr is not None:
        try:
            text = kr.get_password(SERVICE, kid)
        except Exception:  # noqa: BLE001 - fall through to the key file
            text = None
    if text is None:
        where = "key file"
        try:
            text = (key_dir() / kid).read_text().strip()
        except OSError:
            return None
    try:
        secret = base64.b64decode(text, validate=True)
    except ValueError:
        return None
    return BackupKey(kid, secret, where) if key_id(secret) == kid else None


def _delete(kid: str) -> None:
    kr = _usable_keyring()
    if kr is not None:
        try:
            kr.delete_password(SERVICE, kid)
        except Exception:  # noqa: BLE001 - it may live in the key file instead
            pass
    try:
        (key_dir() / kid).unlink()
    except FileNotFoundError:
        pass


__all__ = ["BackupKey", "BackupKeyError", "InvalidTag", "KeySource", "blob_key_id", "seal",
           "unseal"]
