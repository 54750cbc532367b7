"""The one text form of a moment: UTC "YYYY-MM-DD HH:MM:SS" (CONVENTIONS §5), read and written here.

The year is always four digits: `strftime("%Y")` writes year 999 as "999", which nothing reads back.
"""

from __future__ import annotations

from datetime import UTC, datetime


def to_utc(moment: datetime) -> datetime:
    """The moment in UTC; a naive one already is. ValueError when UTC has no such moment (year 1 at +05:00)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{moment.isoformat()} is outside the years 1 to 9999 in UTC") from None


def format_utc(moment: datetime) -> str:
    """ "YYYY-MM-DD HH:MM:SS" in UTC, fractions of a second dropped."""
    # A page of contacts writes about a hundred of these: moments already in UTC (all that the
    # database gives back) skip the conversion, and the offset isoformat writes is cut off.
    if moment.tzinfo is not None and moment.utcoffset():
        moment = to_utc(moment)
    return moment.isoformat(" ", "seconds")[:19]


def parse_utc(text: str) -> datetime:
    """An aware UTC moment from "YYYY-MM-DD HH:MM:SS" (UTC) or ISO 8601 with an offset; ValueError otherwise."""
    return to_utc(datetime.fromisoformat(text.strip()))
