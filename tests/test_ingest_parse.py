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


@pytest.mark.parametrize(
    ("cells", "expected", "bad"),
    [
        (["1.234,5", "2,5"], [1234.5, 2.5], [False, False]),  # Swedish: "." groups, "," decimal
        (["1,234.5", "2.5"], [1234.5, 2.5], [False, False]),  # English
        (["1 234,5", "1\u00a0234,5"], [1234.5, 1234.5], [False, False]),
        (["1.234.567", "1,234,567"], [1234567.0, 1234567.0], [False, False]),
        (["1.234.567,89", "-1 234,5"], [1234567.89, -1234.5], [False, False]),
        (["1,234", "58.3862"], [1234.0, 58.3862], [False, False]),  # the column's "." is decimal
        (["1.234", "58,3862"], [1234.0, 58.3862], [False, False]),  # the column's "," is decimal
        (["1,234", "58,3862"], [1.234, 58.3862], [False, False]),
        (["1.234", "13.438"], [1.234, 13.438], [False, False]),  # nothing says otherwise
        (["1.234", "58,38", "2.75"], [np.nan, 58.38, 2.75], [True, False, False]),  # both used
        (["1.23,4", "12.34.5", "1,2.3"], [np.nan] * 3, [True] * 3),  # not thousands groups
    ],
)
def test_swedish_and_english_number_forms(cells, expected, bad) -> None:
    got, flags = parse_numbers(pd.Series(cells, dtype="string"))
    np.testing.assert_allclose(got, expected, equal_nan=True)
    assert flags.tolist() == bad


def test_spreadsheet_numbers_are_never_ambiguous() -> None:
    """A number cell (13.438 from XLSX) beside text with a decimal comma stays 13.438."""
    got, flags = parse_numbers(pd.Series([13.438, "13,4412"], dtype=object))
    np.testing.assert_allclose(got, [13.438, 13.4412])
    assert not flags.any()


def test_planned_dates_may_lie_in_the_future_events_not() -> None:
    cells = pd.Series(["2027-03-01", "1850-01-01"], dtype="string")
    why: dict = {}
    _got, bad, _ = parse_dates(cells, why=why)
    assert bad.tolist() == [True, True] and why["future"].tolist() == [True, False]
    assert why["early"].tolist() == [False, True]
    got, bad, _ = parse_dates(cells, future_days=None)
    assert bad.tolist() == [False, True] and got.iloc[0].year == 2027


def test_24_00_is_the_end_of_the_day() -> None:
    """A valid "24:00" (end of day, common in Swedish reports) is midnight of the next day."""
    cells = pd.Series(["2021-02-22 24:00", "2021-02-22 23:59", "2021-02-22 24:01"], dtype="string")
    got, bad, _ = parse_dates(cells)
    assert bad.tolist() == [False, False, True]
    assert got.iloc[0] == pd.Timestamp("2021-02-22 23:00", tz="UTC")  # 00:00 CET on the 23rd
