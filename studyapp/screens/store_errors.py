"""Writes through the collection that fail (a read-only or full disk, a database another program
holds locked) become an error notification on screen, and the app keeps running.

Every screen action that writes is decorated with :func:`reports_store_errors`; the experiment
screen, whose writes happen in a worker, calls :func:`notify_store_error` from its worker
handler. Nothing is lost: the store rolls back the failed transaction, and the action stops at
the failing call, so the screen still shows what it showed (a card stays to be rated again).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec

if TYPE_CHECKING:
    from textual.dom import DOMNode

Params = ParamSpec("Params")

STORE_ERROR_TIMEOUT_S = 12.0
"""How long a store error stays on screen, in seconds: long enough to read a path in it."""


def notify_store_error(node: DOMNode, error: Exception, title: str, hint: str = "") -> None:
    """Show ``error`` (a store error's message names the file and what to do) as an error
    notification titled ``title``, followed by ``hint`` on a line of its own when given."""
    node.notify(f"{error}\n{hint}".rstrip(), title=title, severity="error",
                timeout=STORE_ERROR_TIMEOUT_S, markup=False)


def reports_store_errors(
    title: str, *, hint: str = "", also: tuple[type[Exception], ...] = (),
) -> Callable[[Callable[Params, None]], Callable[Params, None]]:
    """Decorate a screen action (a method returning ``None``) so that a ``StoreError`` it
    raises, or one of the ``also`` exception types, becomes a notification (see
    :func:`notify_store_error`) instead of ending the app.
    """

    def decorate(action: Callable[Params, None]) -> Callable[Params, None]:
        @functools.wraps(action)
        def reported(*args: Params.args, **kwargs: Params.kwargs) -> None:
            # Imported with the collection, which is open before any action that writes runs.
            from studyapp.collection import StoreError

            try:
                action(*args, **kwargs)
            except (StoreError, *also) as error:
                notify_store_error(args[0], error, title, hint)  # type: ignore[arg-type]

        return reported

    return decorate
