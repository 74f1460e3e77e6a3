"""A thin layer over ``fsrs.Scheduler`` (FSRS-6): settings from TOML, study days, and intervals.

Time is always passed in (aware UTC datetimes); nothing here reads the clock. Due times are exact
UTC instants; the day-start hour (local time, 4 by default as in Anki) only decides which study
day a moment belongs to, i.e. what counts as "today" for daily limits and statistics.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import fsrs

Rating = fsrs.Rating
State = fsrs.State


@dataclass(frozen=True)
class Settings:
    """Scheduler settings; the defaults are FSRS's and Anki's.

    ``learning_steps`` and ``relearning_steps`` are in minutes, ``maximum_interval`` in days,
    ``day_start_hour`` in local time (0-23).
    """

    desired_retention: float = 0.9
    learning_steps: tuple[float, ...] = (1.0, 10.0)
    relearning_steps: tuple[float, ...] = (10.0,)
    maximum_interval: int = 36500
    enable_fuzzing: bool = True
    new_cards_per_day: int = 20
    maximum_reviews_per_day: int = 200
    day_start_hour: int = 4

    def __post_init__(self) -> None:
        if not 0 < self.desired_retention < 1:
            raise ValueError(f"desired_retention must be between 0 and 1, "
                             f"not {self.desired_retention!r}")
        for name in ("learning_steps", "relearning_steps"):
            steps = getattr(self, name)
            if any(not math.isfinite(s) or s <= 0 for s in steps):
                raise ValueError(f"{name} must be positive minutes, not {list(steps)!r}")
        if self.maximum_interval < 1:
            raise ValueError(f"maximum_interval must be at least 1 day, "
                             f"not {self.maximum_interval!r}")
        for name in ("new_cards_per_day", "maximum_reviews_per_day"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, not {getattr(self, name)!r}")
        if not 0 <= self.day_start_hour <= 23:
            raise ValueError(f"day_start_hour must be 0-23, not {self.day_start_hour!r}")


_TYPES = {f.name: f.type for f in fields(Settings)}
_KINDS = {"tuple[float, ...]": "a list of minutes, e.g. [1, 10]", "float": "a number",
          "int": "a whole number", "bool": "true or false"}


def load_settings(path: Path) -> tuple[Settings, dict[str, str]]:
    """Read settings from the TOML file at ``path`` (a missing file gives the defaults).

    Returns the settings and, for each setting, where its value came from (the file or
    ``"default"``). Raises ``ValueError`` naming the file and key for unknown keys, wrong types
    or out-of-range values.
    """
    values: dict[str, Any] = {}
    if path.exists():
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path}: {error}") from error
    unknown = set(values) - set(_TYPES)
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(_TYPES)}")
    converted: dict[str, Any] = {}
    for name, value in values.items():
        expected = _TYPES[name]
        if expected == "tuple[float, ...]":
            ok = isinstance(value, list) and all(isinstance(v, (int, float)) and
                                                 not isinstance(v, bool) for v in value)
            value = tuple(float(v) for v in value) if ok else value
        elif expected == "float":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif expected == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, bool)
        if not ok:
            raise ValueError(f"{path}: {name} must be {_KINDS[expected]}, not {value!r}")
        converted[name] = value
    try:
        settings = Settings(**converted)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    sources = {name: (str(path) if name in values else "default") for name in _TYPES}
    return settings, sources


class Scheduler:
    """FSRS scheduling with study days.

    Wraps ``fsrs.Scheduler`` with the default FSRS-6 parameters; all datetimes are aware UTC.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        s = self.settings
        self.fsrs = fsrs.Scheduler(
            desired_retention=s.desired_retention,
            learning_steps=tuple(timedelta(minutes=m) for m in s.learning_steps),
            relearning_steps=tuple(timedelta(minutes=m) for m in s.relearning_steps),
            maximum_interval=s.maximum_interval,
            enable_fuzzing=s.enable_fuzzing,
        )

    @staticmethod
    def new_card(fsrs_id: int, now: datetime) -> fsrs.Card:
        """A new ``fsrs.Card`` (state Learning, step 0) due at ``now``."""
        return fsrs.Card(card_id=fsrs_id, due=now.astimezone(UTC))

    def next_state(self, card: fsrs.Card, rating: Rating, at: datetime,
                   duration_ms: int | None = None) -> fsrs.Card:
        """The card's state after a review rated ``rating`` at ``at`` (UTC)."""
        after, _log = self.fsrs.review_card(card, rating, at.astimezone(UTC), duration_ms)
        return after

    def preview(self, card: fsrs.Card, at: datetime) -> dict[Rating, timedelta]:
        """The interval (from ``at``) each rating would give, without fuzzing."""
        fuzzing = self.fsrs.enable_fuzzing
        self.fsrs.enable_fuzzing = False
        try:
            return {rating: self.next_state(card, rating, at).due - at for rating in Rating}
        finally:
            self.fsrs.enable_fuzzing = fuzzing

    def retrievability(self, card: fsrs.Card | None, at: datetime) -> float | None:
        """Probability of recall at ``at`` (0-1), or ``None`` for a card never reviewed."""
        if card is None or card.last_review is None:
            return None
        return self.fsrs.get_card_retrievability(card, at.astimezone(UTC))

    def study_day(self, moment: datetime) -> date:
        """The study day ``moment`` belongs to: its local date, counting from the day-start hour."""
        local = moment.astimezone()
        return (local - timedelta(hours=self.settings.day_start_hour)).date()

    def day_start(self, day: date) -> datetime:
        """The UTC moment study day ``day`` starts (local day-start hour; DST-aware).

        When a DST change skips the hour, the day starts as the clock jumps past it; when it
        repeats the hour, at its first occurrence.
        """
        wall = datetime.combine(day, time(self.settings.day_start_hour))
        moments = (wall.replace(fold=fold).astimezone().astimezone(UTC) for fold in (0, 1))
        return min(moment for moment in moments if self.study_day(moment) == day)

    def next_day_start(self, moment: datetime) -> datetime:
        """The UTC moment the study day after the one containing ``moment`` starts."""
        return self.day_start(self.study_day(moment) + timedelta(days=1))


def format_interval(interval: timedelta) -> str:
    """An interval the way Anki shows it: ``"<1m"``, ``"10m"``, ``"3h"``, ``"4d"``, ``"2.1mo"``,
    ``"1.5y"``."""
    seconds = interval.total_seconds()
    if seconds < 60:
        return "<1m"
    if seconds < 3600:
        return f"{round(seconds / 60)}m"
    if seconds < 86400:
        return f"{round(seconds / 3600)}h"
    days = seconds / 86400
    if days < 30:
        return f"{round(days)}d"
    if days < 365:
        return f"{days / 30:.1f}mo"
    return f"{days / 365:.1f}y"
