"""Backups: a content-addressed local store of remote files, taken before a step changes them."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from .errors import CorruptBackup
from .journal import Journal
from .journal_records import Backup
from .remote import RemoteFiles

HEX = set("0123456789abcdef")


class BackupStore:
    """Bytes by sha256 under `<data>/backups/objects/ab/cdef…`, files 0600, folders 0700.

    Names come only from our own hashes, never from remote paths, so nothing a device says can
    make the store write outside itself.
    """

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "backups" / "objects"
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for d in (self.root.parent, self.root):
            os.chmod(d, 0o700)

    def path(self, sha256: str) -> Path:
        """Where the object for `sha256` lives; raises ValueError for anything but a hash."""
        if len(sha256) != 64 or not set(sha256) <= HEX:
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:]

    def put(self, data: bytes) -> str:
        """Store `data` durably (fsync'd file and folder) and return its sha256."""
        sha = hashlib.sha256(data).hexdigest()
        dest = self.path(sha)
        if dest.exists() and hashlib.sha256(dest.read_bytes()).hexdigest() == sha:
            return sha
        dest.parent.mkdir(mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        try:
            os.write(fd, data)
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
        return sha

    def get(self, sha256: str) -> bytes:
        """The stored bytes, checked against their hash; raises CorruptBackup."""
        try:
            data = self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise CorruptBackup(f"backup {sha256[:12]} is missing from the store") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise CorruptBackup(f"backup {sha256[:12]} does not match its hash")
        return data


def sha256(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


async def take(journal: Journal, store: BackupStore, files: RemoteFiles, *, run_id: str,
               step_id: str, host: str, path: str) -> list[Backup]:
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
