"""Tests for studyapp.cards: real markdown files in tmp_path, and the real deck in content/."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studyapp.cards import (
    Card,
    CardFileError,
    CardProblem,
    EmptyDeckError,
    Experiment,
    ParseCache,
    UnsafeScriptError,
    load_deck,
    parse_card,
)
from support import CONTENT, EXPERIMENTS

DECK_IDS = [
    "rnn-architectures", "rnn-tensor-shapes", "return-sequences", "seven-day-forecast",
    "rnn-training-difficulties", "lstm-cell", "conv1d-in-rnns", "video-classification",
    "sketchrnn-classifier",
]

FRONT = """\
---
id: {id}
title: A card about {id}
tags: [rnn, test]
sources:
  - "Géron, ch. 15"
---
"""

BODY = """
## Question

What does an RNN take as input?

## Answer

A 3-D tensor `[batch, time steps, features]`.
"""


def card_text(card_id: str = "some-card", body: str = BODY, front: str | None = None) -> str:
    """A card's text: ``front`` (default: valid front matter for ``card_id``) then ``body``."""
    return (FRONT.format(id=card_id) if front is None else front) + body


def write(path: Path, text: str | bytes) -> Path:
    """Write ``text`` (UTF-8, no newline translation) or raw ``bytes`` to ``path``."""
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def problems_of(path: Path, experiments_dir: Path | None = None) -> list[CardProblem]:
    """The problems ``parse_card`` raises for ``path`` (the test fails if it parses)."""
    with pytest.raises(CardFileError) as caught:
        parse_card(path, experiments_dir)
    assert caught.value.problems, "CardFileError must carry at least one problem"
    return caught.value.problems


# --- the real deck -------------------------------------------------------------------------

def test_real_deck_has_nine_cards_in_order_without_problems():
    deck = load_deck(CONTENT)
    assert [str(p) for p in deck.problems] == []
    assert deck.ids == DECK_IDS
    assert [card.path.name[:3] for card in deck.cards] == [f"0{i}-" for i in range(1, 10)]
    for card in deck.cards:
        assert card.question and card.answer and card.title and card.tags and card.sources
        assert "## Question" not in card.question and "## Answer" not in card.answer


def test_real_deck_questions_come_from_the_book():
    deck = load_deck(CONTENT)
    assert deck.get("lstm-cell").question == "Can you sketch the LSTM cell’s architecture?"
    assert "return_sequences=True" in deck.get("return-sequences").question
    assert deck.get("no-such-card") is None


# --- parsing a good card -------------------------------------------------------------------

def test_parses_fields_and_sections(tmp_path):
    card = parse_card(write(tmp_path / "card.md", card_text("rnn-shapes")))
    assert isinstance(card, Card)
    assert card.id == "rnn-shapes"
    assert card.title == "A card about rnn-shapes"
    assert card.tags == ("rnn", "test")
    assert card.sources == ("Géron, ch. 15",)
    assert card.question == "What does an RNN take as input?"
    assert card.answer == "A 3-D tensor `[batch, time steps, features]`."
    assert card.experiment is None
    assert card.path == tmp_path / "card.md"


def test_crlf_bom_trailing_spaces_and_emoji(tmp_path):
    text = "\ufeff" + card_text(body=BODY.replace("input?", "input? 🤔 ünïcode   "))
    card = parse_card(write(tmp_path / "card.md", text.replace("\n", "\r\n")))
    assert card.id == "some-card"
    assert card.question == "What does an RNN take as input? 🤔 ünïcode"
    assert "\r" not in card.answer


def test_headings_in_code_blocks_and_horizontal_rules_are_content(tmp_path):
    body = """
## Question

Which heading counts?

```markdown
## Answer
not this one
```

## Answer

This one.

---

~~~
## Question
~~~
"""
    card = parse_card(write(tmp_path / "card.md", card_text(body=body)))
    assert card.question.startswith("Which heading counts?")
    assert "not this one" in card.question
    assert card.answer.startswith("This one.")
    assert card.answer.endswith("~~~\n## Question\n~~~")


def test_experiment_is_read(tmp_path):
    text = card_text().replace("sources:", 'experiment:\n  script: q1.py\n'
                               '  args: ["--epochs", "3"]\nsources:')
    card = parse_card(write(tmp_path / "card.md", text))
    assert card.experiment == Experiment("q1.py", ("--epochs", "3"))


# --- content hash ----------------------------------------------------------------------------

def test_content_hash_ignores_resave_but_sees_word_edits(tmp_path):
    original = parse_card(write(tmp_path / "a.md", card_text())).content_hash
    resaved = "\ufeff" + card_text().replace("\n", "   \r\n") + "\r\n\r\n"
    assert parse_card(write(tmp_path / "b.md", resaved)).content_hash == original
    edited = card_text().replace("3-D tensor", "3-D array")
    assert parse_card(write(tmp_path / "c.md", edited)).content_hash != original
    retitled = card_text().replace("title: A card", "title: The card")
    assert parse_card(write(tmp_path / "d.md", retitled)).content_hash != original


# --- bad files: problems, never crashes ------------------------------------------------------

@pytest.mark.parametrize(("text", "line", "words"), [
    ("", None, "empty"),
    ("  \n\n", None, "empty"),
    ("## Question\nq\n## Answer\na\n", 1, "no front matter"),
    ("---\nid: x\n", 1, "never closed"),
    # an unclosed bracket or quote is reported where it opened, naming where YAML noticed
    ("---\nid: x\ntitle: [unclosed\ntags: []\n---\n" + BODY, 3, "on line 4"),
    ('---\nid: x\ntitle: "unclosed\ntags: []\n---\n' + BODY, 3, "quoted scalar"),
    ("---\nid: x\ntags: [a]\n  bad: indent\n---\n" + BODY, 4, "invalid YAML"),
    ("---\n- id\n- title\n---\n" + BODY, 2, "a list, not a mapping"),
    ("---\njust a scalar\n---\n" + BODY, 2, "a str, not a mapping"),
    ("---\n---\n" + BODY, 2, "empty"),
])
def test_broken_front_matter(tmp_path, text, line, words):
    [first, *_] = problems_of(write(tmp_path / "bad.md", text))
    assert first.line == line
    assert words in first.message


@pytest.mark.parametrize(("old", "new", "line", "words"), [
    ("id: some-card", "id: Some Card", 2, "not a slug"),
    ("id: some-card", "id: 42", 2, "not a slug"),
    ("title: A card about some-card", "title: ''", 3, "non-empty string"),
    ("title: A card about some-card", "tittle: A card", 3, "unknown front matter key 'tittle'"),
    ("tags: [rnn, test]", "tags: rnn", 4, "list of strings"),
    ("tags: [rnn, test]", "tags: [rnn, 3]", 4, "list of strings"),
    ('sources:\n  - "Géron, ch. 15"', "sources: Géron", 5, "list of strings"),
    ('sources:\n  - "Géron, ch. 15"', "sources: []", 5, "sources is empty"),
    ("tags: [rnn, test]\n", "", 1, "lacks 'tags'; add a 'tags:' line"),
    ("id: some-card\n", "", 1, "lacks 'id'; add an 'id:' line"),
])
def test_bad_keys_point_at_their_line(tmp_path, old, new, line, words):
    text = card_text()
    assert old in text
    problems = problems_of(write(tmp_path / "bad.md", text.replace(old, new)))
    assert any(p.line == line and words in p.message for p in problems), problems


@pytest.mark.parametrize(("experiment", "words"), [
    ("experiment: q1.py", "must be a mapping"),
    ("experiment:\n  args: [a]", "needs 'script:"),
    ("experiment:\n  script: q1.py\n  args: [--epochs, 3]", "list of strings"),
    ("experiment:\n  script: q1.py\n  scirpt: q2.py", "unknown experiment key 'scirpt'"),
    ("experiment:\n  script: /etc/passwd", "absolute"),
    ("experiment:\n  script: ../outside.py", "'..'"),
])
def test_bad_experiment(tmp_path, experiment, words):
    text = card_text().replace("sources:", experiment + "\nsources:")
    problems = problems_of(write(tmp_path / "bad.md", text))
    assert any(words in p.message and p.line >= 2 for p in problems), problems


@pytest.mark.parametrize(("body", "line", "words"), [
    ("\n## Answer\n\nonly an answer\n", 11, "no '## Question'"),
    ("\n## Question\n\nonly a question\n", 11, "no '## Answer'"),
    ("\n## Question\n\n## Answer\n\nA.\n", 9, "'## Question' section is empty"),
    ("\n## Question\n\nQ?\n\n## Answer\n\n", 13, "'## Answer' section is empty"),
    ("\n## Answer\n\nA.\n\n## Question\n\nQ?\n", 9, "comes before"),
    ("\n## Question\n\nQ?\n\n## Question\n\nQ2\n\n## Answer\n\nA\n", 13, "second"),
    ("\nIntro text\n\n## Question\n\nQ?\n\n## Answer\n\nA\n", 9, "before '## Question'"),
    ("\n```\n## Question\n```\n\n## Answer\n\nA\n", 15, "no '## Question'"),
])
def test_bad_sections_point_at_their_line(tmp_path, body, line, words):
    problems = problems_of(write(tmp_path / "bad.md", card_text(body=body)))
    assert any(p.line == line and words in p.message for p in problems), problems


def test_non_utf8_names_the_file_and_line(tmp_path):
    path = write(tmp_path / "latin1.md", card_text().replace("é", "\xe9").encode("latin-1"))
    [problem] = problems_of(path)
    assert problem.path == path and problem.line == 6
    assert "UTF-8" in problem.message
    assert str(problem).startswith(f"{path}:6: ")


def test_folder_named_md_and_missing_file_are_problems(tmp_path):
    (tmp_path / "folder.md").mkdir()
    assert "folder" in problems_of(tmp_path / "folder.md")[0].message
    assert "cannot be read" in problems_of(tmp_path / "missing.md")[0].message


def test_problem_string_without_line(tmp_path):
    assert str(CardProblem(tmp_path / "x.md", None, "is empty")) == f"{tmp_path / 'x.md'}: is empty"


_CARD_PIECES = st.sampled_from([
    "---", "id: x", "id: [", "title: T", "tags: [a]", "sources: [s]", "experiment:",
    "  script: ../x.py", "  args: [1]", "## Question", "## Answer", "```", "text", "", "- a",
    "\ufeff", "\r", ": :", "tittle: y", "## Question ##", "Question", "--------",
])


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(_CARD_PIECES | st.text(max_size=8), max_size=25), junk=st.binary(max_size=4))
def test_any_content_gives_a_card_or_card_file_error(tmp_path, pieces, junk):
    path = write(tmp_path / "fuzz.md", "\n".join(pieces).encode("utf-8") + junk)
    try:
        card = parse_card(path)
    except CardFileError as error:
        assert all(p.line is None or p.line >= 1 for p in error.problems)
    else:
        assert card.question and card.answer


# --- decks -------------------------------------------------------------------------------

def test_broken_file_does_not_hide_the_others(tmp_path):
    write(tmp_path / "01-good.md", card_text("first"))
    write(tmp_path / "02-broken.md", card_text("second").replace("## Answer", "## Answr"))
    write(tmp_path / "03-good.md", card_text("third"))
    write(tmp_path / "04-binary.md", b"\x00\xff\xfe garbage")
    write(tmp_path / ".hidden.md", "not a card")
    write(tmp_path / "README.md", "# About this deck")
    write(tmp_path / "notes.txt", "not a card")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "05-nested.md", card_text("nested"))
    deck = load_deck(tmp_path)
    assert deck.ids == ["first", "third"]
    assert [p.path.name for p in deck.problems] == ["02-broken.md", "04-binary.md"]


def test_duplicate_ids_keep_the_first_and_name_both_files(tmp_path):
    write(tmp_path / "01-a.md", card_text("same"))
    write(tmp_path / "02-b.md", card_text("same"))
    deck = load_deck(tmp_path)
    assert deck.ids == ["same"] and deck.get("same").path.name == "01-a.md"
    [problem] = deck.problems
    assert problem.path.name == "02-b.md" and problem.line == 2
    assert "01-a.md" in str(problem) and "02-b.md" in str(problem)


def test_missing_deck_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_deck(tmp_path / "nowhere")


def test_a_folder_without_card_files_is_refused_only_when_cards_are_required(tmp_path):
    (tmp_path / "README.md").write_text("# Not a card\n")
    with pytest.raises(EmptyDeckError, match=f"card folder {tmp_path} has no card files"):
        load_deck(tmp_path, require_cards=True)
    assert load_deck(tmp_path).cards == ()  # a deck whose cards were all deleted meanwhile


def test_a_card_cached_by_an_older_studyapp_is_checked_again(tmp_path):
    """A card the previous version cached as valid is parsed again, so stricter checks see it."""
    deck_dir = tmp_path / "deck"
    deck_dir.mkdir()
    path = write(deck_dir / "card.md", card_text().replace('sources:\n  - "Géron, ch. 15"',
                                                           "sources: []"))
    cache_path = tmp_path / "cache.json"
    older = ParseCache(cache_path)
    older.put(hashlib.sha256(path.read_bytes()).hexdigest(), {
        "id": "some-card", "title": "A card", "tags": ["rnn"], "sources": [], "question": "Q?",
        "answer": "A.", "content_hash": "0" * 64, "experiment": None, "id_line": 2})
    older.save()
    stored = json.loads(cache_path.read_text())
    cache_path.write_text(json.dumps({**stored, "version": 1}))  # before empty sources counted

    deck = load_deck(deck_dir, cache=ParseCache(cache_path))
    assert deck.cards == ()
    assert [(p.line, "sources is empty" in p.message) for p in deck.problems] == [(5, True)]


def test_deck_checks_experiments_against_the_folder(tmp_path):
    experiments = tmp_path / "experiments"
    experiments.mkdir()
    write(experiments / "present.py", "print('hi')\n")
    deck_dir = tmp_path / "deck"
    deck_dir.mkdir()
    for name, script in (("01-ok.md", "present.py"), ("02-missing.md", "absent.py")):
        experiment = f"experiment:\n  script: {script}\nsources:"
        text = card_text(name[3:-3]).replace("sources:", experiment)
        write(deck_dir / name, text)
    deck = load_deck(deck_dir, experiments)
    assert deck.ids == ["ok"]
    [problem] = deck.problems
    assert problem.path.name == "02-missing.md" and problem.line == 6
    assert "not an existing file" in problem.message


# --- Experiment.resolve ------------------------------------------------------------------

@pytest.fixture
def experiments(tmp_path) -> Path:
    """An experiments folder with one script, a symlink escaping it and a subfolder."""
    folder = tmp_path / "experiments"
    folder.mkdir()
    write(folder / "q1.py", "print('q1')\n")
    write(tmp_path / "outside.py", "print('outside')\n")
    os.symlink(tmp_path / "outside.py", folder / "escape.py")
    (folder / "sub").mkdir()
    return folder


def test_resolve_gives_the_absolute_script(experiments):
    assert Experiment("q1.py").resolve(experiments) == (experiments / "q1.py").resolve()


@pytest.mark.parametrize(("script", "words"), [
    ("/etc/passwd", "absolute"),
    ("../outside.py", "'..'"),
    ("sub/../q1.py", "'..'"),
    ("escape.py", "outside"),
    ("absent.py", "not an existing file"),
    ("sub", "not an existing file"),
    ("", "empty"),
])
def test_resolve_refuses_unsafe_or_missing_scripts(experiments, script, words):
    with pytest.raises(UnsafeScriptError, match=words):
        Experiment(script).resolve(experiments)
    assert issubclass(UnsafeScriptError, ValueError)


def test_real_deck_experiments_resolve():
    deck = load_deck(CONTENT, EXPERIMENTS)
    assert [str(p) for p in deck.problems] == []
