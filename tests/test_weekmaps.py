"""Static SVG maps and trend lines (tryggkarta.maps.svg) and the weekly picture's maps, names
and weekly counts (tryggkarta.services.weekmaps) on the demo data."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pytest
import shapely

from tryggkarta.maps import svg
from tryggkarta.services import lagesbild as lb
from tryggkarta.services import weekmaps
from tryggkarta.store import Dataset, insert_layer

KEY = re.compile(r"^[A-Za-z]+ ?\d|^[PE]\d+_\d+")


@pytest.fixture
def demo(sqlite_db):
    from tests.demodata import demo_into

    demo_into(sqlite_db)
    return sqlite_db


# --- pure SVG -----------------------------------------------------------------------------


def test_sparkline_draws_every_week_and_escapes_its_text() -> None:
    out = str(
        svg.sparkline(
            [0, 2, 5, 1], title="Väster <script>", desc="1, 2 & 3", ident='s"1', width=100
        )
    )
    points = re.search(r'points="([^"]+)"', out).group(1).split()
    assert len(points) == 4
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[2] == min(ys)  # the largest count is the highest point
    assert "<script>" not in out and "&lt;script&gt;" in out and "&amp; 3" in out
    assert 'id="s&#34;1-t"' in out and 'role="img"' in out
    empty = str(svg.sparkline([], title="t", desc="d", ident="e"))
    assert "polyline" not in empty and empty.endswith("</svg>")


def test_static_map_clips_outlines_and_keeps_only_points_inside() -> None:
    frame = svg.Frame(0, 0, 1000, 500, 200)
    assert frame.height == pytest.approx(100) and frame.scale == pytest.approx(0.2)
    big = shapely.box(-5000, -5000, 5000, 5000)
    x = np.array([10.0, 500.0, 2000.0, -1.0])
    y = np.array([10.0, 250.0, 250.0, 3.0])
    out = str(
        svg.static_map(
            frame,
            title="T",
            desc="D",
            ident="m",
            areas=[svg.Area(big, "Centrum <b>", False)],
            points=(x, y),
            markers=[svg.Marker(500, 250, "1", title="1. <i>x</i>")],
        )
    )
    dots = re.search(r'<path d="(M[^"]*h0)"', out).group(1)
    assert dots.count("h0") == 2  # two of the four points lie in the window
    outline = re.search(r'<path d="(M[^"]*Z)"', out).group(1)
    coords = [float(v) for v in re.findall(r"-?\d+\.\d", outline)]
    assert min(coords) >= 0 and max(coords) <= 200  # clipped to the window
    assert "Centrum &lt;b&gt;" in out and "&lt;i&gt;" in out and "<b>" not in out
    assert "style=" not in out  # the CSP allows no style attributes
    assert re.search(r">\d+ m<", out)  # a metric scale bar


@pytest.mark.parametrize(
    ("metres", "nice"), [(0, 0), (180, 100), (260, 200), (999, 500), (1200, 1000), (4300, 2000)]
)
def test_nice_scale_lengths(metres: float, nice: float) -> None:
    assert svg.nice_length(metres) == nice


def test_frame_around_keeps_the_aspect() -> None:
    frame = svg.Frame.around((0, 0, 1000, 100), 500, pad=0, aspect=0.5)
    assert frame.height == pytest.approx(250)
    assert frame.minx == 0 and frame.maxx == 1000 and frame.miny < 0 < 100 < frame.maxy


# --- names, maps and weekly counts on the demo data ----------------------------------------


def test_demo_week_hot_spots_are_named_by_places_not_keys(demo) -> None:
    week = lb.last_complete_week()
    hotspots, _notes = lb.week_hotspots(demo, week)
    assert hotspots
    names = [h.name for h in hotspots]
    assert len(set(names)) == len(names)  # one name per line of the meeting table
    districts = {"Centrum", "Norr", "Nordväst", "Öster", "Väster", "Söder", "Sydost"}
    from tryggkarta.demo.generate import PLACES

    places = {p.name for p in PLACES}  # the demo town's named places name what lies near them
    for name in names:
        assert not KEY.match(name), name
        assert name.split(" – ")[0] in districts | places, name
    assert places & set(names)
    assert all(h.count > 0 or h.trend not in ("", "flat") for h in hotspots)
    english, _ = lb.week_hotspots(demo, week, "en")
    shared = [h.name for h in english if " – " in h.name]
    assert all(n.endswith(" part") for n in shared)


def test_a_named_place_nearby_names_the_hot_spot(demo) -> None:
    from tryggkarta.services.places import delete_places

    delete_places(demo, "place")  # the demo's own places would name it first
    week = lb.last_complete_week()
    hotspots, _ = lb.week_hotspots(demo, week)
    first = hotspots[0]
    with demo.session() as s:
        ds = Dataset(layer="areas", name="platser", checksum="places-test")
        s.add(ds)
        s.flush()
        places = gpd.GeoDataFrame(
            {"name": ["Stora torget", "Långt borta"], "kind": ["place", "place"]},
            geometry=[
                shapely.Point(first.x + 60, first.y - 40).buffer(20),
                shapely.Point(first.x + 5000, first.y).buffer(20),
            ],
            crs=demo.srid,
        )
        insert_layer(s, "areas", places, ds.id)
    renamed, _ = lb.week_hotspots(demo, week)
    by_key = {h.key: h.name for h in renamed}
    assert by_key[first.key] == "Stora torget"
    assert "Långt borta" not in by_key.values()


def test_an_imported_place_names_the_hot_spot(demo, tmp_path) -> None:
    """Places imported for the map's place search (``tryggkarta places import``) name hot
    spots too: the nearest within the radius, never one far away."""
    from tryggkarta.geo import to_wgs84
    from tryggkarta.services.places import import_places

    week = lb.last_complete_week()
    hotspots, _ = lb.week_hotspots(demo, week)
    first = hotspots[0]
    lon, lat = to_wgs84(
        np.array([first.x + 50, first.x + 6000]), np.array([first.y, first.y]), demo.srid
    )
    path = tmp_path / "platser.csv"
    path.write_text(
        f"namn,lon,lat\nBusstorget,{lon[0]},{lat[0]}\nAvlägsen plats,{lon[1]},{lat[1]}\n",
        encoding="utf-8",
    )
    import_places(demo, path, "place")
    renamed, _ = lb.week_hotspots(demo, week)
    by_key = {h.key: h.name for h in renamed}
    assert by_key[first.key] == "Busstorget"
    assert "Avlägsen plats" not in by_key.values()


def test_week_picture_counts_each_hot_spot_per_week(demo) -> None:
    week = lb.last_complete_week()
    hotspots, _ = lb.week_hotspots(demo, week)
    pic = weekmaps.week_picture(demo, week, hotspots, weeks=12)
    assert len(pic.weeks) == 13 and pic.weeks[-1] == week.key
    patrol = [h for h in hotspots if h.source == "patrol"]
    assert patrol
    for h in patrol:
        series = pic.series[h.key]
        assert len(series) == 13
        assert series[-1] == h.count  # this week's count is the table's count
    assert len(pic.x) > 0 and len(pic.x) == len(pic.y)
    overview = str(weekmaps.overview_map(pic, hotspots, title="Översikt", desc="d", lang="sv"))
    assert overview.count("<circle") == len(hotspots)
    assert "Söder" in overview and "Väster" in overview  # district names on the map
    small = str(weekmaps.hotspot_map(pic, hotspots[0], 1, title="t", desc="d", lang="sv"))
    assert 'id="hsmap-1-t"' in small and "stroke-dasharray" in small


# --- weekly counts in hot-spot popups ------------------------------------------------------


def test_patrol_hot_spots_carry_weekly_counts_and_their_popups_a_trend_line(demo) -> None:
    from tryggkarta import disclosure
    from tryggkarta.maps import hotspot_layer
    from tryggkarta.services.targets import patrol_layer
    from tryggkarta.store import Filters

    week = lb.last_complete_week()
    layer = patrol_layer(demo, Filters(), now=week.end, recent_weeks=1, baseline_weeks=12)
    feats = layer.geojson["features"]
    assert feats
    for f in feats:
        p = f["properties"]
        assert len(p["weeks"]) == 13 and p["weeks"][-1] == p["count"]
    m = hotspot_layer(layer.geojson, "patrol", "Patrull", lambda s, **kw: s % kw if kw else s, "sv")
    popup = m.layer.data["features"][0]["properties"]["_popup"]
    assert "Händelser per vecka" in popup and "<polyline" in popup
    assert f"Den här veckan: {feats[0]['properties']['weeks'][-1]}" in popup
    # below raw detail the list is not published (counts per week would bypass rounding)
    published = disclosure.disclose_features(layer.geojson, disclosure.Rule(5, 5))
    assert all("weeks" not in f["properties"] for f in published["features"])


def test_emerging_cells_carry_sixteen_weeks(demo) -> None:
    from tryggkarta.services.hotspots import emerging_layer
    from tryggkarta.store import Filters

    feats = emerging_layer(demo, Filters()).geojson["features"]
    assert feats and all(len(f["properties"]["weeks"]) == 16 for f in feats)
    assert all(sum(f["properties"]["weeks"][-4:]) == f["properties"]["recent"] for f in feats)
