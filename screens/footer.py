"""The key footer, laid out again only when the keys it shows change."""

from __future__ import annotations

from typing import Any

from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    """Textual's footer rebuilds all its keys whenever focus moves between widgets, even
    when the keys it shows stay the same: on the Run screen that was a dozen rebuilds of ~30
    keys while a run started, most of the screen's start-up. This one rebuilds only when
    what it would show differs from what it shows."""

    _shown: tuple[Any, ...] | None = None

    def _signature(self) -> tuple[Any, ...]:
        keys = tuple((b.key, b.action, b.description, b.group, b.key_display, enabled, tip)
                     for (_, b, enabled, tip) in self.screen.active_bindings.values() if b.show)
        return (self._bindings_ready, self.show_command_palette, self.compact, keys)

    async def recompose(self) -> None:
        if not self.is_attached:
            return
        shown = self._signature()
        if shown == self._shown:
            return
        self._shown = shown
        await super().recompose()
