"""A page's embedded incident cells stay few at any extent: coarser cells summed in numpy."""

from __future__ import annotations

import numpy as np

from tests.test_store import add, incidents
from tryggkarta.gridspec import GridSpec
from tryggkarta.services.cells import coarsen, incident_cells
from tryggkarta.store.queries import Filters


def test_coarsen_equals_counting_on_cells_twice_the_size() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0, 1700, 5000), rng.uniform(0, 900, 5000)  # 17 × 9 cells of 100 m
    fine = GridSpec(0.0, 0.0, 100.0, 17, 9)
    counts = np.histogram2d(y, x, bins=[9, 17], range=[[0, 900], [0, 1700]])[0].astype(int)
    stacked = np.stack([counts, counts * 2])  # a leading axis (periods) is kept
    summed, coarse = coarsen(stacked, fine)
    assert (coarse.cell_size, coarse.nx, coarse.ny, coarse.x0) == (200.0, 9, 5, 0.0)
    direct = np.histogram2d(y, x, bins=[5, 9], range=[[0, 1000], [0, 1800]])[0].astype(int)
    np.testing.assert_array_equal(summed[0], direct)
    np.testing.assert_array_equal(summed[1], direct * 2)
    assert summed[0].sum() == 5000


def test_the_page_layer_coarsens_until_it_fits(db) -> None:
    add(db, "incidents", incidents(3000))  # 5 km square, 70 days
    fine, _ = incident_cells(db, Filters(), 100.0, 1)
    capped, grid = incident_cells(db, Filters(), 100.0, 1, max_features=200)
    assert len(fine["features"]) > 200 >= len(capped["features"])
    assert grid.cell_size in (200.0, 400.0, 800.0, 1600.0)
    assert sum(f["properties"]["count"] for f in capped["features"]) == 3000
    for feature in capped["features"]:  # the category breakdown is summed the same way
        assert sum(feature["properties"]["categories"].values()) == feature["properties"]["count"]
