"""Secret redaction for every byte that is shown, stored or exported."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

MASK = "********"
MIN_SECRET_LENGTH = 4


def forms(secret: str) -> set[str]:
    """The forms of a secret worth hiding: as is, base64 (with and without padding) and hex."""
    raw = secret.encode()
    b64 = base64.b64encode(raw).decode()
    return {secret, b64, b64.rstrip("="), raw.hex(), raw.hex().upper()}


class Redactor:
    """Replaces every known secret (and its encoded forms) with a mask.

    Secrets are added as they become known (typed by the operator, rendered into a command);
    longer ones are replaced first so that one secret containing another is fully hidden.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Track more secrets; empty strings are ignored."""
        before = len(self._secrets)
        for s in secrets:
            if s:
                self._secrets |= {f for f in forms(s) if f}
        if len(self._secrets) != before:
            alts = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(a) for a in alts))

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __call__(self, text: str) -> str:
        """Return `text` with every secret masked."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def bytes(self, data: bytes) -> bytes:
        """Mask secrets in raw bytes (decoded as UTF-8 with replacement)."""
        return self(data.decode("utf-8", "replace")).encode()
