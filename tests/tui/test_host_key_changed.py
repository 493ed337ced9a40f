"""A changed host key stops the run and shows both fingerprints; it cannot be accepted."""

from __future__ import annotations

from textual.widgets import Button

from runbook.events import HostKeyRejected
from runbook.screens import create_app
from runbook.screens.modals import HostKeyModal

from .conftest import Recorded


async def test_changed_key_modal_has_no_accept(recorded: Recorded) -> None:
    app = create_app(data_dir=recorded.data, inventory_path=recorded.inventory,
                     open_run=recorded.run_id)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        screen.feed(HostKeyRejected(recorded.run_id, "fw1", "127.0.0.1", 2222,  # type: ignore
                                    "SHA256:NEWNEWNEW", ["SHA256:OLDOLDOLD"]))
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, HostKeyModal)
        text = " ".join(str(w.render()) for w in modal.query("Static, Label"))
        assert "SHA256:NEWNEWNEW" in text and "SHA256:OLDOLDOLD" in text
        labels = [str(b.label).lower() for b in modal.query(Button)]
        assert not any("accept" in label or "trust" in label for label in labels)
