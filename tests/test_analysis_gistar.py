"""Gi* against PySAL esda G_Local(star=True) and FDR against scipy's BH implementation."""

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import false_discovery_control

from tryggkarta.analysis import Grid, fdr_bh, gistar

esda = pytest.importorskip("esda")
weights = pytest.importorskip("libpysal.weights")


def shared_data() -> Path:
    env = os.environ.get("TRYGGKARTA_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def esda_z(counts, w):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = esda.getisord.G_Local(
            counts.ravel().astype(float), w, star=True, transform="B", permutations=0
        )
    return g.Zs


def grid_points(ny, nx):
    ii, jj = np.mgrid[0:ny, 0:nx]
    return np.column_stack([jj.ravel(), ii.ravel()]).astype(float)


@pytest.mark.parametrize("seed,lam", [(0, 0.5), (1, 2.0), (2, 10.0)])
@pytest.mark.parametrize("neighbourhood", ["queen", "rook"])
def test_contiguity_matches_esda(seed, lam, neighbourhood):
    ny, nx = 20, 30
    c = np.random.default_rng(seed).poisson(lam, (ny, nx))
    w = weights.lat2W(ny, nx, rook=neighbourhood == "rook")
    res = gistar(c, neighbourhood)
    np.testing.assert_allclose(res.z.ravel(), esda_z(c, w), rtol=0, atol=1e-9)


@pytest.mark.parametrize("distance", [1.5, 2.5, 6.2])  # 6.2 uses the FFT path
def test_distance_band_matches_esda(distance):
    ny, nx = 22, 25
    c = np.random.default_rng(3).poisson(1.5, (ny, nx))
    w = weights.DistanceBand(
        grid_points(ny, nx), threshold=distance, binary=True, silence_warnings=True
    )
    res = gistar(c, "distance", distance=distance)
    np.testing.assert_allclose(res.z.ravel(), esda_z(c, w), rtol=0, atol=1e-9)


def test_mask_matches_esda_on_subset():
    ny, nx = 18, 21
    rng = np.random.default_rng(4)
    c = rng.poisson(3, (ny, nx))
    mask = np.ones((ny, nx), bool)
    mask[:5, :7] = False
    mask[10:, 15:] = False
    ids = np.flatnonzero(mask.ravel())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = weights.w_subset(weights.lat2W(ny, nx, rook=False), ids)
    res = gistar(c, mask=mask)
    np.testing.assert_allclose(res.z[mask], esda_z(c.ravel()[ids], w), atol=1e-9)
    assert np.isnan(res.z[~mask]).all() and (res.classes[~mask] == 0).all()
    np.testing.assert_allclose(res.p_fdr[mask], false_discovery_control(res.p[mask]), atol=1e-12)
    assert res.n_cells == mask.sum()


def _real_counts(name, cell):
    base = shared_data()
    if not base.is_dir():
        pytest.skip(f"real test data not found at {base} (set TRYGGKARTA_SHARED_DATA)")
    pyproj = pytest.importorskip("pyproj")
    if name == "houston":
        df = pd.read_csv(
            base / "us_crime/houston_crime_2010_jan_aug.csv.gz", usecols=["lon", "lat"]
        ).dropna()
        lon, lat, epsg = df.lon.to_numpy(), df.lat.to_numpy(), 32615
    else:
        df = pd.read_csv(base / "memphis/memphis_robberies.csv")
        lon, lat, epsg = df.longitude.to_numpy(), df.latitude.to_numpy(), 32616
    x, y = pyproj.Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
    qx, qy = np.quantile(x, [0.01, 0.99]), np.quantile(y, [0.01, 0.99])
    g = Grid.for_points(x, y, cell_size=cell, bounds=(qx[0], qy[0], qx[1], qy[1]))
    return g.counts(x, y)


@pytest.mark.realdata
@pytest.mark.parametrize("name,cell", [("memphis", 250.0), ("houston", 500.0)])
def test_real_grid_matches_esda(name, cell):
    c = _real_counts(name, cell)
    assert c.size < 40_000 and c.sum() > 1000
    res = gistar(c)
    np.testing.assert_allclose(
        res.z.ravel(), esda_z(c, weights.lat2W(*c.shape, rook=False)), atol=1e-9
    )
    assert (res.classes == 3).sum() > 0


def test_fdr_matches_scipy():
    rng = np.random.default_rng(5)
    p = np.concatenate([rng.random(500), rng.random(50) * 1e-3, [0.5, 0.5, 1.0, 0.0]])
    np.testing.assert_allclose(fdr_bh(p), false_discovery_control(p, method="bh"), atol=1e-15)
    p2 = rng.random((4, 300))
    ref = np.stack([false_discovery_control(r) for r in p2])
    np.testing.assert_allclose(fdr_bh(p2, axis=1), ref, atol=1e-15)
    pn = p.copy()
    pn[:10] = np.nan
    out = fdr_bh(pn)
    assert np.isnan(out[:10]).all()
    np.testing.assert_allclose(out[10:], false_discovery_control(p[10:]), atol=1e-15)


def test_classes_follow_fdr_levels():
    c = np.zeros((30, 30))
    c[10:13, 10:13] = 20
    c += np.random.default_rng(6).poisson(1, c.shape)
    res = gistar(c)
    q, z = res.p_fdr, res.z
    expect = np.sign(z) * ((q <= 0.10).astype(int) + (q <= 0.05) + (q <= 0.01))
    np.testing.assert_array_equal(res.classes, expect)
    assert res.classes[11, 11] == 3 and res.classes.dtype == np.int8
    assert res.hot(0.05)[11, 11]


@pytest.mark.parametrize(
    "counts",
    [np.zeros((5, 6)), np.full((5, 6), 3.0), np.array([[7.0]]), np.ones((1, 2))],
    ids=["all-zeros", "constant", "one-cell", "two-cells"],
)
def test_degenerate_grids_give_no_hotspot(counts):
    res = gistar(counts)
    assert not np.isnan(res.z).any()
    assert (res.z == 0).all() and (res.p == 1).all() and (res.classes == 0).all()


def test_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        gistar(np.zeros(5))
    with pytest.raises(ValueError, match="Unknown neighbourhood"):
        gistar(np.zeros((3, 3)), "hex")
    with pytest.raises(ValueError, match="distance"):
        gistar(np.zeros((3, 3)), "distance")
    with pytest.raises(ValueError, match="NaN"):
        gistar(np.array([[1.0, np.nan], [0.0, 2.0]]))
