"""RFC 3339 times, read and written the way the Rust side (chrono) does."""

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

    Accepts what chrono's `DateTime` parser accepts in practice: `T`, `t` or a space
    between date and time, any number of fraction digits (kept to the microsecond),
    `Z`, `UTC` or a `+hh:mm` / `+hhmm` offset.
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
    try:
        value = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError as e:
        raise ValueError(f"not an RFC 3339 time ({e}): {text!r}") from None
    return value.astimezone(timezone.utc)


def format_time(value: datetime) -> str:
    """UTC with `Z`, fraction only when non-zero (3 or 6 digits), like chrono's serde output."""
    value = value.astimezone(timezone.utc)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
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
