"""The four rating buttons, each with the interval it would give ("Good 3d")."""

from __future__ import annotations

from collections.abc import Mapping

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button

RATING_LABELS = {1: "Again", 2: "Hard", 3: "Good", 4: "Easy"}
"""FSRS ratings (``fsrs.Rating`` values) and their names, as Anki shows them."""


class RatingBar(Horizontal):
    """Buttons for the ratings 1-4; a click runs the screen's ``rate(n)`` action.

    The buttons never take focus, so Enter pressed twice after revealing cannot rate by
    accident: ratings come from the keys 1-4 or the mouse.
    """

    DEFAULT_CSS = """
    RatingBar { height: auto; }
    RatingBar Button { width: 1fr; margin: 0 1; }
    """

    def compose(self) -> ComposeResult:
        for value, label in RATING_LABELS.items():
            button = Button(f"{value} {label}", id=f"rate-{value}", action=f"screen.rate({value})",
                            compact=True, classes=label.lower())
            button.can_focus = False
            yield button

    def show_intervals(self, intervals: Mapping[int, str]) -> None:
        """Label each button with its rating's interval, e.g. ``{1: "10m", 3: "3d"}``."""
        for value, label in RATING_LABELS.items():
            self.query_one(f"#rate-{value}", Button).label = (
                f"{value} {label} {intervals.get(value, '')}".rstrip())
