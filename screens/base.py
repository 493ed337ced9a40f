"""Screen bases that know their app: one typed `app` property instead of casts at each call."""

from __future__ import annotations

from typing import TypeVar

from textual import getters
from textual.screen import ModalScreen, Screen

from .app import RunbookApp

ResultT = TypeVar("ResultT")


class RunbookScreen(Screen[ResultT]):
    """A full screen of the runbook app."""

    app = getters.app(RunbookApp)


class RunbookModal(ModalScreen[ResultT]):
    """A modal question of the runbook app."""

    app = getters.app(RunbookApp)
