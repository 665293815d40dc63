"""When incidents happen: hour × weekday profile in local time (``config.local_timezone()``,
default Europe/Stockholm), and peak windows."""

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
    """Counts by weekday (Mon = 0) × hour (0–23) in local time (``TRYGGKARTA_TIMEZONE``).

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


def window_sums(profile: ArrayLike, lengths: ArrayLike) -> NDArray[np.float64]:
    """Incidents in every cyclic window of the week: ``out[i, s]`` is the sum of the 168-hour
    profile over ``lengths[i]`` hours starting at hour ``s`` (Monday 00 = 0; Sunday night runs
    into Monday)."""
    prof = np.asarray(profile, dtype=np.float64).reshape(-1)
    lengths = np.asarray(lengths, dtype=np.int64)
    ext = np.concatenate([[0.0], np.cumsum(np.concatenate([prof, prof]))])
    starts = np.arange(prof.size)
    return ext[starts[None, :] + lengths[:, None]] - ext[starts[None, :]]


def choose_windows(
    profile: ArrayLike, top: int = 3, *, min_hours: int = 3, max_hours: int = 8
) -> list[tuple[int, int]]:
    """The busiest time windows of an hour × weekday profile as ``(start hour, length)``.

    Every window of ``min_hours``–``max_hours`` hours (cyclic over the 168 hours of the week)
    is scored by its incidents *above the week's mean hourly rate*, ``S − L · total / 168``:
    a longer window wins only when its extra hours are busier than an average hour, so a
    weekday whose incidents are spread over an evening (six hours with 9 incidents) is not
    lost to a shorter spike elsewhere (three hours with 6). The best-scoring window is taken
    (ties: more incidents, then shorter, then earlier in the week), its hours are removed,
    and the next is chosen from the windows that do not overlap it; ``top`` times.

    So each chosen window holds the most incidents of all the windows of its length that
    do not overlap the windows chosen before it, and the first window is the one with the
    most incidents above the mean of all windows. Only windows busier than an average hour of
    the week are chosen (an even profile has no peak), so fewer than ``top`` may come back.

    The busiest hour of the week is always in a window: when the picks above miss every
    busiest hour (a lone spike next to broader evenings), the last pick gives way to the
    best-scoring free window that holds a busiest hour.
    """
    prof = np.asarray(profile, dtype=np.float64).reshape(-1)
    if prof.size != 168:
        raise ValueError("profile must have shape (7, 24).")
    if not 1 <= min_hours <= max_hours <= 168:
        raise ValueError("need 1 <= min_hours <= max_hours <= 168.")
    total = float(prof.sum())
    if total <= 0:
        return []
    rate = total / 168.0
    lengths = np.arange(min_hours, max_hours + 1)
    sums = window_sums(prof, lengths)
    score = sums - lengths[:, None] * rate
    length_of = np.broadcast_to(lengths[:, None], sums.shape)
    start_of = np.broadcast_to(np.arange(168)[None, :], sums.shape)
    used = np.zeros(168)
    out: list[tuple[int, int]] = []

    def pick(ok: NDArray[np.bool_]) -> tuple[int, int]:
        # lexsort: last key first — best score, then most incidents, shortest, earliest
        order = np.lexsort((start_of[ok], length_of[ok], -sums[ok], -np.round(score[ok], 9)))
        return int(start_of[ok][order[0]]), int(length_of[ok][order[0]])

    for _ in range(top):  # a handful of picks; every window is scored at once
        ok = (window_sums(used, lengths) == 0) & (sums > 0) & (score > 1e-9)
        if not ok.any():
            break
        start, length = pick(ok)
        used[(start + np.arange(length)) % 168] = 1
        out.append((start, length))
    peak = prof == prof.max()
    if top > 0 and prof.max() > rate and not (used.astype(bool) & peak).any():
        # no window holds a busiest hour: the last one gives way to the busiest window that does
        if len(out) == top:
            start, length = out.pop()
            used[(start + np.arange(length)) % 168] = 0
        ok = (window_sums(used, lengths) == 0) & (window_sums(peak, lengths) > 0)
        if ok.any():
            out.append(pick(ok))
    return out


def peak_windows(
    profile: ArrayLike, top: int = 3, *, lang: str = "sv", min_hours: int = 3, max_hours: int = 8
) -> list[tuple[str, str]]:
    """Most active time windows of an hour × weekday profile, human readable.

    The windows are chosen by :func:`choose_windows` (most incidents above the week's mean
    hourly rate, ``min_hours``–``max_hours`` long, not overlapping).

    Returns
    -------
    list of (days, hours)
        e.g. ``[("fre–lör", "20–02"), ("lör", "12–16")]`` (Swedish) or
        ``[("Fri–Sat", "20–02"), ...]`` for ``lang="en"``; hours are start–end (end
        exclusive). Empty when the profile has no incidents.
    """
    days = WEEKDAYS_EN if lang == "en" else WEEKDAYS_SV
    chosen = choose_windows(profile, top, min_hours=min_hours, max_hours=max_hours)
    return [_fmt(start, length, days) for start, length in chosen]
