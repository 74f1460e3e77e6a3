"""Markdown drawn by Rich inside a ``Static``: a card's question or answer.

Textual's ``Markdown`` widget builds one widget per block; updating it with a 25-line card
takes 150-300 ms on a small CPU, while Rich's ``Markdown`` renderable in a ``Static`` redraws in
about 10-20 ms (measured with ``benchmarks/rating_latency.py``), which keeps the next card
instant after a rating.
"""

from __future__ import annotations

from rich.markdown import Markdown
from textual.widgets import Static

DARK_CODE_THEME = "monokai"
LIGHT_CODE_THEME = "friendly"


class MarkdownView(Static):
    """Show markdown text; code blocks follow the app's dark or light theme."""

    DEFAULT_CSS = """
    MarkdownView { height: auto; }
    """

    def __init__(self, markdown: str = "", *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.markdown = markdown

    def on_mount(self) -> None:
        self.watch(self.app, "theme", lambda _theme: self.show(self.markdown))

    def show(self, markdown: str) -> None:
        """Replace the text with ``markdown``."""
        self.markdown = markdown
        dark = self.app.current_theme.dark if self.is_mounted else True
        self.update(Markdown(markdown, code_theme=DARK_CODE_THEME if dark else LIGHT_CODE_THEME,
                             hyperlinks=False))
