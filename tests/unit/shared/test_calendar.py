"""Tests for the legal calendar (working days, deadlines, periods, Asia/Shanghai dates)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from citycredit.shared.calendar import (
    SHANGHAI,
    UNCONFIRMED_NOTE,
    DayInfo,
    HolidayDataError,
    LegalCalendar,
    add_months,
    day_start,
    last_day,
    local_date,
    statutory_period_end,
)


@pytest.fixture
def cal() -> LegalCalendar:
    """A calendar with packaged data only."""
    return LegalCalendar()


def _write_year(directory: Path, year: int, payload: dict[str, object]) -> Path:
    """Write a holiday data file and return its path."""
    path = directory / f"{year}.json"
    path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    return path


def _library_has(year: int) -> bool:
    """Whether the installed chinesecalendar knows ``year``."""
    import chinese_calendar

    try:
        chinese_calendar.is_workday(date(year, 1, 4))
    except NotImplementedError:
        return False
    return True


# --- Spring Festival 2025: 1/28–2/4 off, Sunday 1/26 and Saturday 2/8 worked (调休) ---


def test_spring_festival_2025_adjusted_days(cal: LegalCalendar) -> None:
    """The 调休 weekend days work, the festival days rest, with official names."""
    assert cal.day(date(2025, 1, 26)) == DayInfo(date(2025, 1, 26), True, True, None, "春节")
    assert cal.is_working_day(date(2025, 2, 8))
    assert cal.day(date(2025, 1, 29)) == DayInfo(date(2025, 1, 29), False, True, "春节")
    assert not cal.is_working_day(date(2025, 2, 4))  # Tuesday inside the block
    assert not cal.is_working_day(date(2025, 2, 9))  # ordinary Sunday
    assert cal.day(date(2025, 2, 9)).holiday_name is None


def test_seven_working_days_from_friday_before_spring_festival_2025(cal: LegalCalendar) -> None:
    """Decision Fri 2025-01-24: Sun 1/26, Mon 1/27, 2/5–2/7, Sat 2/8, Mon 2/10."""
    deadline = cal.add_working_days(date(2025, 1, 24), 7)
    assert deadline.due == date(2025, 2, 10)
    assert deadline.confirmed is True
    assert deadline.note is None
    # Without the two 调休 days the 7th working day would be Wed 2025-02-12.
    assert cal.add_working_days(date(2025, 1, 24), 5).due == date(2025, 2, 7)
    assert cal.add_working_days(date(2025, 1, 24), 1).due == date(2025, 1, 26)


def test_seven_working_days_from_monday_before_spring_festival_2025(cal: LegalCalendar) -> None:
    """Decision Mon 2025-01-27 (day itself not counted): 2/5–2/7, Sat 2/8, 2/10–2/12."""
    deadline = cal.add_working_days(date(2025, 1, 27), 7)
    assert deadline.due == date(2025, 2, 12)
    assert cal.add_working_days(date(2025, 1, 27), 4).due == date(2025, 2, 8)
    assert deadline.ends_at == datetime(2025, 2, 13, tzinfo=SHANGHAI)


# --- National Day 2024 (10/1–10/7 off; Sun 9/29, Sat 10/12 worked) ---


def test_seven_working_days_across_national_day_2024(cal: LegalCalendar) -> None:
    """Decision Fri 2024-09-27: Sun 9/29, Mon 9/30, 10/8–10/11, the 7th is Sat 10/12."""
    deadline = cal.add_working_days(date(2024, 9, 27), 7)
    assert deadline.due == date(2024, 10, 12)
    assert deadline.due.weekday() == 5  # a Saturday, worked by 调休
    assert deadline.confirmed is True
    assert cal.add_working_days(date(2024, 9, 27), 1).due == date(2024, 9, 29)
    assert cal.day(date(2024, 10, 3)).holiday_name == "国庆节"


# --- National Day + Mid-Autumn 2025 (10/1–10/8 off; Sun 9/28, Sat 10/11 worked) ---


def test_seven_working_days_across_national_day_2025(cal: LegalCalendar) -> None:
    """Decision Fri 2025-09-26: 9/28 (Sun), 9/29, 9/30, 10/9, 10/10, 10/11 (Sat), 10/13."""
    deadline = cal.add_working_days(date(2025, 9, 26), 7)
    assert deadline.due == date(2025, 10, 13)
    assert cal.add_working_days(date(2025, 9, 26), 6).due == date(2025, 10, 11)
    assert cal.is_working_day(date(2025, 9, 28))
    assert not cal.is_working_day(date(2025, 10, 8))  # Wednesday, holiday
    assert cal.day(date(2025, 10, 6)).holiday_name == "中秋节"


# --- n == 0 and argument checks ---


def test_zero_working_days_is_same_day_or_next_working_day(cal: LegalCalendar) -> None:
    """n == 0: due on the day itself if working, else rolled past the rest (民法典203)."""
    assert cal.add_working_days(date(2025, 3, 5), 0).due == date(2025, 3, 5)
    assert cal.add_working_days(date(2025, 3, 8), 0).due == date(2025, 3, 10)  # Saturday
    assert cal.add_working_days(date(2025, 10, 1), 0).due == date(2025, 10, 9)
    assert cal.add_working_days(date(2025, 1, 26), 0).due == date(2025, 1, 26)  # 调休 Sunday


def test_negative_n_and_datetime_arguments_are_rejected(cal: LegalCalendar) -> None:
    """Negative counts and datetimes (ambiguous time zone) are programming errors."""
    with pytest.raises(ValueError, match="n must be"):
        cal.add_working_days(date(2025, 3, 5), -1)
    with pytest.raises(TypeError):
        cal.day(datetime(2025, 3, 5, tzinfo=SHANGHAI))
    with pytest.raises(TypeError):
        day_start(datetime(2025, 3, 5, tzinfo=SHANGHAI))


def test_deadline_ends_at_midnight_after_due(cal: LegalCalendar) -> None:
    """ends_at is the exclusive end: 00:00 Asia/Shanghai of the day after ``due``."""
    deadline = cal.add_working_days(date(2025, 3, 3), 3)
    assert deadline.due == date(2025, 3, 6)
    assert deadline.ends_at == datetime(2025, 3, 7, tzinfo=SHANGHAI)
    assert deadline.ends_at == datetime(2025, 3, 6, 16, 0, tzinfo=UTC)
    assert local_date(deadline.ends_at - timedelta(microseconds=1)) == deadline.due


# --- unconfirmed years ---


def test_library_covers_2004_to_2026(cal: LegalCalendar) -> None:
    """chinesecalendar 1.11 knows 2004–2026; 2003 falls back to unconfirmed."""
    assert cal.day(date(2004, 1, 1)).confirmed is True
    assert cal.day(date(2026, 12, 31)).confirmed is True
    assert cal.year_source(2026).startswith("chinesecalendar")
    assert cal.day(date(2003, 10, 1)).confirmed is False


def test_deadline_running_from_a_confirmed_into_an_unconfirmed_year(tmp_path: Path) -> None:
    """Counting into a year without data flags the deadline; the statute's days still rest."""
    # 2040 is confirmed by a data file (no holidays at year end); 2041 has no notice.
    _write_year(tmp_path, 2040, {"year": 2040, "source": "test", "holidays": [], "workdays": []})
    cal = LegalCalendar(extra_data_dir=tmp_path)
    # Decision Fri 2040-12-28: Mon 12/31, then 2041-01-01 (Tue, 元旦 by statute: rest),
    # 1/2, 1/3, 1/4, Mon 1/7, Tue 1/8, Wed 1/9.
    deadline = cal.add_working_days(date(2040, 12, 28), 7)
    assert deadline.due == date(2041, 1, 9)
    assert deadline.confirmed is False
    assert deadline.note == UNCONFIRMED_NOTE
    assert cal.day(date(2041, 1, 1)).holiday_name == "元旦"
    assert cal.year_source(2041).startswith(UNCONFIRMED_NOTE)
    assert "全国年节及纪念日放假办法" in cal.year_source(2041)
    # A deadline that stays inside 2040 remains confirmed.
    inside = cal.add_working_days(date(2040, 12, 28), 1)
    assert inside.due == date(2040, 12, 31)
    assert (inside.confirmed, inside.note) == (True, None)


def test_year_without_a_notice_rests_on_the_statutory_days(cal: LegalCalendar) -> None:
    """2031: the statute's holidays and 补休 rest, other weekdays work; all unconfirmed."""
    assert not _library_has(2031)
    assert cal.day(date(2031, 1, 1)) == DayInfo(date(2031, 1, 1), False, False, "元旦")
    assert cal.day(date(2031, 1, 2)) == DayInfo(date(2031, 1, 2), True, False, None)
    assert cal.day(date(2031, 1, 4)) == DayInfo(date(2031, 1, 4), False, False, None)
    deadline = cal.add_working_days(date(2031, 1, 3), 5)  # Friday
    assert deadline.due == date(2031, 1, 10)
    assert (deadline.confirmed, deadline.note) == (False, UNCONFIRMED_NOTE)
    # 正月初一 2031 is Thu 1/23: 除夕 Wed 1/22 to 初三 Sat 1/25 rest, Sat's day made up on
    # Mon 1/27. January's 23 weekdays − 元旦 − 1/22, 1/23, 1/24 − 1/27 = 18.
    assert cal.day(date(2031, 1, 22)).holiday_name == "春节"
    assert cal.day(date(2031, 1, 27)).holiday_name == "春节（补休）"
    assert cal.working_days_between(date(2031, 1, 1), date(2031, 2, 1)) == (18, False)


def test_the_statutory_rules_reproduce_the_notices_under_the_same_statute(
    cal: LegalCalendar,
) -> None:
    """2025 and 2026 (the 2024 statute, notices known to chinesecalendar): every day the
    fallback would rest — the statute's days, lunar and solar-term ones included, and each
    补休 — is a rest day in the published arrangement."""
    fallback = LegalCalendar(extra_data_dir=None)
    for year in (2025, 2026):
        estimated = fallback._unconfirmed_year(year).holidays
        assert len([n for n in estimated.values() if "补休" not in n]) == 13
        for day, name in estimated.items():
            assert cal.day(day).working is False, (day, name)
            assert cal.day(day).confirmed is True


def test_years_before_the_statute_count_weekdays_only(cal: LegalCalendar) -> None:
    assert cal.day(date(2003, 10, 1)) == DayInfo(date(2003, 10, 1), True, False, None)


def test_the_operator_can_replace_the_statutory_rules(tmp_path: Path) -> None:
    rules = {
        "basis": "测试规则",
        "in_force_from": 2025,
        "weekend_makeup": False,
        "holidays": [{"name": "测试节", "calendar": "gregorian", "month": 3, "day": 3}],
    }
    (tmp_path / "statutory.json").write_text(json.dumps(rules), encoding="utf-8")
    cal = LegalCalendar(extra_data_dir=tmp_path)
    assert cal.day(date(2031, 3, 3)).holiday_name == "测试节"
    assert cal.day(date(2031, 1, 1)).working is True
    assert "测试规则" in cal.year_source(2031)
    (tmp_path / "statutory.json").write_text('{"holidays": []}', encoding="utf-8")
    with pytest.raises(HolidayDataError, match="holidays"):
        LegalCalendar(extra_data_dir=tmp_path).day(date(2032, 1, 1))


# --- data files ---


def test_extra_data_file_defines_a_made_up_year(tmp_path: Path) -> None:
    """A file in extra_data_dir makes a year confirmed with its holidays and 调休."""
    _write_year(
        tmp_path,
        2040,
        {
            "year": 2040,
            "source": "test fixture (made-up arrangement)",
            "holidays": [
                {"date": "2040-01-02", "name": "元旦"},
                {"date": "2040-01-03", "name": "元旦"},
            ],
            "workdays": [{"date": "2040-01-07", "name": "元旦"}, "2040-01-14"],
        },
    )
    cal = LegalCalendar(extra_data_dir=tmp_path)
    assert cal.day(date(2040, 1, 2)) == DayInfo(date(2040, 1, 2), False, True, "元旦")
    # 2040-01-07 and 01-14 are Saturdays, 01-08 a Sunday.
    assert cal.day(date(2040, 1, 7)) == DayInfo(date(2040, 1, 7), True, True, None, "元旦")
    assert cal.day(date(2040, 1, 14)) == DayInfo(date(2040, 1, 14), True, True, None, None)
    assert cal.day(date(2040, 1, 8)) == DayInfo(date(2040, 1, 8), False, True, None)
    # Decision Sun 2040-01-01: Mon 1/2, Tue 1/3 off; 1/4, 1/5, 1/6, Sat 1/7, then Mon 1/9.
    deadline = cal.add_working_days(date(2040, 1, 1), 4)
    assert deadline.due == date(2040, 1, 7)
    assert cal.add_working_days(date(2040, 1, 1), 5).due == date(2040, 1, 9)
    assert (deadline.confirmed, deadline.note) == (True, None)
    assert cal.year_source(2040) == "test fixture (made-up arrangement)"
    # The same year without the file is unconfirmed: 元旦 falls on Sunday 2040-01-01, so the
    # statute's 补休 is estimated on Monday 01-02; Tuesday is an ordinary working day.
    plain = LegalCalendar()
    assert plain.day(date(2040, 1, 2)) == DayInfo(date(2040, 1, 2), False, False, "元旦（补休）")
    assert plain.day(date(2040, 1, 3)) == DayInfo(date(2040, 1, 3), True, False, None)


def test_extra_data_file_overrides_library_year(tmp_path: Path) -> None:
    """A file for a library year replaces the library's arrangement for that year."""
    _write_year(tmp_path, 2025, {"year": 2025, "source": "made-up amendment", "holidays": []})
    cal = LegalCalendar(extra_data_dir=tmp_path)
    assert cal.day(date(2025, 1, 29)) == DayInfo(date(2025, 1, 29), True, True, None)
    assert not cal.is_working_day(date(2025, 1, 26))  # 调休 removed: plain Sunday
    assert LegalCalendar().day(date(2025, 1, 29)).working is False


def test_years_are_cached_per_instance(tmp_path: Path) -> None:
    """A year is read once per calendar; a new instance sees an edited file."""
    path = _write_year(tmp_path, 2041, {"year": 2041, "source": "v1", "holidays": []})
    cal = LegalCalendar(extra_data_dir=tmp_path)
    assert cal.is_working_day(date(2041, 1, 1))
    path.write_text(
        json.dumps(
            {"year": 2041, "source": "v2", "holidays": [{"date": "2041-01-01", "name": "元旦"}]}
        ),
        encoding="utf-8",
    )
    assert cal.is_working_day(date(2041, 1, 1))
    assert cal.year_source(2041) == "v1"
    assert not LegalCalendar(extra_data_dir=tmp_path).is_working_day(date(2041, 1, 1))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"year": 2042, "source": "x", "holidays": []}, "'year' must be 2043"),
        ({"year": 2043, "holidays": []}, "'source'"),
        (
            {"year": 2043, "source": "x", "holidays": [{"date": "2044-01-01", "name": "元旦"}]},
            "outside year",
        ),
        ({"year": 2043, "source": "x", "holidays": ["2043-01-01"]}, "date and name"),
        ({"year": 2043, "source": "x", "workdays": ["2043-01-05"]}, "not a weekend day"),
        (
            {
                "year": 2043,
                "source": "x",
                "holidays": [{"date": "2043-01-03", "name": "元旦"}],
                "workdays": ["2043-01-03"],
            },
            "both holiday and workday",
        ),
        ({"year": 2043, "source": "x", "workdays": ["2043-01-03", "2043-01-03"]}, "duplicate"),
        (
            {"year": 2043, "source": "x", "holidays": [{"date": "2043-13-01", "name": "a"}]},
            "bad date",
        ),
    ],
)
def test_malformed_data_files_are_rejected(
    tmp_path: Path, payload: dict[str, object], message: str
) -> None:
    """Bad files fail loudly with the file named, instead of skewing deadlines."""
    _write_year(tmp_path, 2043, payload)
    with pytest.raises(HolidayDataError, match=message):
        LegalCalendar(extra_data_dir=tmp_path).day(date(2043, 1, 3))


def test_packaged_data_files_are_valid() -> None:
    """Every shipped <year>.json parses, and the README documents the format."""
    from importlib.resources import files

    directory = files("citycredit.shared") / "data" / "holidays"
    readme = (directory / "README.md").read_text(encoding="utf-8")
    assert UNCONFIRMED_NOTE in readme
    assert '"workdays"' in readme
    cal = LegalCalendar()
    for entry in directory.iterdir():
        if entry.name.endswith(".json") and entry.name != "statutory.json":
            year = int(entry.name.removesuffix(".json"))
            assert cal.day(date(year, 6, 1)).confirmed is True


# --- working_days_between ---


def test_working_days_between_half_open(cal: LegalCalendar) -> None:
    """[start, end): start included, end excluded; 调休 days counted, holidays not."""
    # 1/27 (Mon), 2/5, 2/6, 2/7, 2/8 (Sat 调休) → 5; 2/10 excluded as the end.
    assert cal.working_days_between(date(2025, 1, 27), date(2025, 2, 10)) == (5, True)
    assert cal.working_days_between(date(2025, 1, 28), date(2025, 2, 5)) == (0, True)
    assert cal.working_days_between(date(2025, 3, 5), date(2025, 3, 5)) == (0, True)
    assert cal.working_days_between(date(2025, 3, 6), date(2025, 3, 5)) == (0, True)
    # October 2024: 23 weekdays − 5 weekday holidays (10/1–10/4, 10/7) + Sat 10/12.
    assert cal.working_days_between(date(2024, 10, 1), date(2024, 11, 1)) == (19, True)


def test_working_days_between_consistent_with_deadline(cal: LegalCalendar) -> None:
    """Days in (start, due] equal n, across holidays."""
    for start in (date(2025, 1, 24), date(2024, 9, 27), date(2025, 9, 26)):
        due = cal.add_working_days(start, 7).due
        assert cal.working_days_between(start + timedelta(days=1), due + timedelta(days=1)) == (
            7,
            True,
        )


def test_working_days_between_into_unconfirmed_year(cal: LegalCalendar) -> None:
    """A range touching a year without data is flagged unconfirmed."""
    # Mon 12/30, Tue 12/31, (Wed 2031-01-01 元旦), Thu 1/2
    count, confirmed = cal.working_days_between(date(2030, 12, 30), date(2031, 1, 3))
    assert (count, confirmed) == (3, False)


# --- months and periods ---


def test_add_months_clamps_to_month_end() -> None:
    """Missing corresponding days clamp to the month's last day (民法典202)."""
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2023, 1, 31), 1) == date(2023, 2, 28)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2024, 2, 29), 48) == date(2028, 2, 29)
    assert add_months(date(2024, 3, 31), -1) == date(2024, 2, 29)
    assert add_months(date(2024, 11, 30), 3) == date(2025, 2, 28)
    assert add_months(date(2024, 12, 15), 1) == date(2025, 1, 15)
    assert add_months(date(2025, 1, 15), -13) == date(2023, 12, 15)
    assert add_months(date(2025, 5, 20), 0) == date(2025, 5, 20)


def test_statutory_period_end_adds_years_and_months_and_the_last_day() -> None:
    """12·years + months from the event; the corresponding day is the last one (民法典 202)."""
    assert statutory_period_end(date(2025, 3, 15), months=3) == date(2025, 6, 16)
    assert statutory_period_end(date(2025, 3, 15), years=3) == date(2028, 3, 16)
    assert statutory_period_end(date(2025, 3, 15), years=1, months=6) == date(2026, 9, 16)
    assert last_day(statutory_period_end(date(2025, 3, 15), years=1)) == date(2026, 3, 15)
    # 2025-01-31 + 1 month: February has no 31st, so its last day is the period's last day.
    assert last_day(statutory_period_end(date(2025, 1, 31), months=1)) == date(2025, 2, 28)


def test_statutory_period_end_includes_corresponding_day() -> None:
    """Counted from the event: last day is the corresponding day, end exclusive next day."""
    assert statutory_period_end(date(2025, 3, 15), years=1) == date(2026, 3, 16)
    assert statutory_period_end(date(2025, 1, 30), months=1) == date(2025, 3, 1)
    assert statutory_period_end(date(2024, 2, 29), years=1) == date(2025, 3, 1)


# --- time zone helpers ---


def test_local_date_converts_to_shanghai() -> None:
    """16:30 UTC is already the next day in Shanghai (UTC+8)."""
    assert local_date(datetime(2025, 3, 1, 16, 30, tzinfo=UTC)) == date(2025, 3, 2)
    assert local_date(datetime(2025, 3, 1, 15, 59, 59, tzinfo=UTC)) == date(2025, 3, 1)
    assert local_date(datetime(2025, 3, 2, 0, 0, tzinfo=SHANGHAI)) == date(2025, 3, 2)


def test_local_date_rejects_naive_datetime() -> None:
    """Naive datetimes have no defined local date."""
    with pytest.raises(ValueError, match="naive"):
        local_date(datetime(2025, 3, 1, 16, 30))  # noqa: DTZ001


def test_day_start_is_shanghai_midnight() -> None:
    """day_start is aware, at UTC+8, 16:00 UTC of the previous day."""
    start = day_start(date(2025, 3, 2))
    assert start.tzinfo is SHANGHAI
    assert start.utcoffset() == timedelta(hours=8)
    assert (start.hour, start.minute) == (0, 0)
    assert start == datetime(2025, 3, 1, 16, 0, tzinfo=UTC)
    assert local_date(start) == date(2025, 3, 2)


def test_import_is_light() -> None:
    """Importing the module does not load chinesecalendar or read data."""
    code = (
        "import sys, citycredit.shared.calendar as c; "
        "c.LegalCalendar(); print('chinese_calendar' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
