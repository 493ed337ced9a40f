"""Ed25519 signatures over a sealed change record's chain head, for non-repudiation."""

from __future__ import annotations

import base64
import getpass
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import UsageError

PASSPHRASE_ENV = "RUNBOOK_SIGN_PASSPHRASE"


def _message(record: dict[str, Any]) -> bytes:
    """What is signed: the format and the chain head, which seals every other section."""
    head = (record.get("chain") or {}).get("head")
    return f"{record.get('format')}\n{record.get('version')}\n{head}\n".encode()


def fingerprint(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")


def load_private(path: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM or OpenSSH file; the passphrase, if any, comes from
    $RUNBOOK_SIGN_PASSPHRASE or is asked without echo."""
    data = Path(path).read_bytes()
    password: bytes | None = None
    for attempt in range(2):
        try:
            if b"OPENSSH PRIVATE KEY" in data:
                key: Any = serialization.load_ssh_private_key(data, password)
            else:
                key = serialization.load_pem_private_key(data, password)
            break
        except TypeError:  # it is encrypted and no passphrase was given
            if attempt or password is not None:
                raise
            env = os.environ.get(PASSPHRASE_ENV)
            if env is None and not sys.stdin.isatty():
                raise UsageError(f"{path} is encrypted: set {PASSPHRASE_ENV}") from None
            password = (env if env is not None
                        else getpass.getpass(f"passphrase for {path}: ")).encode()
        except ValueError as exc:
            raise UsageError(f"{path}: not a usable private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{path} is not an Ed25519 key")
    return key


def load_public(path: str) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file or an OpenSSH `ssh-ed25519 ...` line."""
    data = Path(path).read_bytes()
    try:
        if data.lstrip().startswith(b"ssh-"):
            key: Any = serialization.load_ssh_public_key(data.strip())
        else:
            key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise UsageError(f"{path}: not a usable public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"{path} is not an Ed25519 public key")
    return key


def sign(record: dict[str, Any], key: Ed25519PrivateKey) -> None:
    """Add the `signature` section to a sealed record."""
    public = key.public_key()
    record["signature"] = {
        "alg": "ed25519", "key": fingerprint(public),
        "value": base64.b64encode(key.sign(_message(record))).decode()}


def check(record: dict[str, Any], public: Ed25519PublicKey) -> str | None:
    """None when the record is signed by `public`, else why not."""
    sig = record.get("signature")
    if not isinstance(sig, dict) or sig.get("alg") != "ed25519":
        return "the record is not signed"
    if sig.get("key") != fingerprint(public):
        return (f"section signature: signed by key {sig.get('key')}, not by the given key "
                f"{fingerprint(public)}")
    try:
        public.verify(base64.b64decode(str(sig.get("value", ""))), _message(record))
    except (InvalidSignature, ValueError):
        return "section signature does not match the record: the record was changed"
    return None
