"""Readable symbology: class breaks from the data, named in the legend; halos; metric scale."""

from __future__ import annotations

import numpy as np
import pytest

from tryggkarta.maps import build_map, incident_cells, render_parts
from tryggkarta.maps.hotspots import hotspot_layer, hotspot_options
from tryggkarta.maps.styles import CLASS_METHODS, COUNT_COLOURS, count_classes, heavy_tailed


def t(text: str, **kw) -> str:
    return text % kw if kw else text


def centre_heavy_counts() -> np.ndarray:
    """Incidents per cell as in a town: most cells a handful, a centre of hundreds."""
    rng = np.random.default_rng(7)
    quiet = rng.integers(1, 8, 900)
    busy = rng.integers(8, 40, 80)
    centre = np.array([90, 120, 160, 240, 310, 420, 602])
    return np.concatenate([quiet, busy, centre])


def test_a_heavy_tail_gets_head_tail_breaks_and_the_centre_is_not_one_colour() -> None:
    counts = centre_heavy_counts()
    assert heavy_tailed(counts.astype(float))
    quantile = count_classes(counts, method="quantiles")
    chosen = count_classes(counts)
    assert chosen.method == "head_tail"
    # quantiles put everything from a quiet street to the square in the top class
    assert quantile.breaks[-2] < 10 and quantile.breaks[-1] == 602
    # head/tail breaks: the top class holds only the centre
    assert chosen.breaks[-2] >= 90 and chosen.breaks[-1] == 602
    centre = {chosen.colour(v) for v in (90, 160, 602)}
    assert len(centre) >= 2


def test_an_even_spread_gets_natural_breaks() -> None:
    counts = np.random.default_rng(3).poisson(20, 600)
    classes = count_classes(counts)
    assert classes.method == "natural_breaks"
    assert len(classes.breaks) == len(COUNT_COLOURS)
    assert list(classes.breaks) == sorted(set(classes.breaks))
    assert classes.breaks[-1] == counts.max()


def test_large_inputs_are_sampled_but_stable() -> None:
    counts = np.random.default_rng(5).poisson(30, 40_000)
    state = np.random.get_state()[1].copy()
    first, second = count_classes(counts), count_classes(counts)
    assert first == second and first.method == "natural_breaks"
    assert (np.random.get_state()[1] == state).all()  # global random state untouched
    assert first.breaks[-1] == counts.max()


def test_few_distinct_values_are_each_a_class_and_nothing_is_empty() -> None:
    assert count_classes([1, 2, 2, 3]).breaks == (1.0, 2.0, 3.0)
    assert count_classes([1, 2, 2, 3]).method == "unique"
    assert count_classes([0, -1, np.nan]).breaks == (1.0,)
    with pytest.raises(ValueError, match="unknown class method"):
        count_classes(list(range(1, 20)), method="equal")


def test_the_legend_names_the_method() -> None:
    counts = centre_heavy_counts()
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [13.4, 58.4]},
                "properties": {"count": int(c)},
            }
            for c in counts
        ],
    }
    layer = incident_cells(fc, t, "sv")
    assert layer.legend.note == f"Klassgränser: {CLASS_METHODS['head_tail']}"
    # the legend's top row is the centre only, not "8–602"
    assert layer.legend.items[-1][1].endswith("602") and not layer.legend.items[-1][1].startswith(
        ("8", "9")
    )


def test_hotspot_cells_have_a_dark_outline_over_a_white_halo() -> None:
    options = hotspot_options("gistar", "Gi*", t, "sv")
    assert options["halo"] is True
    assert options["style"]["color"] == "#1f1f1f"
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[13.4, 58.4], [13.41, 58.4], [13.41, 58.41], [13.4, 58.4]]],
                },
                "properties": {"class": 3, "count": 40, "z": 3.1},
            }
        ],
    }
    layer = hotspot_layer(fc, "gistar", "Gi*", t, "sv", show=True)
    html = render_parts(build_map([layer], bounds=None, tile_url=None, tile_attribution="", t=t))
    assert '"halo":true' in html.script.replace(" ", "")
    assert '"color":"#1f1f1f"' in html.script.replace(" ", "")


def test_the_scale_bar_is_metric_only() -> None:
    parts = render_parts(build_map([], bounds=None, tile_url=None, tile_attribution="", t=t))
    assert "imperial: false" in parts.script
    assert "L.control.scale()" not in parts.script
