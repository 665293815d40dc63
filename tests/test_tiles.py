"""Incidents as vector tiles: points up close, cells further out, on both engines; the route
is for raw-detail roles only, audit-logged, cached with an ETag."""

from __future__ import annotations

import math

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from tryggkarta.errors import BadInput
from tryggkarta.geo import to_wgs84
from tryggkarta.store import AuditLog, Dataset, Filters, insert_layer
from tryggkarta.store import tiles as tiles_mod
from tryggkarta.store.tiles import cell_for_zoom, incident_tile


def _square_origin() -> tuple[float, float]:
    """South-west corner of a 600 m square centred in the z13 tile over central Skara."""
    from tryggkarta.geo import transformer

    minx, miny, maxx, maxy = tiles_mod.mercator_bounds(13, 4410, 2450)
    x, y = transformer(3857, 3006).transform((minx + maxx) / 2, (miny + maxy) / 2)
    return float(x) - 300, float(y) - 300


X0, Y0 = _square_origin()


def tile_of(x: float, y: float, z: int) -> tuple[int, int]:
    lon, lat = to_wgs84(np.array([x]), np.array([y]), 3006)
    lat_r = math.radians(float(lat[0]))
    n = 2**z
    tx = int((float(lon[0]) + 180) / 360 * n)
    ty = int((1 - math.asinh(math.tan(lat_r)) / math.pi) / 2 * n)
    return tx, ty


def load(db, n: int = 400, seed: int = 3) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    gdf = gpd.GeoDataFrame(
        {
            "occurred_at": pd.Timestamp("2025-03-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 30 * 86400, n), unit="s"),
            "category": rng.choice(["klotter", "narkotika"], n),
            "description": ["känslig text"] * n,
        },
        geometry=gpd.points_from_xy(rng.uniform(X0, X0 + 600, n), rng.uniform(Y0, Y0 + 600, n)),
        crs=3006,
    )
    with db.session() as s:
        ds = Dataset(layer="incidents", name="tiles", checksum="tiles")
        s.add(ds)
        s.flush()
        insert_layer(s, "incidents", gdf, ds.id)
    return gdf


def decode(data: bytes) -> dict:
    return mapbox_vector_tile.decode(data) if data else {}


def test_cell_size_by_zoom():
    assert [cell_for_zoom(z) for z in (4, 8, 9, 10, 12, 13, 18)] == [
        5000.0, 1000.0, 1000.0, 250.0, 250.0, None, None,
    ]  # fmt: skip


def test_points_up_close_carry_no_sensitive_text(db):
    gdf = load(db)
    z = 13
    tx, ty = tile_of(X0 + 300, Y0 + 300, z)
    tile = incident_tile(db, z, tx, ty)
    layer = decode(tile.data)["incidents"]
    assert tile.kind == "points"
    # the tile (~2.5 km at this latitude) holds every point of the 600 m square
    assert tile.features == len(layer["features"]) == len(gdf)
    props = layer["features"][0]["properties"]
    assert set(props) == {"id", "category", "occurred_at"}
    assert layer["features"][0]["geometry"]["type"] == "Point"
    xs = [f["geometry"]["coordinates"][0] for f in layer["features"]]
    assert 0 <= min(xs) and max(xs) <= tiles_mod.EXTENT


def test_cells_further_out_count_every_point_once(db):
    gdf = load(db)
    for z, cell in ((11, 250.0), (9, 1000.0), (6, 5000.0)):
        tx, ty = tile_of(X0 + 300, Y0 + 300, z)
        tile = incident_tile(db, z, tx, ty)
        features = decode(tile.data)["cells"]["features"]
        assert tile.kind == "cells" and tile.cell == cell
        assert sum(f["properties"]["n"] for f in features) == len(gdf)
        assert {f["properties"]["cell"] for f in features} == {cell}
    # the 250 m cells of the 600 m square: at most 3 x 3 (4 x 4 when it straddles lines)
    assert (
        4
        <= len(decode(incident_tile(db, 11, *tile_of(X0, Y0, 11)).data)["cells"]["features"])
        <= 16
    )


def test_a_dense_tile_is_served_as_cells_not_truncated(db, monkeypatch):
    load(db)
    monkeypatch.setattr(tiles_mod, "MAX_POINTS", 50)
    tile = incident_tile(db, 13, *tile_of(X0 + 300, Y0 + 300, 13))
    assert tile.kind == "cells" and tile.cell == 250.0
    assert sum(f["properties"]["n"] for f in decode(tile.data)["cells"]["features"]) == 400


def test_filters_and_empty_tiles(db):
    gdf = load(db)
    z = 13
    tx, ty = tile_of(X0 + 300, Y0 + 300, z)
    only = incident_tile(db, z, tx, ty, Filters(categories=("klotter",)))
    assert only.features == int((gdf["category"] == "klotter").sum())
    far = incident_tile(db, z, tx + 20, ty)
    assert far.features == 0 and far.data == b""
    assert incident_tile(db, 0, 0, 0).features >= 1  # the whole world: one 5 km cell


@pytest.mark.parametrize("zxy", [(23, 0, 0), (-1, 0, 0), (3, 8, 0), (3, 0, 8), (2, -1, 0)])
def test_tiles_that_do_not_exist_are_refused(db, zxy):
    with pytest.raises(BadInput):
        incident_tile(db, *zxy)


def test_route_is_for_raw_roles_audited_and_conditional(client, auth, db):
    load(db)
    z = 13
    tx, ty = tile_of(X0 + 300, Y0 + 300, z)
    url = f"/tiles/incidents/{z}/{tx}/{ty}.mvt"
    assert client.get(url).status_code == 401
    auth.login("planner")
    assert client.get(url).status_code == 403
    auth.logout()
    auth.login("police")
    got = client.get(url)
    assert got.status_code == 200
    assert got.mimetype == "application/vnd.mapbox-vector-tile"
    assert got.headers["Cache-Control"] in ("no-store", "private")
    assert len(decode(got.data)["incidents"]["features"]) == 400
    again = client.get(url, headers={"If-None-Match": got.headers["ETag"]})
    assert again.status_code == 304
    cells = client.get(f"/tiles/incidents/9/{tile_of(X0, Y0, 9)[0]}/{tile_of(X0, Y0, 9)[1]}.mvt")
    assert cells.status_code == 200 and cells.headers["X-Tile-Cell"] == "1000"
    with db.session() as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.action == "tile_incidents")).all()
    assert [(r.feature_count, r.extra["tile"]) for r in rows] == [(400, f"{z}/{tx}/{ty}")]
    assert client.get(f"/tiles/incidents/{z}/{tx + 20}/{ty}.mvt").status_code == 204
    assert client.get("/tiles/incidents/30/0/0.mvt").status_code == 400
    assert client.get("/tiles/incidents/3/9/0.mvt").status_code == 400
    bad = client.get(url + "?from=2025-13-40")
    assert bad.status_code == 400


def test_occupied_cells_agree_with_the_dense_grid_count(db):
    from tryggkarta.store import GridSpec, grid_counts
    from tryggkarta.store.grid import occupied_cells

    load(db)
    ix, iy, n = occupied_cells(db, "incidents", 250.0)
    x0, y0 = ix.min() * 250.0, iy.min() * 250.0
    nx, ny = int(ix.max() - ix.min()) + 1, int(iy.max() - iy.min()) + 1
    dense = grid_counts(db, "incidents", GridSpec(x0, y0, 250.0, nx, ny))
    assert n.sum() == dense.sum() == 400
    assert (dense[iy - iy.min(), ix - ix.min()] == n).all()
    with pytest.raises(BadInput):
        occupied_cells(db, "incidents", 0)
    with pytest.raises(BadInput):
        occupied_cells(db, "areas", 250.0)


def test_gistar_on_occupied_cells_equals_the_masked_dense_gistar():
    from tryggkarta.analysis.gistar import gistar, gistar_occupied

    rng = np.random.default_rng(5)
    counts = rng.poisson(0.6, (40, 50)) * (rng.random((40, 50)) < 0.5)
    counts[10:14, 20:24] += 9  # a hot spot
    iy, ix = np.nonzero(counts)
    z, p_fdr, classes = gistar_occupied(ix + 1000, iy + 5000, counts[iy, ix])
    dense = gistar(counts, mask=counts > 0)
    np.testing.assert_allclose(z, dense.z[iy, ix], atol=1e-9)
    np.testing.assert_allclose(p_fdr, dense.p_fdr[iy, ix], atol=1e-9)
    assert (classes == dense.classes[iy, ix]).all() and classes.max() == 3
    assert gistar_occupied([], [], [])[0].size == 0
