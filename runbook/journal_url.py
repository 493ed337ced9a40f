"""Connection strings of team journals, fit to show: any password masked."""

from __future__ import annotations

import re


def redact_url(url: str) -> str:
    """`postgresql://user:secret@host/db` -> `postgresql://user:****@host/db` (and `password=`)."""
    url = re.sub(r"(://[^:/@]+:)[^@]*@", r"\1****@", url)
    return re.sub(r"(password\s*=\s*)\S+", r"\1****", url)
