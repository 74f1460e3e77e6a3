"""Tests for studyapp.scheduler: fixed datetimes, checked against ``fsrs.Scheduler`` itself."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import fsrs
import pytest

from studyapp.scheduler import Rating, Scheduler, Settings, format_interval, load_settings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# Ratings and the minutes after the previous review at which each is given.
SESSION = [(Rating.Good, 0), (Rating.Good, 2), (Rating.Again, 11), (Rating.Hard, 3),
           (Rating.Good, 9), (Rating.Good, 60 * 24), (Rating.Easy, 60 * 24 * 5),
           (Rating.Again, 60 * 24 * 20), (Rating.Good, 12), (Rating.Good, 60 * 24 * 3)]


@pytest.fixture
def local_zone(monkeypatch):
    """Set the process's local time zone (``TZ`` + ``time.tzset``); restored afterwards."""
    def use(zone: str) -> None:
        monkeypatch.setenv("TZ", zone)
        time.tzset()

    yield use
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("settings, reference", [
    (Settings(enable_fuzzing=False), fsrs.Scheduler(enable_fuzzing=False)),
    (Settings(desired_retention=0.85, learning_steps=(2.0, 20.0, 60.0),
              relearning_steps=(5.0, 30.0), maximum_interval=30, enable_fuzzing=False),
     fsrs.Scheduler(desired_retention=0.85,
                    learning_steps=(timedelta(minutes=2), timedelta(minutes=20),
                                    timedelta(hours=1)),
                    relearning_steps=(timedelta(minutes=5), timedelta(minutes=30)),
                    maximum_interval=30, enable_fuzzing=False)),
])
def test_a_session_gives_the_same_card_states_as_fsrs_itself(settings, reference):
    scheduler = Scheduler(settings)
    ours = scheduler.new_card(7, T0)
    theirs = fsrs.Card(card_id=7, due=T0)
    moment = T0
    for rating, minutes in SESSION:
        moment += timedelta(minutes=minutes)
        ours = scheduler.next_state(ours, rating, moment)
        theirs, _log = reference.review_card(theirs, rating, moment)
        assert ours.to_dict() == theirs.to_dict()
        assert scheduler.retrievability(ours, moment + timedelta(days=1)) == \
            reference.get_card_retrievability(theirs, moment + timedelta(days=1))
    assert ours.state == fsrs.State.Review, "the session must reach the Review state"


def test_review_times_in_other_zones_are_taken_as_the_same_instant():
    scheduler = Scheduler(Settings(enable_fuzzing=False))
    card = scheduler.new_card(1, T0)
    berlin = T0.astimezone(ZoneInfo("Europe/Berlin"))
    assert scheduler.next_state(card, Rating.Good, berlin).to_dict() == \
        scheduler.next_state(card, Rating.Good, T0).to_dict()


def test_preview_gives_each_ratings_unfuzzed_interval_and_changes_nothing():
    scheduler = Scheduler(Settings(enable_fuzzing=True))
    reference = fsrs.Scheduler(enable_fuzzing=False)
    new = scheduler.new_card(1, T0)
    preview = scheduler.preview(new, T0)
    assert preview == {
        rating: reference.review_card(fsrs.Card(card_id=1, due=T0), rating, T0)[0].due - T0
        for rating in Rating}
    assert preview[Rating.Again] == timedelta(minutes=1)
    assert preview[Rating.Good] == timedelta(minutes=10)
    assert preview[Rating.Again] < preview[Rating.Hard] < preview[Rating.Good] \
        < preview[Rating.Easy]

    # A card in the Review state: fuzzing would vary the interval; the preview must not.
    mature = new
    for days in (0, 1, 4, 12):
        mature = scheduler.next_state(mature, Rating.Good, T0 + timedelta(days=days))
    later = T0 + timedelta(days=40)
    before = mature.to_dict()
    assert len({tuple(scheduler.preview(mature, later).values()) for _ in range(20)}) == 1
    assert mature.to_dict() == before
    assert scheduler.fsrs.enable_fuzzing is True


def test_settings_default_when_the_file_is_missing(tmp_path):
    settings, sources = load_settings(tmp_path / "config.toml")
    assert settings == Settings()
    assert set(sources.values()) == {"default"}


def test_settings_from_a_file_say_where_each_value_came_from(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('desired_retention = 0.85\nlearning_steps = [1, 5.5]\n'
                    'enable_fuzzing = false\nday_start_hour = 0\n')
    settings, sources = load_settings(path)
    assert settings == Settings(desired_retention=0.85, learning_steps=(1.0, 5.5),
                                enable_fuzzing=False, day_start_hour=0)
    assert sources["desired_retention"] == sources["learning_steps"] == str(path)
    assert sources["new_cards_per_day"] == "default"


@pytest.mark.parametrize("text, message", [
    ("desired_retenton = 0.9\n", "unknown setting.*desired_retenton"),
    ('desired_retention = "high"\n', "desired_retention must be a number, not 'high'"),
    ("enable_fuzzing = 1\n", "enable_fuzzing must be true or false"),
    ("new_cards_per_day = 2.5\n", "new_cards_per_day must be a whole number"),
    ("new_cards_per_day = true\n", "new_cards_per_day must be a whole number"),
    ('learning_steps = ["1m"]\n', "learning_steps must be"),
    ("desired_retention = 1.5\n", "desired_retention must be between 0 and 1"),
    ("day_start_hour = 24\n", "day_start_hour must be 0-23"),
    ("learning_steps = [0]\n", "learning_steps must be positive minutes"),
    ("maximum_interval = 0\n", "maximum_interval must be at least 1 day"),
    ("new_cards_per_day = -1\n", "new_cards_per_day must not be negative"),
    ("desired_retention = \n", ""),
])
def test_bad_settings_name_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"^{str(path)}: .*{message}"):
        load_settings(path)


def test_the_study_day_turns_at_the_day_start_hour_in_local_time(local_zone):
    local_zone("Europe/Berlin")  # UTC+1 in winter
    scheduler = Scheduler(Settings(day_start_hour=4))
    assert scheduler.study_day(datetime(2026, 1, 15, 2, 59, 59, tzinfo=UTC)) == date(2026, 1, 14)
    assert scheduler.study_day(datetime(2026, 1, 15, 3, 0, tzinfo=UTC)) == date(2026, 1, 15)
    assert scheduler.day_start(date(2026, 1, 15)) == datetime(2026, 1, 15, 3, 0, tzinfo=UTC)
    assert scheduler.next_day_start(datetime(2026, 1, 15, 2, 0, tzinfo=UTC)) == \
        datetime(2026, 1, 15, 3, 0, tzinfo=UTC)

    local_zone("America/Los_Angeles")  # the same instants, another local day
    assert scheduler.study_day(datetime(2026, 1, 15, 3, 0, tzinfo=UTC)) == date(2026, 1, 14)
    assert scheduler.day_start(date(2026, 1, 15)) == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def test_study_days_across_daylight_saving_changes(local_zone):
    local_zone("Europe/Berlin")  # clocks go forward on 2026-03-29, back on 2026-10-25
    scheduler = Scheduler(Settings(day_start_hour=4))
    # 04:00 CET is 03:00 UTC; 04:00 CEST is 02:00 UTC.
    assert scheduler.study_day(datetime(2026, 3, 29, 1, 59, tzinfo=UTC)) == date(2026, 3, 28)
    assert scheduler.study_day(datetime(2026, 3, 29, 2, 0, tzinfo=UTC)) == date(2026, 3, 29)
    spring_day = scheduler.day_start(date(2026, 3, 29)) - scheduler.day_start(date(2026, 3, 28))
    autumn_day = scheduler.day_start(date(2026, 10, 25)) - scheduler.day_start(date(2026, 10, 24))
    assert (spring_day, autumn_day) == (timedelta(hours=23), timedelta(hours=25))


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Australia/Sydney"])
def test_each_study_day_starts_exactly_where_the_previous_one_ends(local_zone, zone):
    """For every day-start hour, including one that a DST change skips or repeats."""
    local_zone(zone)
    days = [date(2026, 1, 1) + timedelta(i) for i in range(365)]
    for hour in (0, 1, 2, 3, 4, 12, 23):  # 2 and 3 are skipped or repeated somewhere
        scheduler = Scheduler(Settings(day_start_hour=hour))
        for day in days:
            start = scheduler.day_start(day)
            assert scheduler.study_day(start) == day, (hour, day, start)
            assert scheduler.study_day(start - timedelta(microseconds=1)) == day - timedelta(1)
            assert scheduler.next_day_start(start) == scheduler.day_start(day + timedelta(1))


@pytest.mark.parametrize("interval, shown", [
    (timedelta(seconds=0), "<1m"), (timedelta(seconds=59), "<1m"), (timedelta(minutes=1), "1m"),
    (timedelta(minutes=10), "10m"), (timedelta(minutes=59), "59m"), (timedelta(hours=1), "1h"),
    (timedelta(hours=23), "23h"), (timedelta(days=1), "1d"), (timedelta(days=4, hours=3), "4d"),
    (timedelta(days=29), "29d"), (timedelta(days=63), "2.1mo"), (timedelta(days=364), "12.1mo"),
    (timedelta(days=365), "1.0y"), (timedelta(days=548), "1.5y"),
])
def test_format_interval_as_anki_shows_it(interval, shown):
    assert format_interval(interval) == shown
