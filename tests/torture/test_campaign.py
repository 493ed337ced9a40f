"""The short crash campaign CI runs (the long one: `python -m tests.torture.campaign`)."""

from __future__ import annotations

from .campaign import campaign


async def test_twenty_kills_lose_nothing(tmp_path) -> None:
    report = await campaign(seed=20261122, kills=20, work=tmp_path)
    assert report.kills >= 20 and report.resumes >= 10 and report.runs >= 2
    assert report.problems == [], report.problems


async def test_twenty_kills_lose_nothing_on_the_team_journal(tmp_path, pg_url,
                                                              monkeypatch) -> None:
    monkeypatch.setenv("RUNBOOK_BACKUP_PASSPHRASE", "campaign team passphrase")
    report = await campaign(seed=20261201, kills=20, work=tmp_path, journal=pg_url)
    assert report.kills >= 20 and report.resumes >= 10 and report.runs >= 2
    assert report.problems == [], report.problems
