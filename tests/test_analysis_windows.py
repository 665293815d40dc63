""" "When to be there": the chosen windows against a brute-force count over every window."""

from __future__ import annotations

import numpy as np
import pytest

from tryggkarta.analysis.temporal import choose_windows, peak_windows, window_sums

#: The weekly picture's Väster hot spot (demo data): Thursday has the most incidents (9),
#: spread over 16–22; Saturday has a sharper 3-hour peak (6).
VASTER = np.zeros((7, 24), dtype=int)
VASTER[0, 18:22] = [2, 1, 2, 1]
VASTER[1, 18:22] = [2, 2, 1, 1]
VASTER[2, 17:21] = [3, 0, 1, 1]
VASTER[3, 16:22] = [1, 2, 1, 1, 2, 2]
VASTER[4, 19] = 1
VASTER[5, 19:22] = [3, 1, 2]
VASTER[6, [11, 18, 21]] = [1, 3, 2]


def brute_sum(prof: np.ndarray, start: int, length: int) -> float:
    return float(sum(prof[(start + k) % 168] for k in range(length)))


def hours(start: int, length: int) -> set[int]:
    return {(start + k) % 168 for k in range(length)}


def random_profile(rng: np.random.Generator) -> np.ndarray:
    """Sparse background plus a few peaks of random width, height and day."""
    prof = rng.poisson(rng.uniform(0.0, 0.4), 168).astype(float)
    for _ in range(rng.integers(0, 4)):
        start, width = rng.integers(0, 168), rng.integers(1, 10)
        prof[(start + np.arange(width)) % 168] += rng.poisson(rng.uniform(0.5, 6), width)
    return prof


def test_the_busiest_weekday_of_vaster_is_the_first_window() -> None:
    assert VASTER.sum(axis=1).argmax() == 3  # Thursday
    windows = peak_windows(VASTER, lang="sv")
    assert windows[0] == ("tor", "16–22")
    assert peak_windows(VASTER, lang="en")[0] == ("Thu", "16–22")
    start, length = choose_windows(VASTER)[0]
    assert brute_sum(VASTER.ravel().astype(float), start, length) == 9


def test_window_sums_match_a_loop() -> None:
    prof = random_profile(np.random.default_rng(5))
    sums = window_sums(prof, [1, 3, 8, 168])
    for i, length in enumerate([1, 3, 8, 168]):
        assert sums[i].tolist() == [brute_sum(prof, s, length) for s in range(168)]


def reference(prof: np.ndarray, top: int, min_h: int, max_h: int) -> list[tuple[int, int]]:
    """The same rule, counted window by window with Python loops."""
    rate = prof.sum() / 168
    windows = [(s, n, brute_sum(prof, s, n)) for n in range(min_h, max_h + 1) for s in range(168)]
    taken: set[int] = set()
    out: list[tuple[int, int]] = []

    def best(keep) -> tuple[int, int] | None:  # noqa: ANN001
        ok = [(-round(t - n * rate, 9), -t, n, s) for s, n, t in windows if keep(s, n, t)]
        return (min(ok)[3], min(ok)[2]) if ok else None

    for _ in range(top):
        found = best(lambda s, n, t: not hours(s, n) & taken and t > 0 and t - n * rate > 1e-9)
        if found is None:
            break
        out.append(found)
        taken |= hours(*found)
    peaks = set(np.flatnonzero(prof == prof.max()).tolist())
    if prof.max() > rate and not peaks & taken:
        if len(out) == top:
            taken -= hours(*out.pop())
        found = best(lambda s, n, t: not hours(s, n) & taken and hours(s, n) & peaks)
        if found:
            out.append(found)
    return out


@pytest.mark.parametrize("seed", range(300))
def test_windows_are_the_busiest_for_their_length(seed: int) -> None:
    rng = np.random.default_rng(seed)
    prof = random_profile(rng)
    min_h, max_h = int(rng.integers(1, 4)), int(rng.integers(4, 9))
    chosen = choose_windows(prof, 3, min_hours=min_h, max_hours=max_h)
    assert chosen == reference(prof, 3, min_h, max_h)
    rate = prof.sum() / 168
    peaks = set(np.flatnonzero(prof == prof.max()).tolist())
    taken: set[int] = set()
    for i, (start, length) in enumerate(chosen):
        assert min_h <= length <= max_h
        mine = brute_sum(prof, start, length)
        assert mine > 0
        assert not hours(start, length) & taken  # no overlap with earlier windows
        # no free window of the same length holds more incidents — among all free windows,
        # or (the window that holds the busiest hour) among those holding a busiest hour
        rivals = [
            brute_sum(prof, other, length)
            for other in range(168)
            if not hours(other, length) & taken
        ]
        peak_rivals = [
            brute_sum(prof, other, length)
            for other in range(168)
            if not hours(other, length) & taken and hours(other, length) & peaks
        ]
        assert mine >= max(rivals) - 1e-9 or (
            hours(start, length) & peaks and mine >= max(peak_rivals) - 1e-9
        ), (i, start, length)
        if i == 0:  # the first window is the best of all, whenever one beats the average
            best = max(
                brute_sum(prof, s, n) - n * rate
                for s in range(168)
                for n in range(min_h, max_h + 1)
            )
            if best > 1e-9:
                assert mine - length * rate == pytest.approx(best)
        taken |= hours(start, length)
    # a busiest hour of the week is always in a window (unless the profile is even)
    if prof.max() > rate:
        assert peaks & taken


def test_no_windows_for_an_empty_or_even_profile() -> None:
    assert choose_windows(np.zeros(168)) == []
    assert choose_windows(np.full(168, 2.0)) == []
    with pytest.raises(ValueError, match="shape"):
        choose_windows(np.zeros(100))
