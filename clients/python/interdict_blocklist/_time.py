"""RFC 3339 times, read by the grammar of `interdict::core::document::time` and
written the way the Rust side (chrono) does."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Union

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?\s*"
    r"(?:([Zz])|([Uu][Tt][Cc])|([+-])(\d{2}):?(\d{2}))",
    re.ASCII,
)

TimeLike = Union[datetime, str]


def parse_time(text: str) -> datetime:
    """Parses an RFC 3339 time (`2027-01-15T08:00:00Z`, `...+02:00`) into an aware UTC datetime.

    The grammar of the Rust reader (`interdict::core::document::time::parse_time`):
    `T`, `t` or a space between date and time, any number of fraction digits (kept
    to the microsecond), optional ASCII spaces, then `Z`, `UTC` (any case) or a
    `+hh:mm` / `+hhmm` offset. The instant must fall in the years 0001 to 9999 once
    converted to UTC (`+21192-01-01T00:00:00Z`, year 0000, or `9999-12-31T23:30:00-01:00`
    are refused); so are leap seconds (`:60`). Raises `ValueError`.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected an RFC 3339 time string, got {type(text).__name__}")
    m = _RFC3339.fullmatch(text)
    if not m:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    fraction = m.group(7) or ""
    micro = int((fraction + "000000")[:6]) if fraction else 0
    if m.group(10):
        oh, om = int(m.group(11)), int(m.group(12))
        if oh > 23 or om > 59:
            raise ValueError(f"not an RFC 3339 time (offset): {text!r}")
        sign = 1 if m.group(10) == "+" else -1
        tz = timezone(sign * timedelta(hours=oh, minutes=om))
    else:
        tz = timezone.utc
    if year == 0:
        raise ValueError(f"{text!r} is outside the years 0001 to 9999 (UTC)")
    try:
        value = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError as e:
        raise ValueError(f"not a valid date and time ({e}): {text!r}") from None
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:  # the offset moves it into year 0 or 10000
        raise ValueError(f"{text!r} is outside the years 0001 to 9999 (UTC)") from None


def format_time(value: datetime) -> str:
    """UTC with `Z`, fraction only when non-zero (3 or 6 digits), like chrono's serde output."""
    value = value.astimezone(timezone.utc)
    # Not strftime: its %Y drops the leading zeros of years before 1000 on glibc.
    text = (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )
    micro = value.microsecond
    if micro:
        text += f".{micro // 1000:03d}" if micro % 1000 == 0 else f".{micro:06d}"
    return text + "Z"


def to_utc(value: TimeLike | None) -> datetime:
    """`None` is now; strings are parsed; naive datetimes are refused (ambiguous)."""
    if value is None:
        return datetime.now(timezone.utc)
    if isinstance(value, str):
        return parse_time(value)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: give a timezone-aware time (e.g. datetime.now(timezone.utc))")
        return value.astimezone(timezone.utc)
    raise TypeError(f"expected a datetime or an RFC 3339 string, got {type(value).__name__}")
