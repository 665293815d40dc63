"""Number and date parsing: the vectorised fast paths agree with the careful ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tryggkarta.ingest.parse import _arrow_floats, parse_dates, parse_numbers

CELLS = [
    ("12,5", 12.5, False),
    ("13.25", 13.25, False),
    ("-1,5e3", -1500.0, False),
    ("+4", 4.0, False),
    (".5", 0.5, False),
    (" 12,5", 12.5, False),  # a space: Arrow refuses, the careful path strips it
    ("1 234,5", 1234.5, False),  # thousands separator
    ("\u22123,2", -3.2, False),  # Unicode minus
    ("abc", np.nan, True),
    ("inf", np.inf, True),  # present but not finite: rejected
    ("nan", np.nan, True),
    ("1e400", np.inf, True),
    (None, np.nan, False),  # missing is not "bad": the caller reports it as missing
]


@pytest.mark.parametrize(("cell", "value", "bad"), CELLS)
def test_numbers_with_a_clean_neighbour(cell, value, bad) -> None:
    """Each cell beside a clean one: a bad cell sends the column down the careful path, and the
    clean cell's value is the same either way."""
    got, flags = parse_numbers(pd.Series([cell, "58,38"], dtype=object))
    np.testing.assert_equal(got[0], value)
    assert bool(flags[0]) is bad
    assert got[1] == 58.38 and not flags[1]


def test_arrow_fast_path_takes_clean_columns_only() -> None:
    clean = pd.Series(["58,38", "13.4", None], dtype="string")
    assert np.allclose(_arrow_floats(clean)[:2], [58.38, 13.4])
    assert _arrow_floats(pd.Series(["58,38", "x"], dtype="string")) is None


def test_dates_with_odd_whitespace_parse_like_single_spaced() -> None:
    cells = pd.Series(
        ["2024-01-01  10:00", "2024-01-01\t10:00", "2024-01-01\u00a010:00", "2024-01-01 10:00"],
        dtype=object,
    )
    got, bad, _used = parse_dates(cells)
    assert not bad.any()
    assert got.nunique() == 1 and got.iloc[0] == pd.Timestamp("2024-01-01 09:00", tz="UTC")
