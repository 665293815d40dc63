"""Effect evaluation: hand-computed difference-in-differences and WDQ examples."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from shapely.geometry import LineString, Point, box

from tryggkarta.analysis.effect import (
    MIN_EVENTS,
    EffectAreas,
    EffectInputError,
    build_areas,
    check_areas,
    count_in_areas,
    did,
    evaluate_counts,
    wdq,
)

Z95 = 1.959963984540054


def test_did_hand_computed_no_clear_change() -> None:
    # T: 20 → 10, C: 40 → 40. Ratio (10/20)/(40/40) = 0.5; se(log) = sqrt(.05+.1+.025+.025).
    r = did(20, 10, 40, 40)
    assert r.ratio == pytest.approx(0.5)
    se = math.sqrt(0.2)
    assert r.ratio_low == pytest.approx(math.exp(math.log(0.5) - Z95 * se))
    assert r.ratio_high == pytest.approx(math.exp(math.log(0.5) + Z95 * se))
    assert r.ratio_low == pytest.approx(0.2081, abs=1e-4)
    assert r.ratio_high == pytest.approx(1.2013, abs=1e-4)
    assert not r.corrected
    # WDD = ΔT − ΔC = −10 − 0; Var = 20 + 10 + 40 + 40 = 110.
    assert r.wdd == -10
    assert r.wdd_se == pytest.approx(math.sqrt(110))
    assert r.z == pytest.approx(-10 / math.sqrt(110))
    assert r.expected_after == pytest.approx(20.0)
    assert r.comparable  # 20 vs 40: within a factor 2
    assert r.verdict == "no_clear_change"


def test_did_hand_computed_decrease() -> None:
    # T: 60 → 20, C: 60 → 60. Ratio 1/3, se(log) = sqrt(0.1); WDD = −40, se = sqrt(200).
    r = did(60, 20, 60, 60)
    assert r.ratio == pytest.approx(1 / 3)
    assert r.ratio_low == pytest.approx(0.1794, abs=1e-4)
    assert r.ratio_high == pytest.approx(0.6196, abs=1e-4)
    assert r.wdd == -40
    assert r.z == pytest.approx(-40 / math.sqrt(200))
    assert r.p == pytest.approx(0.004678, abs=1e-5)
    assert r.wdd_low == pytest.approx(-40 - Z95 * math.sqrt(200))
    assert r.verdict == "decrease"


def test_did_increase_is_reported() -> None:
    r = did(20, 60, 60, 60)
    assert r.ratio == pytest.approx(3.0)
    assert r.verdict == "increase"


def test_did_zero_count_gets_the_half_correction() -> None:
    # T: 5 → 0, C: 10 → 10 → cells 5.5, 0.5, 10.5, 10.5.
    r = did(5, 0, 10, 10)
    assert r.corrected
    assert r.ratio == pytest.approx((0.5 / 5.5) / (10.5 / 10.5))
    se = math.sqrt(1 / 5.5 + 1 / 0.5 + 2 / 10.5)
    assert r.ratio_high == pytest.approx(math.exp(math.log(0.5 / 5.5) + Z95 * se))
    assert math.isfinite(r.ratio_low) and r.ratio_low > 0
    assert r.wdd == -5 and r.wdd_se == pytest.approx(5.0)
    assert r.verdict == "too_few"  # 5 target incidents < MIN_EVENTS


def test_did_all_zero_target_says_no_events() -> None:
    r = did(0, 0, 30, 20)
    assert r.verdict == "no_events"
    assert math.isfinite(r.ratio)


def test_did_all_zero_everywhere_does_not_crash() -> None:
    r = did(0, 0, 0, 0)
    assert r.verdict == "no_events"
    assert r.z == 0 and r.p == 1.0
    assert math.isnan(r.expected_after)


def test_too_few_threshold_is_on_the_target_total() -> None:
    assert did(MIN_EVENTS - 1, 0, 50, 50).verdict == "too_few"
    assert did(MIN_EVENTS, 0, 50, 50).verdict != "too_few"
    # A comparison with nothing before cannot carry a conclusion either.
    assert did(30, 10, 0, 40).verdict == "too_few"


def test_did_refuses_negative_counts() -> None:
    with pytest.raises(EffectInputError) as exc:
        did(-1, 2, 3, 4)
    assert exc.value.code == "negative_count"


def test_wdq_diffusion_of_benefits() -> None:
    # R 100 → 60, B 50 → 40, C 200 → 200: success −0.2, buffer −0.05, WDQ 0.25.
    r = wdq(100, 60, 50, 40, 200, 200)
    assert r.success_measure == pytest.approx(-0.2)
    assert r.displacement_measure == pytest.approx(-0.05)
    assert r.wdq == pytest.approx(0.25)
    assert r.reading == "diffusion"
    assert r.total_net_effect == pytest.approx(40 + 10)


def test_wdq_displacement_smaller_and_larger_than_the_effect() -> None:
    r = wdq(100, 60, 50, 70, 200, 200)
    assert r.wdq == pytest.approx(-0.5)
    assert r.reading == "displacement"
    assert r.total_net_effect == pytest.approx(40 - 20)
    r = wdq(100, 60, 50, 100, 200, 200)
    assert r.wdq == pytest.approx(-1.25)
    assert r.reading == "displacement_larger"
    assert r.total_net_effect == pytest.approx(-10)


def test_wdq_with_growing_control_and_no_buffer_change() -> None:
    # C 100 → 150: success 30/150 − 40/100 = −0.2; buffer 30/150 − 20/100 = 0.
    r = wdq(40, 30, 20, 30, 100, 150)
    assert r.wdq == pytest.approx(0.0)
    assert r.reading == "none"
    assert r.total_net_effect == pytest.approx((40 * 1.5 - 30) + (20 * 1.5 - 30))


def test_wdq_diffusion_larger_than_effect() -> None:
    r = wdq(100, 90, 100, 50, 100, 100)
    assert r.wdq == pytest.approx(5.0)
    assert r.reading == "diffusion_larger"


def test_wdq_undefined_cases_keep_a_reason() -> None:
    r = wdq(10, 5, 3, 3, 0, 4)
    assert r.wdq is None and r.reading == "undefined" and r.reason == "no_comparison"
    r = wdq(10, 12, 3, 3, 50, 50)  # target rose: no success to weigh displacement against
    assert r.wdq is None and r.reason == "no_success"
    assert r.total_net_effect == pytest.approx(-2)
    r = wdq(0, 0, 0, 0, 5, 5)  # zeros in the target
    assert r.wdq is None and r.reason == "no_success"
    assert r.total_net_effect == 0


def test_evaluate_counts_combines_both() -> None:
    r = evaluate_counts((60, 20), (60, 60), (30, 25))
    assert r.did.verdict == "decrease"
    assert r.wdq.wdq == pytest.approx((25 / 60 - 30 / 60) / (20 / 60 - 60 / 60))


def test_comparison_overlapping_target_is_refused() -> None:
    areas = EffectAreas(target=box(0, 0, 100, 100), buffer=None, comparison=box(50, 50, 300, 300))
    with pytest.raises(EffectInputError) as exc:
        check_areas(areas)
    assert exc.value.code == "overlap_target"
    assert "overlaps the target" in str(exc.value)


def test_comparison_overlapping_buffer_is_refused() -> None:
    target = box(0, 0, 100, 100)
    buf = target.buffer(50).difference(target)
    with pytest.raises(EffectInputError) as exc:
        check_areas(EffectAreas(target, buf, box(120, 0, 400, 100)))
    assert exc.value.code == "overlap_buffer"


def test_touching_areas_are_not_overlapping() -> None:
    check_areas(EffectAreas(box(0, 0, 100, 100), None, box(100, 0, 200, 100)))


def test_build_areas_from_point_ring_and_district() -> None:
    a = build_areas(Point(0, 0), radius=100, buffer_width=50, ring_width=200)
    assert a.target.area == pytest.approx(math.pi * 100**2, rel=0.01)
    assert a.buffer.area == pytest.approx(math.pi * (150**2 - 100**2), rel=0.01)
    assert a.comparison.area == pytest.approx(math.pi * (350**2 - 150**2), rel=0.01)
    district = box(-2000, -2000, 2000, 2000)
    d = build_areas(LineString([(0, 0), (500, 0)]), radius=50, buffer_width=100, district=district)
    assert d.comparison.area == pytest.approx(district.area - d.target.buffer(100).area, rel=1e-3)
    poly = box(0, 0, 100, 100)
    assert build_areas(poly).target.equals(poly)


def test_build_areas_refuses_a_district_that_leaves_no_comparison() -> None:
    with pytest.raises(EffectInputError) as exc:
        build_areas(box(0, 0, 100, 100), buffer_width=10, district=box(0, 0, 100, 100))
    assert exc.value.code == "empty_area"


def test_count_in_areas_counts_per_area_and_window() -> None:
    areas = build_areas(Point(0, 0), radius=100, buffer_width=100, ring_width=300)
    x = np.array([0, 10, 150, 150, 350, 350, 350, 5000])
    y = np.zeros(8)
    t = np.array(
        [
            "2026-01-05T10:00",  # target, before
            "2026-03-05T10:00",  # target, after
            "2026-01-10T00:00",  # buffer, before
            "2026-03-31T23:59",  # buffer, after
            "2026-01-01T00:00",  # comparison, before (start is inclusive)
            "2026-03-01T00:00",  # comparison, after (end of before, start of after)
            "2026-04-01T00:00",  # after the after window (end is exclusive)
            "2026-01-05T10:00",  # outside every area
        ],
        dtype="datetime64[s]",
    )
    before = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    after = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    counts = count_in_areas(x, y, t, areas, before, after)
    assert counts == {"target": (1, 1), "buffer": (1, 1), "comparison": (1, 1)}


def test_count_in_areas_refuses_overlapping_windows() -> None:
    areas = build_areas(Point(0, 0))
    w = (datetime(2026, 1, 1), datetime(2026, 3, 1))
    with pytest.raises(EffectInputError) as exc:
        count_in_areas([0], [0], np.array(["2026-01-02"], dtype="datetime64[s]"), areas, w, w)
    assert exc.value.code == "periods"
