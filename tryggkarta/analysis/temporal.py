"""When incidents happen: hour × weekday profile in Swedish local time, and peak windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from tryggkarta.config import local_timezone

WEEKDAYS_SV = ("mån", "tis", "ons", "tor", "fre", "lör", "sön")
WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def as_utc(timestamps: ArrayLike) -> NDArray[np.datetime64]:
    """Timestamps as naive UTC ``datetime64[ns]`` (NaT kept).

    numpy ``datetime64`` values and tz-naive pandas timestamps are taken as **UTC** (the
    store keeps UTC); tz-aware pandas timestamps are converted to UTC.
    """
    if isinstance(timestamps, pd.DatetimeIndex):
        idx = timestamps
    elif isinstance(timestamps, pd.Series):
        idx = pd.DatetimeIndex(timestamps)
    elif isinstance(timestamps, pd.Timestamp):
        idx = pd.DatetimeIndex([timestamps])
    else:
        arr = np.asarray(timestamps)
        idx = pd.DatetimeIndex(pd.to_datetime(arr.ravel(), utc=arr.dtype == object))
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return np.asarray(idx.values, dtype="datetime64[ns]")


def to_local(timestamps: ArrayLike) -> pd.DatetimeIndex:
    """Timestamps (see :func:`as_utc`) in the local time zone (``TRYGGKARTA_TIMEZONE``,
    :func:`tryggkarta.config.local_timezone`) as a DatetimeIndex, NaT dropped."""
    t = as_utc(timestamps)
    t = t[~np.isnat(t)]
    return pd.DatetimeIndex(t).tz_localize("UTC").tz_convert(local_timezone())


def hour_weekday_profile(timestamps: ArrayLike) -> NDArray[np.int64]:
    """Counts by weekday (Mon = 0) × hour (0–23) in Europe/Stockholm local time.

    Parameters
    ----------
    timestamps : array_like
        numpy ``datetime64`` (interpreted as UTC), a tz-naive pandas index (UTC) or a
        tz-aware pandas ``DatetimeIndex``/``Series`` (converted). NaT values are ignored.

    Returns
    -------
    ndarray of int64, shape (7, 24)
    """
    local = to_local(timestamps)
    flat = np.asarray(local.day_of_week, dtype=np.int64) * 24 + np.asarray(
        local.hour, dtype=np.int64
    )
    return np.bincount(flat, minlength=168).reshape(7, 24)


def _fmt(start: int, length: int, days: tuple[str, ...]) -> tuple[str, str]:
    end = start + length - 1  # last hour included (168-cyclic)
    d0, d1 = (start // 24) % 7, (end // 24) % 7
    day = days[d0] if d0 == d1 else f"{days[d0]}–{days[d1]}"
    hours = f"{start % 24:02d}–{(end + 1) % 24:02d}"
    return day, hours


def peak_windows(
    profile: ArrayLike, top: int = 3, *, lang: str = "sv", min_hours: int = 3, max_hours: int = 8
) -> list[tuple[str, str]]:
    """Most active time windows of an hour × weekday profile, human readable.

    The 168 hours of the week are treated as a cycle (Sunday night runs into Monday). The
    busiest ``min_hours`` window is picked, extended one hour at a time to the busier side
    while that hour has at least half the window's mean hourly count (up to ``max_hours``),
    and the windows it covers are removed; repeated ``top`` times. Ties go to the earliest
    hour of the week.

    Returns
    -------
    list of (days, hours)
        e.g. ``[("fre–lör", "20–02"), ("lör", "12–16")]`` (Swedish) or
        ``[("Fri–Sat", "20–02"), ...]`` for ``lang="en"``; hours are start–end (end
        exclusive). Empty when the profile has no incidents.
    """
    prof = np.asarray(profile, dtype=np.float64).reshape(-1)
    if prof.size != 168:
        raise ValueError("profile must have shape (7, 24).")
    days = WEEKDAYS_EN if lang == "en" else WEEKDAYS_SV
    used = np.zeros(168, dtype=bool)
    out: list[tuple[str, str]] = []
    idx = np.arange(168)
    for _ in range(top):
        avail = np.where(used, -np.inf, prof)
        win = sum(np.roll(avail, -k) for k in range(min_hours))  # window starting at each hour
        start = int(np.argmax(win))
        if not np.isfinite(win[start]) or win[start] <= 0:
            break
        length = min_hours
        while length < max_hours:
            mean = sum(prof[(start + k) % 168] for k in range(length)) / length
            left, right = (start - 1) % 168, (start + length) % 168
            cand = [(prof[h], -i, h) for i, h in enumerate((right, left)) if not used[h]]
            if not cand:
                break
            val, _, h = max(cand)
            if val < 0.5 * mean or val <= 0:
                break
            start = start - 1 if h == left else start
            length += 1
        used[(start + idx[:length]) % 168] = True
        out.append(_fmt(start % 168, length, days))
    return out
