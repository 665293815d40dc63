"""Sparse releases (issue #16): a release counts occupied cells only, so an installation of
several far-apart municipalities (Ystad to Umeå: 6 million 250 m cells in the bounding box,
more than a dense grid holds) gets its release — the same numbers the dense grid gives for
one municipality — and nothing below k leaks through the new path, the coarser page cells
or the extent.

Data: incidents clustered in four real municipalities (Skara, Ystad, Umeå, Enköping; their
SCB boundaries from the shared data), on both engines.
"""

from __future__ import annotations

from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from tests.test_cellcounts import assert_same_release
from tests.test_disclosure_attacks import interval, propagate
from tryggkarta import disclosure
from tryggkarta.disclosure import Rule
from tryggkarta.domain import INCIDENT_CATEGORIES, Detail
from tryggkarta.store import Dataset, insert_layer

K = 5
RULE = Rule(K, K)
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)  # the release cut: Monday 23 November 2026
KOMMUNER = "sweden/kommuner_skara_ystad_umea_enkoping_sweref99tm.geojson"


@pytest.fixture(autouse=True)
def _fresh_releases():
    disclosure._CACHE.clear()
    yield
    disclosure._CACHE.clear()


def _incidents(shared_data, rng: np.random.Generator, n: int) -> gpd.GeoDataFrame:
    """``n`` incidents over the four municipalities: most around a few hot spots inside each
    boundary (Gaussian, σ 200–700 m), the rest spread over it; 2024-09 to the release cut."""
    kom = gpd.read_file(shared_data / KOMMUNER).to_crs(3006)
    parts = []
    for code, geom in zip(kom["kommun_kod"], kom.geometry, strict=True):
        m = n // len(kom)
        one = gpd.GeoSeries([geom], crs=3006)
        spread = shapely.get_coordinates(one.sample_points(m // 4, rng=rng).iloc[0])
        spots = shapely.get_coordinates(one.sample_points(3, rng=rng).iloc[0])
        which = rng.integers(0, len(spots), m - m // 4)
        sigma = rng.uniform(200, 700, len(spots))[which]
        xy = spots[which] + rng.normal(0, 1, (len(which), 2)) * sigma[:, None]
        xs = np.concatenate([spread[:, 0], xy[:, 0]])
        ys = np.concatenate([spread[:, 1], xy[:, 1]])
        parts.append(pd.DataFrame({"x": xs, "y": ys, "municipality_code": code}))
    frame = pd.concat(parts, ignore_index=True)
    start = pd.Timestamp("2024-09-01", tz="UTC").timestamp()
    t = rng.uniform(start, pd.Timestamp("2026-11-23", tz="UTC").timestamp(), len(frame))
    return gpd.GeoDataFrame(
        {
            "occurred_at": pd.to_datetime(t, unit="s", utc=True),
            "category": rng.choice(np.array(list(INCIDENT_CATEGORIES)), len(frame)),
            "precision": rng.choice(np.array(["exact", "address", "district"]), len(frame)),
            "municipality_code": frame["municipality_code"].to_numpy(dtype=object),
            "description": "x",
            "dedup_key": [f"s{i}" for i in range(len(frame))],
        },
        geometry=gpd.points_from_xy(frame["x"], frame["y"]),
        crs=3006,
    )


def _load(db, frame: gpd.GeoDataFrame, name: str = "national") -> None:
    with db.session() as s:
        ds = Dataset(layer="incidents", name=name, checksum=name)
        s.add(ds)
        s.flush()
        insert_layer(s, "incidents", frame, ds.id)


@pytest.fixture
def national(db, shared_data):
    _load(db, _incidents(shared_data, np.random.default_rng(16), 6000))
    return db


def _period(key: str) -> disclosure.Period:
    return disclosure.parse_period(key, NOW)


def test_a_release_over_four_far_apart_municipalities_has_every_occupied_cell(national) -> None:
    """Ystad to Umeå: the dense grid refuses the extent; the sparse release holds each
    occupied cell with the counts a plain numpy count of the stored points gives."""
    from tryggkarta.store.queries import Filters, extent, layer_frame

    db, period = national, _period("2025")
    with pytest.raises(disclosure.ReleaseTooLarge):
        disclosure.release_grid(extent(db, "incidents", Filters()))
    assert disclosure.incident_release(db, None, period, RULE, dense=True) is None
    raw = disclosure.incident_release(db, None, period, disclosure.RAW_RULE, with_trend=False)
    rel = disclosure.incident_release(db, None, period, RULE)
    assert raw is not None and rel is not None
    frame = layer_frame(
        db,
        "incidents",
        Filters(start=period.start, end=period.end, precisions=("exact", "address")),
        columns=["x", "y"],
        geometry=False,
    )
    cx = np.floor(frame["x"].to_numpy() / 250).astype(np.int64)
    cy = np.floor(frame["y"].to_numpy() / 250).astype(np.int64)
    cells, n = np.unique(np.stack([cy, cx], axis=1), axis=0, return_counts=True)
    np.testing.assert_array_equal(raw.cy, cells[:, 0])
    np.testing.assert_array_equal(raw.cx, cells[:, 1])
    np.testing.assert_array_equal(raw.values["count"], n)
    # published: the rule on those counts, on the cells of this year or the one before
    at = disclosure._index_of(rel.cx, rel.cy, raw.cx, raw.cy)
    assert (at >= 0).all()
    np.testing.assert_array_equal(rel.values["count"][at], RULE.values(n))
    assert rel.n_cells >= raw.n_cells and rel.values["count"].max() >= 2 * K
    assert len({int(y) // 1000 for y in rel.cy}) >= 3  # cells from the south to the north


@pytest.mark.parametrize("code", ["1495", "2480"])
def test_dense_and_sparse_give_the_same_release_for_a_municipality(national, code) -> None:
    """The former dense grid and the sparse path, from the kept counts and from a scan,
    incidents (with trends) and survey answers: the same cells, the same published values."""
    from tests.demodata import demo_into

    db = national
    published = 0
    for key in ("52v", "2025", "2026-K2"):
        sparse = disclosure.incident_release(db, code, _period(key), RULE)
        assert sparse is not None and sparse.n_cells > 50
        published += len(sparse.shown)
        for from_counts in (True, False):
            dense = disclosure.incident_release(
                db, code, _period(key), RULE, from_counts=from_counts, dense=True
            )
            assert_same_release(sparse, dense, (code, key, from_counts))
    assert published > 10
    demo_into(db)  # the demo's survey answers (Skara) with reasons and shares
    for rule in (RULE, disclosure.rule_for(Detail.RAW, K)):
        sparse = disclosure.survey_release(db, None, rule)
        dense = disclosure.survey_release(db, None, rule, dense=True)
        assert sparse is not None and len(sparse.shown) > 5
        assert sparse.values["reasons"]
        assert_same_release(sparse, dense, ("survey", rule))


def test_an_extent_selects_cells_and_never_changes_a_number(national) -> None:
    """Differencing two extents: the whole installation's release and one municipality's
    publish the same value in every cell of that municipality (cells here hold one
    municipality's incidents each), so subtracting one from the other gives nothing."""
    db, period = national, _period("52v")
    whole = disclosure.incident_release(db, None, period, RULE)
    for code in ("1495", "1286"):
        part = disclosure.incident_release(db, code, period, RULE)
        at = disclosure._index_of(whole.cx, whole.cy, part.cx, part.cy)
        assert (at >= 0).all() and len(at) > 20
        for key, arr in part.values.items():
            np.testing.assert_array_equal(whole.values[key][at], arr, err_msg=key)


def test_periods_and_groups_differenced_on_the_sparse_release_pin_nothing(national) -> None:
    """Year − its quarters, cell − its category groups, on every cell of the country-wide
    sparse release: the interval attacker pins no hidden count of 1…k−1."""
    db = national
    year = _period("2025")
    quarters = [_period(f"2025-K{q}") for q in range(1, 5)]
    raw = {
        p.key: disclosure.incident_release(db, None, p, disclosure.RAW_RULE, with_trend=False)
        for p in (year, *quarters)
    }
    pub = {
        p.key: disclosure.incident_release(db, None, p, RULE, with_trend=False)
        for p in (year, *quarters)
    }
    cells = raw[year.key]
    groups = [g for g in disclosure.CATEGORY_GROUPS if g != "alla"]
    truth, lo, hi = {}, {}, {}
    for pk in pub:
        for g in ["alla", *groups]:
            key = "count" if g == "alla" else f"g:{g}"
            at = disclosure._index_of(raw[pk].cx, raw[pk].cy, cells.cx, cells.cy)
            t = np.where(at >= 0, raw[pk].values[key][np.maximum(at, 0)], 0)
            at = disclosure._index_of(pub[pk].cx, pub[pk].cy, cells.cx, cells.cy)
            p = np.where(at >= 0, pub[pk].values[key][np.maximum(at, 0)], -1)  # absent = hidden
            truth[(pk, g)] = t
            lo[(pk, g)] = np.where(p < 0, 0, np.maximum(K, np.ceil(p - K / 2))).astype(np.int64)
            hi[(pk, g)] = np.where(p < 0, K - 1, np.ceil(p + K / 2) - 1).astype(np.int64)
    relations = [((year.key, g), [(q.key, g) for q in quarters]) for g in ["alla", *groups]]
    relations += [((p, "alla"), [(p, g) for g in groups]) for p in pub]
    lo, hi = propagate(lo, hi, relations)
    hidden = 0
    for var, t in truth.items():
        assert ((lo[var] <= t) & (t <= hi[var])).all(), var
        small = (t >= 1) & (t <= K - 1)
        hidden += int(small.sum())
        assert not (small & (lo[var] == hi[var])).any(), var
    assert hidden > 500


def test_coarser_cells_are_sums_of_published_cells(national) -> None:
    """A page's 1 km / 5 km cells: each value is the sum of the published 250 m values inside
    (a multiple of the base, at least k) — a function of what is already public, so coarse −
    fine tells an attacker nothing. Applying k to the raw coarse count instead would: its
    published value minus the published fine cells proves, in some coarse cells, that the
    suppressed cells inside are not all empty."""
    db = national
    fine = disclosure.incident_release(db, None, _period("52v"), RULE)
    raw = disclosure.incident_release(db, None, _period("52v"), disclosure.RAW_RULE)
    t_fine = raw.values["count"][disclosure._index_of(raw.cx, raw.cy, fine.cx, fine.cy)]
    leaks_if_raw = 0
    for factor in (4, 20):
        coarse = disclosure.coarser(fine, factor)
        assert coarse.cell_size == 250.0 * factor
        published = coarse.values["count"][coarse.values["count"] > 0]
        assert len(published) and (published % K == 0).all() and (published >= K).all()
        at = disclosure._index_of(coarse.cx, coarse.cy, fine.cx // factor, fine.cy // factor)
        assert (at >= 0).all()
        for key in ("count", "before", "g:brott", "g:ordning"):
            sums = np.bincount(at, np.maximum(fine.values[key], 0), coarse.n_cells)
            np.testing.assert_array_equal(np.maximum(coarse.values[key], 0), sums, err_msg=key)
        np.testing.assert_array_equal(
            coarse.values["trend"],
            disclosure._trend(coarse.values["count"], coarse.values["before"]),
        )
        # the rejected alternative: k and rounding on the raw coarse count
        alt = RULE.values(np.bincount(at, t_fine, coarse.n_cells))
        alt_lo = np.array([interval(int(v))[0] for v in alt])
        fine_hi = np.bincount(
            at, [interval(int(v))[1] if v > 0 else 0 for v in fine.values["count"]], coarse.n_cells
        )
        hidden_lo = alt_lo - fine_hi  # what the hidden cells inside hold at least
        leaks_if_raw += int(((alt > 0) & (hidden_lo >= 1)).sum())
    assert leaks_if_raw > 0


def test_suppressed_cells_look_like_empty_ones_on_every_output(national) -> None:
    """Three incidents in an empty cell (and two in a cell next to a busy one) change no
    published feature — not the 250 m release, not a page's coarser cells, not a district
    sum: a suppressed cell and an empty one publish the same nothing."""
    db = national
    period = _period("52v")

    def outputs() -> tuple:
        disclosure._CACHE.clear()
        rel = disclosure.incident_release(db, None, period, RULE)
        area = shapely.box(440_000, 6_470_000, 460_000, 6_490_000)
        return (
            disclosure.release_geojson(rel, db.srid),
            disclosure.release_geojson(disclosure.for_page(rel, max_cells=50), db.srid),
            disclosure.area_sum(rel, disclosure.cells_touching(rel, area)),
        )

    before = outputs()
    assert before[0]["features"] and before[1]["release"]["cell_size"] > 250
    busy = max(before[0]["features"], key=lambda f: f["properties"]["count"])
    e, n = (int(v) for v in busy["properties"]["cell"][1:].split("N"))
    raw = disclosure.incident_release(db, None, period, disclosure.RAW_RULE)
    taken = set(zip(raw.cx.tolist(), raw.cy.tolist(), strict=True))
    e2 = next(c for c in range(e + 1, e + 50) if (c, n) not in taken)  # empty, near the busy
    xs = [700_010.0, 700_020.0, 700_030.0, e2 * 250.0 + 5, e2 * 250.0 + 9]
    ys = [6_900_010.0] * 3 + [n * 250.0 + 5] * 2
    when = pd.Timestamp(period.start) + pd.Timedelta(days=30)
    extra = gpd.GeoDataFrame(
        {
            "occurred_at": [when] * 5,
            "category": ["klotter"] * 5,
            "precision": ["exact"] * 5,
            "municipality_code": ["2480"] * 5,
            "description": "x",
            "dedup_key": [f"extra{i}" for i in range(5)],
        },
        geometry=gpd.points_from_xy(xs, ys),
        crs=3006,
    )
    _load(db, extra, "few")
    after = outputs()
    assert after == before


def test_a_national_public_page_embeds_coarser_release_cells(client, national, monkeypatch):
    """The public start page and /publik of a national installation show the release (no
    refusal); above the page's cap they embed coarser cells and the legend says so."""
    from tryggkarta.services.sharing import public_map_layers
    from tryggkarta.web import mapview, pagecache

    layers = public_map_layers(national, K)
    assert layers["incidents"]["features"]
    assert layers["incidents"]["release"]["cell_size"] == 250.0
    html = client.get("/").get_data(as_text=True)
    assert "ndelser per ruta" in html and "summan av de publicerade" not in html
    monkeypatch.setattr(disclosure, "PAGE_MAX_CELLS", 40)
    disclosure._CACHE.clear()
    mapview._CACHE.clear()
    pagecache.clear()
    coarse = public_map_layers(national, K)["incidents"]
    assert coarse["release"]["cell_size"] > 250.0 and 0 < len(coarse["features"]) <= 40
    for url in ("/", "/publik"):
        html = client.get(url).get_data(as_text=True)
        assert "km: summan av de publicerade rutorna om 250 m" in html, url
        assert len(html.encode()) < 1_000_000


def test_coarser_survey_cells_publish_sums_and_bands_of_published_values(db) -> None:
    """Survey cells at 1 km: answers and unsafe answers are sums of the published 250 m
    values; a share band only where every published cell inside has its unsafe count
    published, made from those sums (so answers × band brackets a sum of published values,
    never a hidden count)."""
    from tests.demodata import demo_into

    demo_into(db)
    fine = disclosure.survey_release(db, None, RULE)
    coarse = disclosure.coarser(fine, 4)
    at = disclosure._index_of(coarse.cx, coarse.cy, fine.cx // 4, fine.cy // 4)
    for key in ("count", "unsafe"):
        sums = np.bincount(at, np.maximum(fine.values[key], 0), coarse.n_cells)
        np.testing.assert_array_equal(np.maximum(coarse.values[key], 0), sums, err_msg=key)
    unknown = np.bincount(at, (fine.values["count"] > 0) & (fine.values["unsafe"] < 0))
    banded = np.isfinite(coarse.values["band_lo"])
    assert banded.any() and not (banded & (unknown > 0)).any()
    lo, hi = RULE.bands(
        np.maximum(coarse.values["unsafe"], 0), np.maximum(coarse.values["count"], 0)
    )
    np.testing.assert_array_equal(coarse.values["band_lo"][banded], lo[banded])
    np.testing.assert_array_equal(coarse.values["band_hi"][banded], hi[banded])
    features = disclosure.release_geojson(coarse, db.srid)["features"]
    assert features and all(f["properties"]["cell"].startswith("1000mE") for f in features)
    assert all("reasons" not in f["properties"] for f in features)
