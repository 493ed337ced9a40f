"""Secret redaction for every byte that is shown, stored or exported."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

MASK = "********"
MIN_SECRET_LENGTH = 4
HOLD_LINES = 8  # a wrapped secret is looked for over at most this many lines


def forms(secret: str) -> set[str]:
    """The forms of a secret worth hiding: as is, base64 (with and without padding) and hex."""
    raw = secret.encode()
    b64 = base64.b64encode(raw).decode()
    return {secret, b64, b64.rstrip("="), raw.hex(), raw.hex().upper()}


BREAK = r"(?:\r*\n[ \t]*)?"  # where a device may wrap a line: a line break, then indentation


class Redactor:
    """Replaces every known secret (and its encoded forms) with a mask.

    Secrets are added as they become known (typed by the operator, rendered into a command);
    longer ones are replaced first so that one secret containing another is fully hidden.
    A secret is also found when the device wrapped or split it across lines (a line break,
    possibly followed by indentation, between any two of its characters); the line breaks are
    kept so that the output keeps its lines. `holds_back` tells a streaming caller that a
    text ends with the start of a secret, so that it waits for the rest before showing it.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._prefix_cache: set[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Track more secrets; empty strings are ignored."""
        before = len(self._secrets)
        for s in secrets:
            if s:
                self._secrets |= {f for f in forms(s) if f}
        if len(self._secrets) != before:
            self._prefix_cache = None
            alts = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(BREAK.join(re.escape(c) for c in a)
                                                for a in alts))

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __call__(self, text: str) -> str:
        """Return `text` with every secret masked."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(_mask, text)

    def holds_back(self, lines: list[str]) -> int:
        """How many of the last `lines` (at most HOLD_LINES) end with the beginning, not the
        whole, of a secret, wrapped or not: a streaming caller waits for the rest."""
        if not self._secrets:
            return 0
        longest_form = max(map(len, self._secrets))
        pieces: list[str] = []  # the last characters of the last lines, newest first
        owners: list[int] = []
        window = lines[-HOLD_LINES:]
        size = 0
        for i in range(len(window) - 1, -1, -1):
            piece = window[i].rstrip("\r")
            if i:
                piece = piece.lstrip(" \t")
            piece = piece[-longest_form:]
            pieces.append(piece)
            owners.append(i)
            size += len(piece)
            if size >= longest_form:
                break
        tail = "".join(reversed(pieces))
        prefixes = self._prefixes()
        for k in range(min(longest_form - 1, len(tail)), 0, -1):
            if tail[-k:] in prefixes:
                break
        else:
            return 0
        start, first = len(tail) - k, len(window)
        for piece, i in zip(pieces, owners, strict=True):  # newest first: find where k starts
            first = i
            if start >= len(tail) - len(piece):
                break
            tail = tail[:len(tail) - len(piece)]
        return len(window) - first

    def _prefixes(self) -> set[str]:
        if self._prefix_cache is None:
            self._prefix_cache = {s[:k] for s in self._secrets for k in range(1, len(s))}
        return self._prefix_cache

    def bytes(self, data: bytes) -> bytes:
        """Mask secrets in raw bytes (decoded as UTF-8 with replacement)."""
        return self(data.decode("utf-8", "replace")).encode()


def _mask(m: re.Match[str]) -> str:
    return MASK + "\n" * m.group(0).count("\n")
