"""The Textual app: a calm daily study session over the deck and the review database.

The first frame shows the deck screen before the database is touched: opening the
:class:`~studyapp.collection.Collection` imports sqlite-utils (and through it pandas, about
0.3 s), so it happens in a thread worker after the first refresh. Every screen reads and writes
through the collection only; none runs SQL.

Besides the screens, the app owns three small jobs: a lock file beside the database that tells a
second instance one is already open (``fcntl.flock``, advisory: the database itself is safe for
concurrent writers), polling the content folder's file times once a second to reload cards
edited outside the app, and launching ``$VISUAL``/``$EDITOR`` on a card file.
"""

from __future__ import annotations

import fcntl
import gc
import os
import shlex
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.worker import Worker, WorkerState

from studyapp.messages import CollectionChanged
from studyapp.screens.deck import DeckScreen

if TYPE_CHECKING:
    from studyapp.collection import Collection, Session

CONTENT_POLL_S = 1.0
"""How often the content folder's file times are checked for edits, in seconds."""

EditorLauncher = Callable[[Path], None]
"""Opens a card file for editing and returns when the editor exits."""


class EditorNotConfigured(RuntimeError):
    """Neither ``$VISUAL`` nor ``$EDITOR`` is set."""


class InstanceLock:
    """An advisory lock file beside the database (``<db>.lock``), taken without blocking.

    ``acquired`` is false when another process holds it, i.e. another studyapp has the same
    database open. The lock is released when the process exits or :meth:`release` is called.
    """

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.acquired = False
        else:
            self.acquired = True

    def release(self) -> None:
        """Drop the lock (if held) and close the file; safe to call twice."""
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor releases a flock
            self._fd = -1


def content_signature(directory: Path) -> int:
    """A number that changes when any markdown file in ``directory`` is edited, added or
    removed: from each file's ``(name, mtime_ns, size)``, one ``stat`` each.

    The files are combined by a sum of hashes, so the order of the listing does not matter and
    nothing is kept per file (a tuple per file, 10,000 of them every second, kept Python's
    garbage collector busy). Valid within one process. An unreadable folder gives 0.
    """
    try:
        entries = os.scandir(directory)
    except OSError:
        return 0
    signature = 0
    with entries:
        for entry in entries:
            if entry.name.endswith(".md"):
                try:
                    stat = entry.stat()
                except OSError:
                    continue
                signature += hash((entry.name, stat.st_mtime_ns, stat.st_size))
    return signature


class StudyApp(App[None]):
    """Review the deck in ``content_dir`` with the state in ``db_path``.

    ``clock`` returns an aware UTC datetime (tests pass a fixed one); ``editor_launcher(path)``
    opens a card file and returns when editing is done (default: ``$VISUAL`` or ``$EDITOR`` with
    the app suspended; raises :class:`EditorNotConfigured` when neither is set).
    """

    CSS_PATH = Path(__file__).with_name("studyapp.tcss")  # absolute: subclasses live elsewhere
    TITLE = "studyapp"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark,f1", "help", "Help", id="help"),
        Binding("ctrl+t", "toggle_theme", "Light/dark", id="theme", show=False),
        Binding("ctrl+q", "quit", "Quit", id="quit", show=False),
    ]

    collection: reactive[Collection | None] = reactive(None, init=False)
    """The opened collection; ``None`` until the worker has opened it."""
    error: reactive[str | None] = reactive(None, init=False)
    """Why the collection could not be opened, shown instead of the deck."""

    def __init__(self, content_dir: Path, db_path: Path, *,
                 clock: Callable[[], datetime] | None = None,
                 editor_launcher: EditorLauncher | None = None) -> None:
        super().__init__()
        self.content_dir = Path(content_dir)
        self.db_path = Path(db_path)
        self.clock = clock
        self.editor_launcher = editor_launcher or self.launch_editor
        self.lock: InstanceLock | None = None
        self.session: Session | None = None
        """This app session's ratings, buries and suspends: what ``u`` undoes (set with the
        collection)."""
        self._content_signature = 0
        self._gc_paused = False
        self._gc_frozen = False

    def get_default_screen(self) -> DeckScreen:
        return DeckScreen()

    def on_mount(self) -> None:
        self.lock = InstanceLock(self.db_path)
        if not self.lock.acquired:
            self.notify(f"Another studyapp has {self.db_path.name} open. Both can study safely; "
                        "reviews from the other one show up here when the deck refreshes.",
                        title="Already open", severity="warning", timeout=12)
        if gc.isenabled():
            gc.disable()  # while the collection and the deck table are built: see settle_heap
            self._gc_paused = True
        self.call_after_refresh(self.open_collection)

    def on_unmount(self) -> None:
        if self.collection is not None:
            self.collection.close()
        if self.lock is not None:
            self.lock.release()
        if self._gc_paused or self._gc_frozen:
            gc.unfreeze()  # what this app left alive can be collected again
            gc.enable()

    def settle_heap(self) -> None:
        """Move every object alive now to the garbage collector's permanent generation (see
        ``gc.freeze``) and turn the collector back on.

        A deck of 10,000 cards keeps a few hundred thousand objects alive (cards, rows, the deck
        table's cells). The collector is off while they are built (its full passes over them
        cost 0.2 s of the start), and afterwards leaves them out of its passes: each full pass
        over them paused the app for 130-220 ms every few ratings. Objects freed later are
        still freed at once by reference counting; only cycles among them wait for unmount.
        """
        if self._gc_paused:
            gc.freeze()
            gc.enable()
            self._gc_paused, self._gc_frozen = False, True

    @work(thread=True, exclusive=True, group="open", exit_on_error=False)
    def open_collection(self) -> Collection:
        """Import and open the collection off the event loop (sqlite-utils imports pandas)."""
        from studyapp.collection import Collection, Session

        self._content_signature = content_signature(self.content_dir)
        collection = Collection.open(self.content_dir, self.db_path, clock=self.clock)
        self.session = Session(collection)
        return collection

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "open":
            return
        if event.state == WorkerState.SUCCESS:
            self.collection = event.worker.result
            self.set_interval(CONTENT_POLL_S, self.poll_content, name="content poll")
            self.broadcast("opened")
        elif event.state == WorkerState.ERROR:
            self.error = str(event.worker.error)
            self.broadcast("error")
        else:
            return
        # Queues are first in, first out: this runs once the deck screen has drawn the deck.
        self.screen_stack[0].call_later(self.settle_heap)

    def broadcast(self, reason: str) -> None:
        """Tell every screen on the stack that the collection changed (see CollectionChanged)."""
        for screen in self.screen_stack:
            screen.post_message(CollectionChanged(reason))

    @work(thread=True, exclusive=True, group="content poll", exit_on_error=False)
    def poll_content(self) -> None:
        """Reload the deck when a card file changed on disk.

        One ``stat`` per file, in a thread: 10,000 files take 30-70 ms, which on the event loop
        would hold up whatever key is pressed meanwhile. The reload itself runs on the loop.
        """
        if content_signature(self.content_dir) != self._content_signature:
            self.call_from_thread(self.reload_deck)

    def reload_deck(self) -> None:
        """Read the card files again and tell the screens; reviews and the session are kept."""
        if self.collection is None:
            return
        self._content_signature = content_signature(self.content_dir)
        try:
            self.collection.reload_deck()
        except OSError as error:
            self.notify(f"Cannot read {self.content_dir}: {error}", severity="error")
            return
        self.broadcast("deck")

    def launch_editor(self, path: Path) -> None:
        """Open ``path`` in ``$VISUAL`` or ``$EDITOR`` with the app suspended.

        Raises :class:`EditorNotConfigured` when neither is set and ``OSError`` when the editor
        cannot be started.
        """
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
        if not editor:
            raise EditorNotConfigured(
                "Set $VISUAL or $EDITOR to edit cards, e.g. export EDITOR=nano")
        with self.suspend():
            subprocess.run([*shlex.split(editor), str(path)], check=False)

    def action_help(self) -> None:
        from studyapp.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"
