"""Textual's ``Footer``, rebuilt only when the keys it shows change.

``Footer`` rebuilds all its keys (about ten widgets mounted, styled and laid out, 5-10 ms on a
small CPU) after every focus move and every ``refresh_bindings``; a focus move alone signals
twice. Between two cards the review screen moves focus twice, so the plain footer was rebuilt
four times per card, mostly to show the same keys again.
"""

from __future__ import annotations

from collections.abc import Hashable

from textual.widgets import Footer


class KeyFooter(Footer):
    """A ``Footer`` that compares what it would show with what it shows before rebuilding."""

    def __init__(self, *, compact: bool = False, show_command_palette: bool = True,
                 id: str | None = None) -> None:
        super().__init__(compact=compact, show_command_palette=show_command_palette, id=id)
        self._shown: Hashable | None = None

    def shown_keys(self) -> tuple[Hashable, ...]:
        """Everything the footer's keys are built from: each shown binding's key, how the key
        is displayed, its action, description, tooltip, group and whether it is enabled."""
        return tuple(
            (key, self.app.get_key_display(binding), binding.action, binding.description,
             binding.tooltip, tooltip, binding.group, enabled)
            for key, (_node, binding, enabled, tooltip) in self.screen.active_bindings.items()
            if binding.show or key == self.app.COMMAND_PALETTE_BINDING)

    async def recompose(self) -> None:
        if not self.is_attached:
            return
        shown = (self._bindings_ready, self.show_command_palette, self.shown_keys())
        if shown != self._shown:
            self._shown = shown
            await super().recompose()
