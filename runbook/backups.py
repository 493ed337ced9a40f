"""Backups: a content-addressed local store of remote files, taken before a step changes them."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from .backupkeys import InvalidTag, KeySource, TeamKeySource, blob_key_id, seal, unseal
from .errors import CorruptBackup
from .journal import Journal
from .journal_records import Backup
from .remote import RemoteFiles

HEX = set("0123456789abcdef")


class BackupStore:
    """Bytes by sha256 under `<data>/backups/objects/ab/cdef…`, files 0600, folders 0700,
    each sealed with AES-256-GCM (runbook.backupkeys) under a key kept outside the data dir.

    Names come only from our own hashes, never from remote paths, so nothing a device says can
    make the store write outside itself. The interface is bytes in, hash out (`put`), hash in,
    verified bytes out (`get`): a store keeping blobs elsewhere (a team database) seals them
    the same way with `seal`/`unseal`.
    """

    def __init__(self, data_dir: Path, keys: KeySource | None = None) -> None:
        self.root = data_dir / "backups" / "objects"
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for d in (self.root.parent, self.root):
            os.chmod(d, 0o700)
        self.keys = keys or KeySource(data_dir)

    def path(self, sha256: str) -> Path:
        """Where the object for `sha256` lives; raises ValueError for anything but a hash."""
        if len(sha256) != 64 or not set(sha256) <= HEX:
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:]

    def put(self, data: bytes) -> str:
        """Store `data` sealed and durably (fsync'd file and folder); return its sha256.

        Raises BackupKeyError (nothing written) when the current key is not available.
        """
        sha = hashlib.sha256(data).hexdigest()
        key = self.keys.current()
        dest = self.path(sha)
        if dest.exists():
            blob = dest.read_bytes()
            if blob_key_id(blob) == key.id:
                try:
                    unseal(key, sha, blob)
                    return sha
                except InvalidTag:
                    pass  # damaged: write it again
        self._write(dest, seal(key, sha, data))
        return sha

    def _write(self, dest: Path, blob: bytes) -> None:
        dest.parent.mkdir(mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        try:
            os.write(fd, blob)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o600)
        os.replace(tmp, dest)
        dfd = os.open(dest.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def get(self, sha256: str) -> bytes:
        """The stored bytes, decrypted and checked against their hash.

        Raises BackupKeyError when the key is missing or wrong, CorruptBackup when the blob
        was altered or is gone.
        """
        try:
            blob = self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise CorruptBackup(f"backup {sha256[:12]} is missing from the store") from None
        kid = blob_key_id(blob)
        if kid is None:
            data = blob  # stored before backups were encrypted; `rekey` encrypts it
        else:
            try:
                data = unseal(self.keys.get(kid), sha256, blob)
            except InvalidTag:
                raise CorruptBackup(f"backup {sha256[:12]} failed its authentication check "
                                    f"(altered, or sealed under another key {kid})") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise CorruptBackup(f"backup {sha256[:12]} does not match its hash")
        return data

    def check(self, hashes: list[str]) -> None:
        """Decrypt and verify each of `hashes` (before a rollback changes anything)."""
        for sha in dict.fromkeys(hashes):
            self.get(sha)

    def hashes(self) -> list[str]:
        """Every object in the store."""
        return sorted(p.parent.name + p.name for p in self.root.glob("??/*")
                      if not p.name.startswith("."))

    def rekey(self, passphrase: str | None = None) -> tuple[int, str]:
        """Re-seal every object under a new key (from `passphrase`, else random and stored)
        and forget the old stored keys; return (objects, new key id).

        Every object is read first, so a missing or wrong old key changes nothing. Interrupted,
        it can be run again: until it completes, the old keys stay where they are.
        """
        everything = self.hashes()
        self.check(everything)
        old = {blob_key_id(self.path(h).read_bytes()) for h in everything}
        current = self.keys.meta().get("current")
        retiring = sorted({k for k in old | {current} if k})
        key = self.keys.create(passphrase)
        self.keys.set_current(key, retiring)
        for sha in everything:
            self._write(self.path(sha), seal(key, sha, self.get(sha)))
        self.keys.finish_rekey()
        return len(everything), key.id


class JournalBlobStore:
    """Backup objects kept in the journal's own database (the team journal on PostgreSQL has
    no data directory of ours). Sealed exactly as BackupStore seals files, under the team's
    key (`TeamKeySource`): the database keeps ciphertext, key ids and salts, never a key."""

    def __init__(self, journal: Journal, keys: KeySource | None = None) -> None:
        self.journal = journal
        self.keys = keys or TeamKeySource(journal)

    def put(self, data: bytes) -> str:
        """Store `data` sealed (committed before this returns) and return its sha256."""
        sha = sha256(data)
        self.journal.put_blob(sha, seal(self.keys.current(), sha, data))
        return sha

    def get(self, sha256_: str) -> bytes:
        """The stored bytes, decrypted and checked against their hash; raises CorruptBackup or
        BackupKeyError."""
        blob = self.journal.get_blob(sha256_)
        if blob is None:
            raise CorruptBackup(f"backup {sha256_[:12]} is missing from the team journal")
        kid = blob_key_id(blob)
        if kid is None:
            raise CorruptBackup(f"backup {sha256_[:12]} is not sealed: refusing to trust it")
        try:
            data = unseal(self.keys.get(kid), sha256_, blob)
        except InvalidTag:
            raise CorruptBackup(f"backup {sha256_[:12]} failed its authentication check "
                                f"(altered, or sealed under another key {kid})") from None
        if sha256(data) != sha256_:
            raise CorruptBackup(f"backup {sha256_[:12]} does not match its hash")
        return data

    def check(self, hashes: list[str]) -> None:
        """Decrypt and verify each of `hashes` (before a rollback changes anything)."""
        for sha in dict.fromkeys(hashes):
            self.get(sha)


def store_for(journal: Journal) -> BackupStore | JournalBlobStore:
    """Where a journal keeps its backup objects: files beside SQLite, or the database."""
    if journal.blobs_in_db:
        return JournalBlobStore(journal)
    assert journal.path is not None
    return BackupStore(journal.path.parent)


def sha256(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


async def take(journal: Journal, store: BackupStore | JournalBlobStore, files: RemoteFiles,
               *, run_id: str, step_id: str, host: str, path: str) -> list[Backup]:
    """Back up `path` (a file, every file below a folder, or its absence) and journal it.

    A folder is recorded as a manifest of its files, so that rollback can also remove files
    the step created in it. Returns the journal records, committed only after the bytes are.
    """
    info = await files.stat(path)
    common = {"run_id": run_id, "step_id": step_id, "target": files.name, "host": host}
    if info.kind == "absent":
        return [journal.add_backup(**common, path=path, state="absent", sha256=None, size=None,
                                   mode=None, uid=None, gid=None, mtime=None,
                                   method=files.method)]
    if info.kind == "dir":
        names = await files.files_under(path)
        manifest = json.dumps(names).encode()
        out = [journal.add_backup(**common, path=path, state="dir", sha256=store.put(manifest),
                                  size=len(names), mode=info.mode, uid=info.uid, gid=info.gid,
                                  mtime=info.mtime, method=files.method)]
        for name in names:
            out += await take(journal, store, files, run_id=run_id, step_id=step_id, host=host,
                              path=name)
        return out
    data = await files.read(path)
    digest = store.put(data)
    return [journal.add_backup(**common, path=path, state="present", sha256=digest,
                               size=len(data), mode=info.mode, uid=info.uid, gid=info.gid,
                               mtime=info.mtime, method=files.method)]


async def current(files: RemoteFiles, path: str) -> tuple[str, str | None]:
    """The state of `path` now, as (state, sha256) in the terms backups use."""
    info = await files.stat(path)
    if info.kind == "absent":
        return "absent", None
    if info.kind == "dir":
        return "dir", sha256(json.dumps(await files.files_under(path)).encode())
    return "present", sha256(await files.read(path))


async def record_after(journal: Journal, files: RemoteFiles, backups: list[Backup]) -> None:
    """Remember how the step left each backed-up path (rollback refuses if it changes)."""
    for b in backups:
        state, digest = await current(files, b.path)
        journal.set_backup_after(b.id, state, digest)
