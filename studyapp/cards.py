"""Markdown card files -> :class:`Card` objects, with problems reported as ``file:line: message``.

A card is one markdown file: YAML front matter between two ``---`` lines, then a
``## Question`` section and a ``## Answer`` section::

    ---
    id: rnn-architectures            # stable slug: the card's identity in the review database
    title: Applications of seq2seq, seq2vec and vec2seq RNNs
    tags: [rnn, architectures]
    sources:
      - "Géron, Hands-On Machine Learning (3rd ed.), ch. 15, exercise 1"
    experiment:                      # optional: a script in experiments/ and its arguments
      script: q1_architectures.py
      args: ["--epochs", "3"]
    ---

    ## Question
    ...
    ## Answer
    ...

The front matter is loaded with ``python-frontmatter``'s YAML handler (PyYAML's safe loader) and
the section headings are found with ``markdown-it-py``, so a ``## Question`` line inside a fenced
code block or a ``---`` rule in the body are read as markdown, not as structure. Everything after
``## Answer`` belongs to the answer, sub-headings included.

This module reads files and nothing else: no database, no Textual, no TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from frontmatter.default_handlers import YAMLHandler
from markdown_it import MarkdownIt

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
REQUIRED_KEYS = ("id", "title", "tags", "sources")
OPTIONAL_KEYS = ("experiment",)
EXPERIMENT_KEYS = ("script", "args")
QUESTION, ANSWER = "Question", "Answer"

_YAML = YAMLHandler()
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it
# Only the block structure is needed to find the sections: skipping inline parsing halves the time.
_MARKDOWN = MarkdownIt("commonmark").disable("inline")


class UnsafeScriptError(ValueError):
    """A card's experiment script is absolute, climbs out with ``..``, escapes the experiments
    folder through a symlink, or does not exist."""


@dataclass(frozen=True)
class Experiment:
    """The script behind a card: ``experiments/<script> <args...>``."""

    script: str
    """File name relative to ``experiments/``, e.g. ``"q1_architectures.py"``."""
    args: tuple[str, ...] = ()
    """Extra command-line arguments, passed as an argv (never through a shell)."""

    def resolve(self, experiments_dir: Path) -> Path:
        """Return the script's absolute, symlink-free path inside ``experiments_dir``.

        Raises :class:`UnsafeScriptError` when ``script`` is absolute, contains ``..``, resolves
        outside ``experiments_dir`` (e.g. through a symlink), or is not an existing file.
        """
        reason = _unsafe_script_reason(self.script)
        if reason:
            raise UnsafeScriptError(reason)
        base = Path(experiments_dir).resolve()
        target = (base / self.script).resolve()
        if not target.is_relative_to(base):
            raise UnsafeScriptError(
                f"experiment script {self.script!r} resolves to {target}, outside {base}; "
                "keep scripts (and what their symlinks point to) inside the experiments folder")
        if not target.is_file():
            raise UnsafeScriptError(
                f"experiment script {self.script!r} is not an existing file in {base}; "
                "fix the file name or add the script")
        return target


def _unsafe_script_reason(script: str) -> str | None:
    """Why ``script`` can never name a file inside the experiments folder, or ``None``."""
    path = Path(script)
    if not script.strip():
        return "experiment script is empty; give a file name such as 'q1_architectures.py'"
    if path.is_absolute():
        return (f"experiment script {script!r} is an absolute path; "
                "give a file name relative to the experiments folder")
    if ".." in path.parts:
        return (f"experiment script {script!r} contains '..'; "
                "give a file name inside the experiments folder")
    return None


@dataclass(frozen=True)
class Card:
    """One flashcard read from a markdown file."""

    id: str
    """Stable slug from the front matter, e.g. ``"rnn-architectures"``; never derived from text."""
    title: str
    tags: tuple[str, ...]
    sources: tuple[str, ...]
    question: str
    """Markdown of the ``## Question`` section, heading excluded, stripped."""
    answer: str
    """Markdown of the ``## Answer`` section, heading excluded, stripped."""
    path: Path
    experiment: Experiment | None
    content_hash: str
    """SHA-256 hex digest of the normalised file (see :func:`content_hash`)."""


@dataclass(frozen=True)
class CardProblem:
    """Something wrong with a card file: where, and what to fix."""

    path: Path
    line: int | None
    """1-based line in the file, ``None`` when no line applies (e.g. an unreadable file)."""
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else f"{self.path}"
        return f"{where}: {self.message}"


class EmptyDeckError(ValueError):
    """A deck folder that holds no card files: most likely the wrong folder."""


class CardFileError(ValueError):
    """A card file that cannot become a :class:`Card`; ``problems`` says why, line by line."""

    def __init__(self, problems: list[CardProblem]):
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


@dataclass(frozen=True)
class Deck:
    """The cards of one folder, in file-name order, and the problems of the files left out."""

    directory: Path
    cards: tuple[Card, ...]
    problems: tuple[CardProblem, ...]

    def get(self, card_id: str) -> Card | None:
        """The card with this id, or ``None``."""
        return self._by_id.get(card_id)

    @cached_property
    def _by_id(self) -> dict[str, Card]:
        return {card.id: card for card in self.cards}

    @property
    def ids(self) -> list[str]:
        """Card ids in deck order."""
        return [card.id for card in self.cards]


def content_hash(text: str) -> str:
    """SHA-256 hex digest of a card's text after normalising what an editor may change silently.

    A leading BOM, CRLF/CR line endings, trailing spaces on each line and blank lines at either
    end do not count, so re-saving a file with another editor keeps its hash; any edit to a
    word, front matter included, changes it.
    """
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    normalised = "\n".join(line.rstrip() for line in lines).strip("\n")
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def parse_card(path: Path, experiments_dir: Path | None = None) -> Card:
    """Read one card file.

    When ``experiments_dir`` is given, the card's experiment script must resolve inside it.
    Raises :class:`CardFileError` listing every problem found (unreadable or non-UTF-8 file,
    missing or invalid front matter, bad or unknown keys, missing, empty or misordered
    sections); never any other exception for bad content.
    """
    card, _ = _read_card(Path(path), experiments_dir)
    return card


class ParseCache:
    """Cards already parsed, keyed by the SHA-256 of their file's bytes, optionally kept in a
    JSON file between runs.

    Parsing costs about 0.2-0.5 ms a card (YAML and markdown in pure Python), which is seconds
    for a deck of 10,000; reading and hashing the files is ten times cheaper. Only valid cards
    are cached, so every problem is always found by a full parse. The file is a cache: when it
    is missing, damaged or cannot be written, cards are simply parsed again.
    """

    VERSION = 2
    """Bumped whenever validation gets stricter, so that no card cached before is let through."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._entries: dict[str, dict[str, Any]] = {}
        self._used: set[str] = set()
        self._dirty = False
        if path is not None:
            try:
                stored = json.loads(path.read_text(encoding="utf-8"))
                if stored.get("version") == self.VERSION:
                    self._entries = stored["cards"]
            except (OSError, ValueError, KeyError, AttributeError):
                pass

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached fields for file bytes with this digest, or ``None``."""
        entry = self._entries.get(key)
        if entry is not None:
            self._used.add(key)
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        self._entries[key] = entry
        self._used.add(key)
        self._dirty = True

    def save(self) -> None:
        """Write the entries used since the last save (atomically), if anything changed."""
        if self.path is not None and (self._dirty or len(self._used) < len(self._entries)):
            self._entries = {key: self._entries[key] for key in self._used}
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                scratch = self.path.with_suffix(f".{os.getpid()}.tmp")
                scratch.write_text(json.dumps({"version": self.VERSION, "cards": self._entries}),
                                   encoding="utf-8")
                os.replace(scratch, self.path)
            except OSError:
                pass  # a cache that cannot be written only costs the next start some time
        self._used = set()
        self._dirty = False


def load_deck(directory: Path, experiments_dir: Path | None = None,
              cache: ParseCache | None = None, *, require_cards: bool = False) -> Deck:
    """Read every ``*.md`` card in ``directory`` (not recursive) in file-name order.

    Hidden files and ``README.md`` are skipped. A broken file becomes problems and the other
    cards still load. When two files share an id the first (in file-name order) is kept and
    the second becomes a problem naming both files. With a :class:`ParseCache`, files whose
    bytes were parsed before are not parsed again. Raises ``FileNotFoundError`` when
    ``directory`` does not exist, ``NotADirectoryError`` when it is a file, and, with
    ``require_cards``, :class:`EmptyDeckError` when it holds no card file at all (a folder the
    user just emptied is a deck; one opened with nothing in it is most likely the wrong one).
    """
    directory = Path(directory)
    if not directory.exists():
        raise FileNotFoundError(f"card folder {directory} does not exist; "
                                "create it or point --content / STUDYAPP_CONTENT at your deck")
    if not directory.is_dir():
        raise NotADirectoryError(f"card folder {directory} is a file, not a folder")
    paths = sorted(
        (path for path in directory.iterdir()
         if path.suffix.lower() == ".md" and not path.name.startswith(".")
         and path.name.lower() != "readme.md"),
        key=lambda path: path.name,
    )
    if require_cards and not paths:
        raise EmptyDeckError(f"card folder {directory} has no card files (*.md); point --content "
                             "/ STUDYAPP_CONTENT at your deck, or add a card (see 'Writing "
                             "cards' in the README)")
    cards: dict[str, Card] = {}
    problems: list[CardProblem] = []
    for path in paths:
        try:
            card, id_line = _read_card(path, experiments_dir, cache)
        except CardFileError as error:
            problems.extend(error.problems)
            continue
        if card.id in cards:
            problems.append(CardProblem(
                path, id_line,
                f"id {card.id!r} is already used by {cards[card.id].path}; this file is "
                "skipped until you give it a different id"))
            continue
        cards[card.id] = card
    if cache is not None:
        cache.save()
    return Deck(directory, tuple(cards.values()), tuple(problems))


def _read_card(path: Path, experiments_dir: Path | None,
               cache: ParseCache | None = None) -> tuple[Card, int]:
    """Parse ``path`` into a card and the line of its ``id`` key, or raise CardFileError."""
    if path.is_dir():
        raise CardFileError([CardProblem(path, None, "is a folder, not a card file; "
                                         "rename it so its name does not end in .md")])
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CardFileError([CardProblem(path, None, f"cannot be read ({error.strerror}); "
                                         "check that it exists and is readable")]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise CardFileError([CardProblem(
            path, line, f"is not valid UTF-8 (byte 0x{data[error.start]:02x}); "
            "re-save the file with UTF-8 encoding")]) from None
    key = hashlib.sha256(data).hexdigest()
    cached = cache.get(key) if cache is not None else None
    if cached is not None:
        card = _cached_card(cached, path, experiments_dir)
        if card is not None:
            return card, cached["id_line"]
    if not text.strip():
        raise CardFileError([CardProblem(
            path, None, "is empty; a card needs front matter (id, title, tags, sources) "
            "and '## Question' and '## Answer' sections")])

    lines = text.replace("\r\n", "\n").replace("\r", "\n").removesuffix("\n").split("\n")
    problems: list[CardProblem] = []
    meta, body_start = _front_matter(path, lines, problems)
    fields = _check_fields(path, meta, lines[1:body_start - 2], experiments_dir, problems)
    sections = _sections(path, lines[body_start - 1:], body_start, problems)
    if problems or fields is None or sections is None:
        raise CardFileError(problems)
    card = Card(**fields, question=sections[0], answer=sections[1], path=path,
                content_hash=content_hash(text))
    id_line = _key_line(lines[1:body_start - 2], "id") or 1
    if cache is not None:
        experiment = card.experiment
        cache.put(key, {
            "id": card.id, "title": card.title, "tags": card.tags, "sources": card.sources,
            "question": card.question, "answer": card.answer, "content_hash": card.content_hash,
            "experiment": None if experiment is None else [experiment.script, experiment.args],
            "id_line": id_line})
    return card, id_line


def _cached_card(entry: dict[str, Any], path: Path, experiments_dir: Path | None) -> Card | None:
    """The card for a cache entry, or ``None`` when its experiment no longer resolves (a full
    parse then reports the problem with its line)."""
    experiment = None
    if entry["experiment"] is not None:
        script, args = entry["experiment"]
        experiment = Experiment(script, tuple(args))
        if experiments_dir is not None:
            try:
                experiment.resolve(experiments_dir)
            except UnsafeScriptError:
                return None
    return Card(id=entry["id"], title=entry["title"], tags=tuple(entry["tags"]),
                sources=tuple(entry["sources"]), question=entry["question"],
                answer=entry["answer"], path=path, experiment=experiment,
                content_hash=entry["content_hash"])


def _yaml_error_location(error: yaml.YAMLError) -> tuple[int, str]:
    """The card-file line (1-based, after the opening ``---``) to report a YAML error at, and
    its reason.

    PyYAML marks where it noticed the problem, which for a bracket or quote left open is a later
    line; its context mark says where that bracket or quote opened. That line is the one to
    fix, so it is reported, and the message names the other one.
    """
    def file_line(mark: yaml.Mark) -> int:
        return mark.line + 2  # + 1 for 1-based, + 1 for the opening '---'

    problem = getattr(error, "problem_mark", None)
    context = getattr(error, "context_mark", None)
    reason = getattr(error, "problem", None) or str(error)
    if problem is None:
        return 2, reason
    opened = getattr(error, "context", None) or ""
    if context is not None and context.line != problem.line and (
            "flow" in opened or "quoted" in opened):  # an unclosed [...], {...} or "..."
        return file_line(context), f"{opened}: {reason} on line {file_line(problem)}"
    return file_line(problem), reason


def _front_matter(path: Path, lines: list[str],
                  problems: list[CardProblem]) -> tuple[Any, int]:
    """Load the YAML between the opening and closing ``---`` lines.

    Returns the loaded value (``None`` when absent or invalid) and the 1-based line where the
    body starts (1 when there is no front matter).
    """
    if lines[0].rstrip() != "---":
        problems.append(CardProblem(path, 1, "has no front matter; start the file with a '---' "
                                    "line, then id, title, tags and sources, then '---'"))
        return None, 1
    closing = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if closing is None:
        problems.append(CardProblem(path, 1, "front matter opened on line 1 is never closed; "
                                    "add a '---' line after the last key"))
        return None, len(lines) + 1
    try:
        meta = _YAML.load("\n".join(lines[1:closing]), Loader=_YAML_LOADER)
    except yaml.YAMLError as error:
        line, reason = _yaml_error_location(error)
        problems.append(CardProblem(path, line, f"invalid YAML in the front matter ({reason}); "
                                    "fix the syntax, quoting values that contain ': ' or '#'"))
        return None, closing + 2
    if not isinstance(meta, dict):
        kind = "empty" if meta is None else f"a {type(meta).__name__}, not a mapping"
        problems.append(CardProblem(path, 2, f"front matter is {kind}; write 'key: value' lines "
                                    "for id, title, tags and sources"))
        return None, closing + 2
    return meta, closing + 2


def _key_line(front_lines: list[str], key: str, indented: bool = False) -> int | None:
    """1-based file line of ``key:`` in the front matter (which starts on line 2), or ``None``.

    ``indented`` looks for a nested key (e.g. ``script:`` under ``experiment:``).
    """
    pattern = re.compile((r"\s+" if indented else "") + re.escape(key) + r"\s*:")
    return next((i + 2 for i, line in enumerate(front_lines) if pattern.match(line)), None)


def _string_list(value: Any) -> tuple[str, ...] | None:
    """``value`` as a tuple of non-blank strings, or ``None`` if it is anything else."""
    if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(value)
    return None


def _check_fields(path: Path, meta: Any, front_lines: list[str], experiments_dir: Path | None,
                  problems: list[CardProblem]) -> dict[str, Any] | None:
    """Validate the front matter keys; return Card fields, or ``None`` after adding problems."""
    if not isinstance(meta, dict):
        return None
    count = len(problems)

    def problem(key: str, message: str, indented: bool = False) -> None:
        # A nested key written in flow style ({script: x.py}) is found on its parent's line.
        line = (_key_line(front_lines, key, indented)
                or (indented and _key_line(front_lines, "experiment")) or 1)
        problems.append(CardProblem(path, line, message))

    for key in meta:
        if key not in REQUIRED_KEYS + OPTIONAL_KEYS:
            problem(str(key), f"unknown front matter key {key!r}; the keys are "
                    f"{', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)} (check the spelling)")
    for key in REQUIRED_KEYS:
        if key not in meta:
            article = "an" if key[0] in "aeiou" else "a"
            problems.append(CardProblem(path, 1, f"front matter lacks {key!r}; add {article} "
                                        f"'{key}:' line"))
    card_id, title = meta.get("id"), meta.get("title")
    if "id" in meta and not (isinstance(card_id, str) and SLUG.fullmatch(card_id)):
        problem("id", f"id {card_id!r} is not a slug; use lowercase letters, digits and "
                "hyphens, e.g. 'rnn-architectures'")
    if "title" in meta and not (isinstance(title, str) and title.strip()):
        problem("title", "title must be a non-empty string")
    tags, sources = _string_list(meta.get("tags")), _string_list(meta.get("sources"))
    if "tags" in meta and tags is None:
        problem("tags", "tags must be a list of strings, e.g. 'tags: [rnn, lstm]'")
    if "sources" in meta and sources is None:
        problem("sources", "sources must be a list of strings, one '- \"...\"' line each")
    elif "sources" in meta and not sources:
        problem("sources", "sources is empty; name at least one, one '- \"...\"' line each, "
                "e.g. the book and chapter the card comes from")
    experiment = _experiment(meta.get("experiment"), experiments_dir, problem) \
        if "experiment" in meta else None
    if len(problems) > count:
        return None
    return {"id": card_id, "title": title.strip(), "tags": tags, "sources": sources,
            "experiment": experiment}


def _experiment(value: Any, experiments_dir: Path | None,
                problem: Callable[..., None]) -> Experiment | None:
    """Validate the ``experiment`` mapping, reporting through ``problem(key, message)``."""
    if not isinstance(value, dict):
        problem("experiment", "experiment must be a mapping with 'script:' and optional "
                "'args:' lines, indented under 'experiment:'")
        return None
    for key in value:
        if key not in EXPERIMENT_KEYS:
            problem(str(key), f"unknown experiment key {key!r}; the keys are script and args",
                    indented=True)
    script = value.get("script")
    if not isinstance(script, str):
        problem("experiment", "experiment needs 'script: <file name in experiments/>'")
        return None
    args = _string_list(value.get("args", []))
    if args is None:
        problem("args", "experiment args must be a list of strings; quote numbers, e.g. "
                "args: [\"--epochs\", \"3\"]", indented=True)
        return None
    experiment = Experiment(script, args)
    try:
        if experiments_dir is not None:
            experiment.resolve(experiments_dir)
        elif reason := _unsafe_script_reason(script):
            raise UnsafeScriptError(reason)
    except UnsafeScriptError as error:
        problem("script", str(error), indented=True)
        return None
    return experiment


def _sections(path: Path, body: list[str], body_start: int,
              problems: list[CardProblem]) -> tuple[str, str] | None:
    """Find the ``## Question`` and ``## Answer`` sections of the body.

    Only top-level level-2 headings count (ATX ``## X`` or setext ``X`` over ``---``), so a
    heading-like line inside a code block, list or quote does not. Returns ``(question,
    answer)`` markdown, or ``None`` after adding problems.
    """
    count = len(problems)
    tokens = _MARKDOWN.parse("\n".join(body))
    headings: dict[str, tuple[int, int]] = {}  # name -> (first body line, line after heading)
    for index, token in enumerate(tokens):
        if token.type != "heading_open" or token.tag != "h2" or token.level != 0:
            continue
        name = tokens[index + 1].content.strip()
        if name not in (QUESTION, ANSWER):
            continue
        start, end = token.map
        if name in headings:
            problems.append(CardProblem(path, body_start + start, f"second '## {name}' heading; "
                                        "a card has one question and one answer"))
        else:
            headings[name] = (start, end)
    end_line = body_start + len(body) - 1
    for name in (QUESTION, ANSWER):
        if name not in headings:
            problems.append(CardProblem(path, end_line, f"no '## {name}' section; add a "
                                        f"'## {name}' heading followed by its text"))
    if len(problems) > count:
        return None
    (q_start, q_end), (a_start, a_end) = headings[QUESTION], headings[ANSWER]
    if a_start < q_start:
        problems.append(CardProblem(path, body_start + a_start, "'## Answer' comes before "
                                    "'## Question'; put the question first"))
        return None
    preamble = [i for i, line in enumerate(body[:q_start]) if line.strip()]
    if preamble:
        problems.append(CardProblem(path, body_start + preamble[0], "text before '## Question' "
                                    "belongs to no section; move it under a heading or delete it"))
    question = "\n".join(body[q_end:a_start]).strip()
    answer = "\n".join(body[a_end:]).strip()
    for name, start, text in ((QUESTION, q_start, question), (ANSWER, a_start, answer)):
        if not text:
            problems.append(CardProblem(path, body_start + start, f"the '## {name}' section is "
                                        "empty; write its text under the heading"))
    return None if len(problems) > count else (question, answer)
