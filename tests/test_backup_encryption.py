"""Backups are encrypted at rest: no private key in the clear in the data dir, keys kept apart."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12

from runbook.backupkeys import ENV_PASSPHRASE, BackupKeyError, blob_key_id, key_dir
from runbook.backups import BackupStore, CorruptBackup
from runbook.headless import FlagDecider
from runbook.inventory import Inventory
from runbook.journal import Journal
from runbook.loader import load_procedure
from runbook.rollback import rollback

from .helpers import cli, cli_env, engine_for, write_procedure

KEYS = """
id: test.replace-keys
title: Replace private keys, then fail
vendor: test
source: {document: tests}
risk: medium
params:
  dev: {type: target}
  dir: {type: string}
steps:
  - id: replace
    title: Replace the keys
    kind: run
    target: dev
    command: "cd {{ dir }} && for f in key.pem key.der sic_cert.p12; do printf NEW > $f; done"
    modifies: ["{{ dir }}/key.pem", "{{ dir }}/key.der", "{{ dir }}/sic_cert.p12"]
  - {id: check, title: Check, kind: run, target: dev, command: "echo broken; exit 1"}
"""
NAMES = ("key.pem", "key.der", "sic_cert.p12")


def seed(root: Path) -> dict[str, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    p12 = pkcs12.serialize_key_and_certificates(b"sic", key, None, None,
                                                serialization.NoEncryption())
    files = {"key.pem": pem, "key.der": der, "sic_cert.p12": p12}
    for name, data in files.items():
        (root / name).write_bytes(data)
        (root / name).chmod(0o600)
    return files


def device_files(root: Path) -> dict[str, bytes]:
    return {n: (root / n).read_bytes() for n in NAMES}


def plaintext_found(data_dir: Path, files: dict[str, bytes]) -> list[str]:
    """Files under the data dir holding any sign of the private keys in the clear."""
    der = files["key.der"]
    needles = [b"-----BEGIN", b"PRIVATE KEY", der, der[-32:], files["sic_cert.p12"],
               files["sic_cert.p12"][-32:], base64.b64encode(der)[:48]]
    hits = []
    for p in data_dir.rglob("*"):
        if p.is_file():
            blob = p.read_bytes()
            hits += [f"{p}: {n[:12]!r}" for n in needles if n in blob]
    return hits


async def failed_run(sshd, tmp_path):
    files = seed(sshd.root)
    path = write_procedure(tmp_path, KEYS)
    engine, journal, _ = engine_for(sshd.data_dir, FlagDecider())
    run_id = engine.create(load_procedure(path), path.read_text(), str(path),
                           {"dev": sshd.name, "dir": sshd.remote_dir}, {},
                           Inventory.load(sshd.inventory_path))
    assert await engine.execute(run_id, {}) == "failed"
    assert device_files(sshd.root) == {n: b"NEW" for n in NAMES}
    return files, engine, journal, run_id


def blobs(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "backups" / "objects").rglob("*") if p.is_file()]


async def test_no_private_key_in_the_clear_and_rollback_is_byte_identical(sshd,
                                                                          tmp_path) -> None:
    files, engine, journal, run_id = await failed_run(sshd, tmp_path)
    journal.close()

    assert len(blobs(sshd.data_dir)) == 3
    assert plaintext_found(sshd.data_dir, files) == []
    key_files = list(key_dir().iterdir())
    assert len(key_files) == 1 and not key_files[0].is_relative_to(sshd.data_dir)
    assert key_files[0].stat().st_mode & 0o777 == 0o600
    meta = json.loads((sshd.data_dir / "backups" / "key.json").read_text())
    assert meta["current"] == key_files[0].name and "secret" not in str(meta)
    assert {blob_key_id(p.read_bytes()) for p in blobs(sshd.data_dir)} == {meta["current"]}

    engine, journal, _ = engine_for(sshd.data_dir)
    assert await rollback(engine, run_id, {}) == "rolled_back"

    assert device_files(sshd.root) == files


@pytest.mark.parametrize("damage", ["missing", "wrong"])
async def test_a_missing_or_wrong_key_is_a_clear_error_that_changes_nothing(
        sshd, tmp_path, damage) -> None:
    files, engine, journal, run_id = await failed_run(sshd, tmp_path)
    journal.close()
    (key_file,) = key_dir().iterdir()
    if damage == "missing":
        key_file.unlink()
    else:
        key_file.write_text(base64.b64encode(b"k" * 32).decode())

    code, out, err = await cli(["rollback", run_id], cli_env(sshd.data_dir, tmp_path))

    assert code == 6, out + err
    assert f"backup key {key_file.name} is not available" in err
    assert "Nothing was changed" in err and "Traceback" not in err
    assert device_files(sshd.root) == {n: b"NEW" for n in NAMES}
    journal = Journal.open(sshd.data_dir)
    assert all(b.restored_at is None for b in journal.backups(run_id))
    assert journal.get_run(run_id).state == "failed"


async def test_a_passphrase_keeps_the_key_off_every_disk(sshd, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(ENV_PASSPHRASE, "correct horse battery staple")
    files, engine, journal, run_id = await failed_run(sshd, tmp_path)
    journal.close()
    assert not key_dir().exists()
    assert plaintext_found(sshd.data_dir, files) == []
    env = cli_env(sshd.data_dir, tmp_path, **{ENV_PASSPHRASE: "wrong passphrase"})

    code, out, err = await cli(["rollback", run_id], env)

    assert code == 6 and "is not the one these backups were encrypted with" in err, out + err
    assert device_files(sshd.root) == {n: b"NEW" for n in NAMES}

    env[ENV_PASSPHRASE] = "correct horse battery staple"
    code, out, err = await cli(["rollback", run_id], env)

    assert code == 0, out + err
    assert device_files(sshd.root) == files


async def test_rekey_then_rollback_works(sshd, tmp_path) -> None:
    files, engine, journal, run_id = await failed_run(sshd, tmp_path)
    journal.close()
    (old,) = key_dir().iterdir()
    env = cli_env(sshd.data_dir, tmp_path)

    code, out, err = await cli(["backups", "rekey"], env)

    assert code == 0 and "re-encrypted 3 backup object(s)" in out, out + err
    (new,) = key_dir().iterdir()
    assert new.name != old.name and not old.exists()
    assert {blob_key_id(p.read_bytes()) for p in blobs(sshd.data_dir)} == {new.name}

    env["NEW_PASS"] = "a new passphrase"
    code, out, err = await cli(["backups", "rekey", "--passphrase-env", "NEW_PASS"], env)

    assert code == 0, out + err
    assert list(key_dir().iterdir()) == []  # the stored key is forgotten
    env[ENV_PASSPHRASE] = "a new passphrase"
    code, out, err = await cli(["rollback", run_id], env)

    assert code == 0, out + err
    assert device_files(sshd.root) == files
    assert plaintext_found(sshd.data_dir, files) == []


def test_a_blob_altered_or_moved_fails_authentication(tmp_path) -> None:
    store = BackupStore(tmp_path)
    a, b = store.put(b"secret one"), store.put(b"secret two")
    assert store.get(a) == b"secret one"
    blob = bytearray(store.path(a).read_bytes())
    blob[-1] ^= 1
    store.path(a).write_bytes(bytes(blob))
    with pytest.raises(CorruptBackup, match="failed its authentication check"):
        store.get(a)
    store.path(a).write_bytes(store.path(b).read_bytes())  # another blob under this hash
    with pytest.raises(CorruptBackup):
        store.get(a)
    assert store.put(b"secret one") == a and store.get(a) == b"secret one"  # rewritten


def test_objects_from_before_encryption_are_read_and_rekey_seals_them(tmp_path) -> None:
    store = BackupStore(tmp_path)
    sha = store.put(b"x")
    store.path(sha).write_bytes(b"x")  # as an older runbook stored it
    assert store.get(sha) == b"x"
    store.rekey()
    assert blob_key_id(store.path(sha).read_bytes()) is not None
    assert BackupStore(tmp_path).get(sha) == b"x"


def test_without_the_key_nothing_is_written(tmp_path, monkeypatch) -> None:
    store = BackupStore(tmp_path)
    store.put(b"first")
    for f in key_dir().iterdir():
        f.unlink()
    with pytest.raises(BackupKeyError, match="is not available"):
        BackupStore(tmp_path).put(b"second")
    assert len(blobs(tmp_path)) == 1


def test_an_os_keyring_holds_the_key_when_there_is_one(tmp_path) -> None:
    import keyring
    from keyring.backend import KeyringBackend

    before = keyring.get_keyring()  # detected before this class exists, so never this class

    class MemoryKeyring(KeyringBackend):
        """Stands in for the OS keyring service (Keychain, Secret Service)."""

        priority = 1  # type: ignore[assignment]
        store: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            del self.store[(service, username)]

    keyring.set_keyring(MemoryKeyring())
    try:
        store = BackupStore(tmp_path)
        sha = store.put(b"-----BEGIN PRIVATE KEY-----")
        (kid,) = [u for s, u in MemoryKeyring.store if s == "runbook-backup-key"]
        assert not key_dir().exists()
        assert BackupStore(tmp_path).get(sha) == b"-----BEGIN PRIVATE KEY-----"
        store.rekey()
        assert ("runbook-backup-key", kid) not in MemoryKeyring.store
        assert BackupStore(tmp_path).get(sha) == b"-----BEGIN PRIVATE KEY-----"
    finally:
        keyring.set_keyring(before)
