"""Hour × weekday profile in Europe/Stockholm (oracle: zoneinfo) and peak windows."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from tryggkarta.analysis import hour_weekday_profile, peak_windows


def zoneinfo_profile(ts):
    ref = np.zeros((7, 24), dtype=int)
    for t in ts:  # oracle: one datetime at a time
        loc = datetime.fromtimestamp(int(t.astype("datetime64[s]").astype(np.int64)), UTC)
        loc = loc.astimezone(ZoneInfo("Europe/Stockholm"))
        ref[loc.weekday(), loc.hour] += 1
    return ref


def test_profile_matches_zoneinfo_across_dst():
    rng = np.random.default_rng(0)
    start = np.datetime64("2023-01-01T00:00", "s").astype(np.int64)
    secs = rng.integers(0, 3 * 365 * 86400, 2000)
    ts = (start + secs).astype("datetime64[s]")
    dst = np.array(
        ["2024-03-31T00:59", "2024-03-31T01:00", "2024-10-27T00:30", "2024-10-27T01:30"],
        dtype="datetime64[s]",
    )
    ts = np.concatenate([ts, dst])
    prof = hour_weekday_profile(ts)
    assert prof.shape == (7, 24) and prof.sum() == ts.size
    np.testing.assert_array_equal(prof, zoneinfo_profile(ts))


def test_tz_aware_pandas_and_nat():
    idx = pd.DatetimeIndex(["2024-06-07 22:15", "2024-06-08 01:10"], tz="Europe/Stockholm")
    prof = hour_weekday_profile(idx)
    assert prof[4, 22] == 1 and prof[5, 1] == 1
    prof2 = hour_weekday_profile(np.array(["2024-06-07T20:15", "NaT"], dtype="datetime64[ns]"))
    assert prof2.sum() == 1 and prof2[4, 22] == 1  # 20:15 UTC = 22:15 CEST
    assert hour_weekday_profile(np.array([], dtype="datetime64[ns]")).sum() == 0


def test_peak_windows_sv_en():
    prof = np.zeros((7, 24))
    prof[4, 20:] = 5
    prof[5, :2] = 5
    prof[5, 12:16] = 3
    assert peak_windows(prof, top=2) == [("fre–lör", "20–02"), ("lör", "12–16")]
    assert peak_windows(prof, top=2, lang="en") == [("Fri–Sat", "20–02"), ("Sat", "12–16")]
    assert peak_windows(np.zeros((7, 24))) == []
    wrap = np.zeros((7, 24))
    wrap[6, 22:] = 4
    wrap[0, :2] = 4
    assert peak_windows(wrap, top=1) == [("sön–mån", "22–02")]
