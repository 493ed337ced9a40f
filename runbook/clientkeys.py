"""Login keys read and decoded once per run, not once per device."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import asyncssh
from asyncssh.public_key import load_default_keypairs

from .errors import TransportError


class ClientKeys:
    """The private keys (and their `-cert.pub` certificates) a run logs in with.

    Given file names, asyncssh reads and decodes the keys again for every connection. An RSA
    key is checked as it is decoded (about 40 ms of processor time), so a fleet of a thousand
    devices spent most of a minute decoding one key. Here each set of files is decoded once
    per run, on first use; a file that cannot be read or decoded is tried again by the next
    device (nothing failed is kept). A passphrase is kept only as its hash, as part of the
    key of what was decoded with it."""

    def __init__(self) -> None:
        self._loaded: dict[tuple[tuple[str, ...], bytes], list[asyncssh.SSHKeyPair]] = {}

    def load(self, files: Sequence[str], passphrase: str | None,
             where: str) -> list[asyncssh.SSHKeyPair]:
        """The key pairs of `files` (the default `~/.ssh/id_*` ones when empty, skipping
        those under a passphrase, as asyncssh and OpenSSH do). Raises asyncssh's
        KeyImportError for a key that cannot be decoded, TransportError naming `where` and
        the file for one that cannot be read."""
        secret = hashlib.sha256(passphrase.encode()).digest() if passphrase else b""
        key = (tuple(files), secret)
        pairs = self._loaded.get(key)
        if pairs is None:
            try:
                pairs = list(asyncssh.load_keypairs(list(files), passphrase) if files
                             else load_default_keypairs(passphrase))
            except OSError as exc:
                raise TransportError(f"{where}: cannot read the private key "
                                     f"{exc.filename or ''}: {exc.strerror or exc}") from None
            self._loaded[key] = pairs
        return pairs
