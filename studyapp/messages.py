"""Messages the app sends to its screens; small dataclasses, as in toolong's ``messages.py``."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class CollectionChanged(Message):
    """The collection was opened (or could not be), or the deck was reloaded from disk.

    Screens redraw what they show from the collection. Repeats of one reason merge.
    """

    reason: str
    """``"opened"``, ``"error"`` (it could not be opened) or ``"deck"`` (files changed)."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, CollectionChanged) and message.reason == self.reason
