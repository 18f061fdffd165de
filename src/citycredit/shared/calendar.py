"""Legal calendar: working days, deadlines and periods in Asia/Shanghai (法定工作日与期间计算).

Sources, by precedence (first match wins, per whole year):

1. ``<extra_data_dir>/<year>.json`` — operator-provided files (settings ``holidays_dir``);
2. ``citycredit/shared/data/holidays/<year>.json`` — files shipped with the package;
3. the ``chinesecalendar`` library (1.11 covers 2004–2026);
4. otherwise the year is unconfirmed: its statutory holidays (《全国年节及纪念日放假办法》
   第二条, lunar dates by ``lunardate``, 清明 by chinesecalendar's solar terms) are rest
   days, a statutory day falling on a Saturday or Sunday is made up on the next weekday
   after its block (第六条 补休; where the notice will put it is estimated), other days are
   Monday–Friday work; the rules are data (``statutory.json``, overridable in
   ``holidays_dir``). Every ``DayInfo`` of such a year carries ``confirmed=False`` and
   deadlines carry ``UNCONFIRMED_NOTE``: the notice's 调休 (worked weekends, longer
   blocks) is unknown until it is published. This never raises.

Legal basis of the counting rules:

* 《民法典》第二百零一条: periods counted in days, months or years start the day after
  the event (开始的当日不计入，自下一日开始计算) — hence ``add_working_days`` counts
  strictly after ``start``.
* 《民法典》第二百零二条: a month/year period ends on the corresponding day of the due
  month, or on the month's last day when there is none — hence ``add_months`` clamps.
* 《民法典》第二百零三条: if the last day is a statutory rest day the period ends on the
  day after the rest ends; the last day ends at 24:00 — hence ``Deadline.ends_at`` is
  00:00 Asia/Shanghai of the day after ``due`` (exclusive end).
* 《行政许可法》第八十二条: periods counted in working days exclude statutory holidays;
  rest days and adjusted working days (调休) follow the State Council's yearly notice
  (国务院办公厅关于 YYYY 年部分节假日安排的通知).
"""

from __future__ import annotations

import calendar as _stdcalendar
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from threading import Lock
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "SHANGHAI",
    "UNCONFIRMED_NOTE",
    "DayInfo",
    "Deadline",
    "HolidayDataError",
    "LegalCalendar",
    "add_months",
    "day_start",
    "last_day",
    "local_date",
    "statutory_period_end",
]

SHANGHAI: ZoneInfo = ZoneInfo("Asia/Shanghai")
UNCONFIRMED_NOTE = "节假日安排未确认"

_ONE_DAY = timedelta(days=1)

# Library labels (English enum values of chinese_calendar.constants.Holiday) → the names
# used in the State Council notices.
_LIBRARY_NAMES: dict[str, str] = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "Mid-autumn Festival": "中秋节",
    "National Day": "国庆节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}


class HolidayDataError(ValueError):
    """A holiday data file is malformed or inconsistent."""


@dataclass(frozen=True)
class DayInfo:
    """Working status of one calendar day."""

    day: date
    working: bool
    confirmed: bool
    holiday_name: str | None
    # Name of the holiday this weekend day is worked for (调休上班), else None.
    makeup_for: str | None = None


@dataclass(frozen=True)
class Deadline:
    """Last day on which an act is on time, with its exclusive end instant."""

    due: date
    ends_at: datetime
    confirmed: bool
    note: str | None


@dataclass(frozen=True)
class _Year:
    """Resolved arrangement of one year."""

    year: int
    confirmed: bool
    source: str
    holidays: dict[date, str] = field(default_factory=dict)
    workdays: dict[date, str] = field(default_factory=dict)


def local_date(dt: datetime) -> date:
    """Return the Asia/Shanghai calendar date of an aware datetime; naive raises ValueError."""
    if not isinstance(dt, datetime):
        raise TypeError(f"expected datetime, got {type(dt).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("naive datetime: attach a timezone before converting to a local date")
    return dt.astimezone(SHANGHAI).date()


def day_start(d: date) -> datetime:
    """Return 00:00 Asia/Shanghai of ``d`` as an aware datetime."""
    if isinstance(d, datetime):
        raise TypeError("day_start takes a date; use local_date() for datetimes first")
    return datetime(d.year, d.month, d.day, tzinfo=SHANGHAI)


def add_months(d: date, months: int) -> date:
    """Add calendar months, clamping to the month's last day (民法典第二百零二条)."""
    if isinstance(d, datetime):
        raise TypeError("add_months takes a date, not a datetime")
    index = d.year * 12 + (d.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    last = _stdcalendar.monthrange(year, month)[1]
    return date(year, month, min(d.day, last))


def statutory_period_end(event_day: date, *, months: int = 0, years: int = 0) -> date:
    """Return the exclusive end of a 民法典 201/202 period counted from ``event_day``.

    Every period the platform counts in months or years from a decision — publication
    periods, the minimum period before repair, list durations and minimums, commitment
    exclusions — uses this one rule (民法典第二百零四条: the Code's method applies unless a law
    provides otherwise). A one-year period from 2026-01-15 runs 2026-01-16 … 2027-01-15; the
    exclusive end is 2027-01-16. 第二百零三条's extension past a rest day is not applied: it
    protects a party who must act by the last day, and nobody acts when publication ends.
    """
    # 第二百零一条: the event day is not counted; 第二百零二条: the last day is the
    # corresponding day of the due month (month end when none); it ends at 24:00.
    return add_months(event_day, 12 * years + months) + _ONE_DAY


def last_day(exclusive_end: date) -> date:
    """The last day of a period given its exclusive end: the date to show as 届满/公示截止."""
    return exclusive_end - _ONE_DAY


def _parse_day(value: Any, year: int, where: str) -> date:
    """Parse an ISO date string that must fall in ``year``."""
    if not isinstance(value, str):
        raise HolidayDataError(f"{where}: date must be an ISO string, got {value!r}")
    try:
        parsed = date.fromisoformat(value)
    except ValueError as exc:
        raise HolidayDataError(f"{where}: bad date {value!r}") from exc
    if parsed.year != year:
        raise HolidayDataError(f"{where}: {value} is outside year {year}")
    return parsed


def _parse_entries(raw: Any, year: int, where: str, *, name_required: bool) -> dict[date, str]:
    """Parse a list of ``{"date", "name"}`` objects (or bare date strings) into a mapping."""
    if not isinstance(raw, list):
        raise HolidayDataError(f"{where}: expected a list")
    out: dict[date, str] = {}
    for i, item in enumerate(raw):
        here = f"{where}[{i}]"
        if isinstance(item, dict):
            day = _parse_day(item.get("date"), year, here)
            name = item.get("name", "")
            if not isinstance(name, str):
                raise HolidayDataError(f"{here}: name must be a string")
        elif not name_required:
            day, name = _parse_day(item, year, here), ""
        else:
            raise HolidayDataError(f"{here}: expected an object with date and name")
        if name_required and not name.strip():
            raise HolidayDataError(f"{here}: holiday name is required")
        if day in out:
            raise HolidayDataError(f"{here}: duplicate date {day.isoformat()}")
        out[day] = name.strip()
    return out


def _parse_year_file(text: str, year: int, where: str) -> _Year:
    """Validate and parse one ``<year>.json`` holiday file."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HolidayDataError(f"{where}: invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise HolidayDataError(f"{where}: expected a JSON object")
    if data.get("year") != year:
        raise HolidayDataError(f"{where}: 'year' must be {year}, got {data.get('year')!r}")
    source = data.get("source")
    if not isinstance(source, str) or not source.strip():
        raise HolidayDataError(f"{where}: 'source' (the State Council notice) is required")
    holidays = _parse_entries(
        data.get("holidays", []), year, f"{where}: holidays", name_required=True
    )
    workdays = _parse_entries(
        data.get("workdays", []), year, f"{where}: workdays", name_required=False
    )
    for day in workdays:
        # 调休 only ever turns a Saturday or Sunday into a working day.
        if day.weekday() < 5:
            raise HolidayDataError(f"{where}: workday {day.isoformat()} is not a weekend day")
        if day in holidays:
            raise HolidayDataError(f"{where}: {day.isoformat()} is both holiday and workday")
    return _Year(year, True, source.strip(), holidays, workdays)


def _library_year(year: int) -> _Year | None:
    """Read one year from chinesecalendar, or None when the library lacks it."""
    import chinese_calendar  # imported lazily: nothing heavy at import time

    first = date(year, 1, 1)
    try:
        chinese_calendar.get_holiday_detail(first)
    except NotImplementedError:
        return None
    holidays: dict[date, str] = {}
    workdays: dict[date, str] = {}
    day = first
    while day.year == year:
        rest, label = chinese_calendar.get_holiday_detail(day)
        if label is not None:
            name = _LIBRARY_NAMES.get(label, label)
            if rest:
                holidays[day] = name
            else:
                workdays[day] = name
        day += _ONE_DAY
    version = getattr(chinese_calendar, "__version__", "?")
    return _Year(year, True, f"chinesecalendar {version}", holidays, workdays)


def _statutory_start(rule: dict[str, Any], year: int, where: str) -> date:
    """First day of one statutory holiday in ``year`` (gregorian, lunar or solar term)."""
    kind = rule.get("calendar")
    try:
        if kind == "gregorian":
            first = date(year, int(rule["month"]), int(rule["day"]))
        elif kind == "lunar":
            from lunardate import LunarDate  # imported lazily: only unconfirmed years need it

            first = LunarDate(year, int(rule["month"]), int(rule["day"])).to_solar_date()
        elif kind == "solar_term":
            import chinese_calendar

            term = str(rule["term"])
            found = [
                d
                for d, name in chinese_calendar.get_solar_terms(
                    date(year, 1, 1), date(year, 12, 31)
                )
                if name == term
            ]
            if len(found) != 1:
                raise HolidayDataError(f"{where}: solar term {term!r} not found in {year}")
            first = found[0]
        else:
            raise HolidayDataError(f"{where}: calendar must be gregorian, lunar or solar_term")
    except (KeyError, TypeError, ValueError) as exc:
        raise HolidayDataError(f"{where}: {exc}") from exc
    return first + timedelta(days=int(rule.get("offset", 0)))


def _statutory_year(year: int, text: str, where: str) -> _Year:
    """An unconfirmed year: the statute's holidays, 补休 after weekend ones, else Mon–Fri."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HolidayDataError(f"{where}: invalid JSON: {exc}") from exc
    rules = data.get("holidays") if isinstance(data, dict) else None
    if not isinstance(rules, list) or not rules:
        raise HolidayDataError(f"{where}: 'holidays' must be a non-empty list")
    since = data.get("in_force_from")
    if not isinstance(since, int):
        raise HolidayDataError(f"{where}: 'in_force_from' (the statute's first year) is required")
    if year < since:  # another statute applied: weekdays only
        return _Year(year, False, UNCONFIRMED_NOTE)
    holidays: dict[date, str] = {}
    blocks: list[tuple[str, list[date]]] = []
    for i, rule in enumerate(rules):
        here = f"{where}: holidays[{i}]"
        if not isinstance(rule, dict) or not str(rule.get("name", "")).strip():
            raise HolidayDataError(f"{here}: expected an object with a name")
        first = _statutory_start(rule, year, here)
        days = [first + timedelta(days=k) for k in range(int(rule.get("days", 1)))]
        blocks.append((str(rule["name"]).strip(), days))
        for d in days:
            if d.year == year:
                holidays.setdefault(d, str(rule["name"]).strip())
    if data.get("weekend_makeup", True):
        for name, days in blocks:
            owed = sum(1 for d in days if d.weekday() >= 5 and d.year == year)
            d = max(days)
            while owed:
                d += _ONE_DAY
                if d.year == year and d.weekday() < 5 and d not in holidays:
                    holidays[d] = f"{name}（补休）"
                    owed -= 1
    return _Year(
        year, False, f"{UNCONFIRMED_NOTE}：按{data.get('basis', '法定节假日')}推算", holidays
    )


class LegalCalendar:
    """Chinese statutory working-day calendar with per-year caching."""

    def __init__(self, extra_data_dir: Path | None = None) -> None:
        """Remember the data locations; files are read lazily, one year at a time."""
        self._extra_dir = Path(extra_data_dir) if extra_data_dir is not None else None
        self._packaged_dir: Traversable = files("citycredit.shared") / "data" / "holidays"
        self._years: dict[int, _Year] = {}
        self._lock = Lock()

    def _data_file(self, year: int) -> tuple[Traversable, str] | None:
        """Find the data file for ``year``: extra directory first, then packaged data."""
        name = f"{year}.json"
        if self._extra_dir is not None:
            candidate = self._extra_dir / name
            if candidate.is_file():
                return candidate, str(candidate)
        packaged = self._packaged_dir / name
        if packaged.is_file():
            return packaged, f"citycredit/shared/data/holidays/{name}"
        return None

    def _year(self, year: int) -> _Year:
        """Resolve (and cache) the arrangement of ``year``."""
        cached = self._years.get(year)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._years.get(year)
            if cached is not None:
                return cached
            found = self._data_file(year)
            if found is not None:
                resource, where = found
                resolved = _parse_year_file(resource.read_text(encoding="utf-8"), year, where)
            else:
                resolved = _library_year(year) or self._unconfirmed_year(year)
            self._years[year] = resolved
            return resolved

    def _unconfirmed_year(self, year: int) -> _Year:
        """A year no notice covers: the statutory rules (the operator's file, else ours)."""
        name = "statutory.json"
        rules: Traversable = self._packaged_dir / name
        where = f"citycredit/shared/data/holidays/{name}"
        if self._extra_dir is not None and (self._extra_dir / name).is_file():
            rules, where = self._extra_dir / name, str(self._extra_dir / name)
        return _statutory_year(year, rules.read_text(encoding="utf-8"), where)

    def year_source(self, year: int) -> str:
        """Describe where ``year``'s arrangement comes from (notice, library or unconfirmed)."""
        return self._year(year).source

    def day(self, d: date) -> DayInfo:
        """Return the working status of ``d``."""
        if isinstance(d, datetime):
            raise TypeError("LegalCalendar.day takes a date; use local_date() for datetimes")
        info = self._year(d.year)
        if d in info.workdays:
            return DayInfo(d, True, info.confirmed, None, info.workdays[d] or None)
        if d in info.holidays:
            return DayInfo(d, False, info.confirmed, info.holidays[d])
        return DayInfo(d, d.weekday() < 5, info.confirmed, None)

    def is_working_day(self, d: date) -> bool:
        """Return True when ``d`` is a working day."""
        return self.day(d).working

    def _days(self, start: date) -> Iterator[DayInfo]:
        """Yield DayInfo for ``start`` and every following day."""
        d = start
        while True:
            yield self.day(d)
            d += _ONE_DAY

    def add_working_days(self, start: date, n: int) -> Deadline:
        """Return the deadline falling on the n-th working day strictly after ``start``."""
        # 民法典第二百零一条: the day of the act is not counted, counting starts the next
        # day. n == 0 ("当日") means the act is due on ``start`` itself; when ``start`` is
        # a rest day, 第二百零三条 moves the last day past the rest, i.e. to the next
        # working day. Only days actually examined affect ``confirmed``.
        if isinstance(start, datetime):
            raise TypeError("add_working_days takes a date; use local_date() first")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        confirmed = True
        if n == 0:
            days = self._days(start)
            remaining = 1
        else:
            days = self._days(start + _ONE_DAY)
            remaining = n
        for info in days:
            confirmed = confirmed and info.confirmed
            if info.working:
                remaining -= 1
                if remaining == 0:
                    return _deadline(info.day, confirmed)
        raise AssertionError("unreachable")  # pragma: no cover

    def working_days_between(self, start: date, end: date) -> tuple[int, bool]:
        """Count working days in ``[start, end)``; the flag is False if any day is unconfirmed."""
        if isinstance(start, datetime) or isinstance(end, datetime):
            raise TypeError("working_days_between takes dates; use local_date() first")
        count = 0
        confirmed = True
        d = start
        while d < end:
            info = self.day(d)
            count += info.working
            confirmed = confirmed and info.confirmed
            d += _ONE_DAY
        return count, confirmed


def _deadline(due: date, confirmed: bool) -> Deadline:
    """Build a Deadline ending at 24:00 of ``due`` (民法典第二百零三条)."""
    return Deadline(
        due=due,
        ends_at=day_start(due + _ONE_DAY),
        confirmed=confirmed,
        note=None if confirmed else UNCONFIRMED_NOTE,
    )
