"""Shift DA and DT values by whole days, keeping every interval."""

from __future__ import annotations

import datetime as dt
import functools

_MIN = dt.date(1, 1, 1)


@functools.lru_cache(maxsize=4096)
def shift_da(value: str, days: int) -> str:
    """Shift a DA value ``YYYYMMDD`` (or legacy ``YYYY.MM.DD``); ``""`` if unparsable.

    Cached: the frames of one object repeat the same few dates.
    """
    text = value.strip().replace(".", "")
    if not text:
        return ""
    try:
        if len(text) == 8 and text.isascii() and text.isdigit():
            day = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        else:
            day = dt.datetime.strptime(text, "%Y%m%d").date()
        return (day + dt.timedelta(days=days)).strftime("%Y%m%d")
    except (ValueError, OverflowError):
        return ""


def shift_dt(value: str, days: int) -> str:
    """Shift the date part of a DT value, keeping time, fraction and offset as they were.

    A DT holding only a year or year-month is shifted at its first day and cut back to the
    same precision. Unparsable values become ``""``.
    """
    text = value.strip()
    if not text:
        return ""
    head = text[:8]
    if len(head) < 4 or not head.isdigit():
        return ""
    padded = head + "0101"[len(head) - 4 :] if len(head) < 8 else head
    shifted = shift_da(padded, days)
    if not shifted:
        return ""
    return shifted[: len(head)] + text[len(head) :]
