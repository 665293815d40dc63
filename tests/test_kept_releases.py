"""Published releases kept in the database per data version (issue #16: a cold public page in
≤ 1 s), on both engines: the kept release is the computed one, a new import is a new version,
imports refresh the public releases after their commit (and a failing refresh leaves the
import as it is), and the attacks of tests/test_disclosure_attacks.py find nothing more on
the kept path — differencing the kept releases of two data versions included.

Data: the four real municipalities of tests/test_sparse_release.py (SCB boundaries from the
shared data) and the demo.
"""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from tests.test_cellcounts import assert_same_release
from tests.test_disclosure_attacks import _map_layers, propagate
from tests.test_sparse_release import NOW, RULE, _incidents, _load
from tryggkarta import disclosure
from tryggkarta.disclosure import Rule
from tryggkarta.store import count, releases
from tryggkarta.store.models import PublishedRelease

K = 5


@pytest.fixture(autouse=True)
def _fresh_releases():
    disclosure._CACHE.clear()
    yield
    disclosure._CACHE.clear()


@pytest.fixture
def national(db, shared_data):
    _load(db, _incidents(shared_data, np.random.default_rng(20), 4000))
    return db


def _more(shared_data, seed: int, n: int, prefix: str):  # noqa: ANN001, ANN202
    """More incidents of the same kind with ids of their own (an import of new rows)."""
    frame = _incidents(shared_data, np.random.default_rng(seed), n)
    frame["dedup_key"] = [f"{prefix}{i}" for i in range(len(frame))]
    return frame


def _kept(db) -> list[PublishedRelease]:
    with db.session() as s:
        rows = s.execute(select(PublishedRelease).order_by(PublishedRelease.id)).scalars().all()
        s.expunge_all()
    return list(rows)


@pytest.fixture
def no_computing(monkeypatch):
    """Make computing a release fail: what is returned must have been read kept."""

    def refuse(*_args, **_kwargs):  # noqa: ANN202
        raise AssertionError("computed although a release was kept")

    def refuse_all() -> None:
        monkeypatch.setattr(disclosure, "_sparse_incidents", refuse)
        monkeypatch.setattr("tryggkarta.store.grid.occupied_cells_by", refuse)

    return refuse_all


def test_the_kept_release_is_the_computed_one(national, no_computing) -> None:
    """Incidents (three periods, with and without trends, all and one municipality): the
    release read back from the database equals the one computed, and equals a scan of the
    incidents; one row per release, written once."""
    db = national
    cases = [
        (code, disclosure.parse_period(key, NOW), trend)
        for code in (None, "1495")
        for key in ("52v", "2025", "2026-K2")
        for trend in (True, False)
    ]
    computed = {
        c: disclosure.incident_release(db, c[0], c[1], RULE, with_trend=c[2]) for c in cases
    }
    assert all(r is not None and r.n_cells > 20 for r in computed.values())
    assert len(_kept(db)) == len(cases)
    scans = {
        c: disclosure.incident_release(db, c[0], c[1], RULE, with_trend=c[2], from_counts=False)
        for c in cases
    }
    assert len(_kept(db)) == len(cases)  # a scan is never kept (it checks the kept path)
    disclosure._CACHE.clear()
    no_computing()
    for c in cases:
        kept = disclosure.incident_release(db, c[0], c[1], RULE, with_trend=c[2])
        assert kept is not computed[c]
        assert kept.period == c[1] and kept.rule == RULE
        assert_same_release(kept, computed[c], c)
        assert_same_release(kept, scans[c], c)
    assert len(_kept(db)) == len(cases)


def test_the_kept_survey_release_is_the_computed_one(db, no_computing) -> None:
    """Survey answers of the demo: counts, unsafe counts, bands and reasons read back."""
    from tests.demodata import demo_into

    demo_into(db)
    computed = disclosure.survey_release(db, None, RULE)
    assert computed is not None and computed.values["reasons"]
    disclosure._CACHE.clear()
    no_computing()
    kept = disclosure.survey_release(db, None, RULE)
    assert kept is not computed
    assert_same_release(kept, computed, "survey")
    np.testing.assert_array_equal(kept.values["band_lo"], computed.values["band_lo"])


def test_raw_releases_are_never_kept(national) -> None:
    period = disclosure.parse_period("2025", NOW)
    assert disclosure.incident_release(db := national, None, period, disclosure.RAW_RULE)
    assert disclosure.incident_release(db, None, period, RULE, dense=True) is None
    assert _kept(db) == []


def test_what_is_kept_is_only_published_values(national) -> None:
    """Every count in every kept payload is suppressed (−1) or a published value: at least k
    and a multiple of the rounding base; no coordinates or rows, only cell numbers."""
    db = national
    for key in ("52v", "2025"):
        disclosure.incident_release(db, None, disclosure.parse_period(key, NOW), RULE)
    rows = _kept(db)
    assert len(rows) == 2
    for row in rows:
        period = disclosure.parse_period(row.period_key, NOW)
        rel = releases.decode(row.payload, row.layer, period, RULE)
        assert set(rel.values) == {"count", "before", "trend"} | {
            f"g:{g}" for g in disclosure.CATEGORY_GROUPS if g != "alla"
        }
        for name, arr in rel.values.items():
            if name == "trend":
                assert set(np.unique(arr)) <= {-2, -1, 0, 1}
                continue
            shown = arr[arr >= 0]
            assert (arr >= -1).all() and (shown >= K).all() and (shown % K == 0).all(), name
        assert rel.values["count"].min() == -1  # small counts exist and were not kept
        assert row.n_cells == rel.n_cells and row.rule_k == K and row.version


def test_a_new_import_is_a_new_version(national, shared_data, no_computing) -> None:
    """After an import the next request computes and keeps the new version's release (the old
    one stays kept, for the record); each version reads back as what it was."""
    db = national
    period = disclosure.parse_period("2025", NOW)
    before = disclosure.incident_release(db, None, period, RULE)
    _load(db, _more(shared_data, 21, 2000, "second"), "second")
    after = disclosure.incident_release(db, None, period, RULE)
    rows = _kept(db)
    assert len(rows) == 2 and rows[0].version != rows[1].version
    assert (
        after.values["count"][after.values["count"] > 0].sum()
        > before.values["count"][before.values["count"] > 0].sum()
    )
    disclosure._CACHE.clear()
    no_computing()
    assert_same_release(disclosure.incident_release(db, None, period, RULE), after, "new")
    old = releases.decode(rows[0].payload, "incidents", period, RULE)
    assert_same_release(old, before, "old version")


def test_a_release_computed_while_the_data_changed_is_not_kept(
    national, shared_data, monkeypatch
) -> None:
    """The version is read before and after computing: an import committing in between
    must not put the new numbers under the old version."""
    db = national
    period = disclosure.parse_period("2025", NOW)
    real = disclosure._sparse_incidents

    def with_an_import_meanwhile(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        got = real(*args, **kwargs)
        _load(db, _more(shared_data, 22, 200, "meanwhile"), "meanwhile")
        return got

    monkeypatch.setattr(disclosure, "_sparse_incidents", with_an_import_meanwhile)
    assert disclosure.incident_release(db, None, period, RULE) is not None
    assert _kept(db) == []


def test_keeping_twice_writes_once_and_old_versions_are_pruned(national, monkeypatch) -> None:
    db = national
    period = disclosure.parse_period("2025", NOW)
    rel = disclosure.incident_release(db, None, period, RULE)
    key = releases.key_for("incidents", None, period, RULE, True, "a version")
    assert releases.keep(db, key, rel, 1.0, lambda: True)
    assert not releases.keep(db, key, rel, 1.0, lambda: True)  # ON CONFLICT DO NOTHING
    assert len(_kept(db)) == 2
    monkeypatch.setattr(releases, "KEEP", 3)
    for v in range(4):
        key = releases.key_for("incidents", None, period, RULE, True, f"version {v}")
        assert releases.keep(db, key, rel, 1.0, lambda: True)
    rows = _kept(db)
    assert len(rows) == 3
    assert [r.version for r in rows] == [
        releases.key_for("incidents", None, period, RULE, True, f"version {v}").version
        for v in (1, 2, 3)
    ]
    # another rule is another key: not pruned with these
    disclosure.incident_release(db, None, period, Rule(10, 10))
    assert len(_kept(db)) == 4
    assert [h["rule_k"] for h in releases.history(db)][:1] == [10]


# --------------------------------------------------------------------------- privacy


def test_the_attacks_find_nothing_on_the_kept_path(db, no_computing) -> None:
    """The period and category differencing attack of tests/test_disclosure_attacks.py,
    replayed with every release read from the database."""
    from tests.demodata import demo_into
    from tests.test_disclosure_attacks import (
        _periods,
        test_period_and_category_differencing_finds_nothing,
    )

    demo_into(db)
    year, quarters = _periods(db)
    for p in (year, *quarters):
        disclosure.incident_release(db, None, p, RULE, with_trend=False)
    assert len(_kept(db)) == 5
    disclosure._CACHE.clear()
    no_computing()
    test_period_and_category_differencing_finds_nothing(db)


def test_differencing_kept_versions_of_two_imports_pins_nothing(national, shared_data) -> None:
    """An attacker who kept the release before and after an import (both stay kept, for the
    record) knows: after = before + added, added ≥ 0, per cell and group. Interval
    propagation over both versions pins no hidden count of 1…k−1 — neither the added one nor
    either version's — and the truth lies inside every interval."""
    from tryggkarta.domain import STREET_LEVEL_PRECISIONS
    from tryggkarta.store import Filters
    from tryggkarta.store.grid import grid_counts_by

    db = national
    period = disclosure.parse_period("2025", NOW)
    groups = [g for g in disclosure.CATEGORY_GROUPS if g != "alla"]

    def truth(grid) -> dict[str, np.ndarray]:  # noqa: ANN001
        base = Filters(precisions=STREET_LEVEL_PRECISIONS, start=period.start, end=period.end)
        out = {g: np.zeros(grid.n_cells, dtype=np.int64) for g in groups}
        for cat, arr in grid_counts_by(db, "incidents", grid, base).items():
            out[disclosure.GROUP_OF[cat]] += np.asarray(arr).ravel()
        out["alla"] = sum(out.values())
        return out

    from tests.test_disclosure_attacks import _grid_of, _published

    first = disclosure.incident_release(db, None, period, RULE, with_trend=False)
    grid = _grid_of(first)
    t_before = truth(grid)
    # a small import: a few incidents in cells that already hold some
    extra = _more(shared_data, 23, 400, "small")
    _load(db, extra, "small import")
    second = disclosure.incident_release(db, None, period, RULE, with_trend=False)
    rows = _kept(db)
    assert len(rows) == 2 and rows[0].version != rows[1].version
    old = releases.decode(rows[0].payload, "incidents", period, RULE)
    new = releases.decode(rows[1].payload, "incidents", period, RULE)
    assert_same_release(new, second, "kept new")
    t_after = truth(grid)
    cells = np.flatnonzero((t_before["alla"] > 0) | (t_after["alla"] > 0))
    lo, hi, real = {}, {}, {}
    for g in ["alla", *groups]:
        key = "count" if g == "alla" else f"g:{g}"
        for name, rel, t in (("before", old, t_before), ("after", new, t_after)):
            pub = _published(rel, key, grid)[cells]
            lo[(name, g)] = np.where(pub < 0, 0, np.maximum(K, np.ceil(pub - K / 2))).astype(int)
            hi[(name, g)] = np.where(pub < 0, K - 1, np.ceil(pub + K / 2) - 1).astype(int)
            real[(name, g)] = t[g][cells]
        lo[("added", g)] = np.zeros(len(cells), dtype=int)
        hi[("added", g)] = np.full(len(cells), 10**6)
        real[("added", g)] = t_after[g][cells] - t_before[g][cells]
    relations = [(("after", g), [("before", g), ("added", g)]) for g in ["alla", *groups]]
    relations += [((v, "alla"), [(v, g) for g in groups]) for v in ("before", "after", "added")]
    lo, hi = propagate(lo, hi, relations)
    hidden = 0
    for var, t in real.items():
        assert ((lo[var] <= t) & (t <= hi[var])).all(), f"attacker model wrong at {var}"
        small = (t >= 1) & (t <= K - 1)
        hidden += int(small.sum())
        assert not (small & (lo[var] == hi[var])).any(), f"{var}: hidden counts pinned"
    assert hidden > 100
    assert int((real[("added", "alla")] > 0).sum()) > 50  # the import touched many cells


# --------------------------------------------------------------------------- refresh


def _csv(n: int, seed: int) -> bytes:
    """``n`` EST-style incidents around three places in Skara (the tests' installation), in
    the last 52 weeks before the current release cut: street-level, several per cell."""
    rng = np.random.default_rng(seed)
    spots = np.array([[58.3862, 13.4380], [58.3905, 13.4290], [58.3800, 13.4450]])
    at = spots[rng.integers(0, 3, n)] + rng.normal(0, 0.0008, (n, 2))
    cut = disclosure.release_cut()
    days = rng.integers(7, 300, n)
    cats = rng.choice(["Skadegörelse", "Klotter", "Nedskräpning", "Brand"], n)
    lines = ["Datum;Kategori;Beskrivning;Latitud;Longitud"]
    for d, c, (lat, lon) in zip(days, cats, at, strict=True):
        when = (cut - timedelta(days=int(d))).date().isoformat()
        lines.append(f"{when};{c};test;{lat:.6f};{lon:.6f}")
    return ("\n".join(lines) + "\n").encode()


def _installation(db) -> str | None:  # noqa: ANN001
    from tryggkarta.geo import parse_region

    return parse_region(db.settings.region).municipality_code


@pytest.fixture
def cli(db, runner, monkeypatch):
    from tryggkarta.ingest import cli as ingest_cli

    monkeypatch.setattr(ingest_cli, "_database", lambda: db)
    return lambda *args: runner.invoke(ingest_cli.import_group, [str(a) for a in args])


def test_a_cli_import_refreshes_the_public_releases(cli, db, tmp_path, no_computing) -> None:
    """After the import commits, the public release of the new version is kept: the first
    visitor reads it without computing; the report gives the refresh's own time."""
    from tryggkarta.services.releases import public_rule

    path = tmp_path / "est.csv"
    path.write_bytes(_csv(300, 1))
    result = cli("incidents", path, "--source", "EST Skara", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["rows_imported"] == 300 and report["release_refresh_s"] is not None
    assert report["release_refresh_error"] is None
    rows = _kept(db)
    assert {r.layer for r in rows} == {"incidents"}  # no survey answers: no survey release
    code = _installation(db)
    assert rows[0].period_key == "52v" and rows[0].scope == (code or "")
    disclosure._CACHE.clear()
    no_computing()
    rule = public_rule(db, "incidents")
    period = disclosure.parse_period(None)
    kept = disclosure.incident_release(db, code, period, rule)
    assert kept is not None and len(kept.shown) > 3
    text_result = cli("incidents", tmp_path / "none.csv")
    assert text_result.exit_code != 0  # a missing file still fails as before


def test_a_failing_refresh_leaves_the_import_intact(cli, db, tmp_path, monkeypatch) -> None:
    from tryggkarta.services import releases as service

    def broken(_db, now=None):  # noqa: ANN001, ANN202
        raise RuntimeError("disk full")

    monkeypatch.setattr(service, "refresh", broken)
    path = tmp_path / "est.csv"
    path.write_bytes(_csv(120, 2))
    result = cli("incidents", path)
    assert result.exit_code == 0, result.output
    assert "imported:    120" in result.output
    assert "public map could not be computed ahead" in result.output
    assert count(db, "incidents") == 120 and _kept(db) == []
    # the first visitor computes (and keeps) it instead
    rule = service.public_rule(db, "incidents")
    period = disclosure.parse_period(None)
    assert disclosure.incident_release(db, _installation(db), period, rule)
    assert len(_kept(db)) == 1


def test_the_web_import_refreshes_and_the_page_reads_the_kept_release(app, db, monkeypatch) -> None:
    """The JSON import refreshes after its commit; then the public start page, built cold in
    a fresh process state, embeds the kept release without counting."""
    from tests.conftest import AuthActions
    from tests.test_ingest_web import api_login, upload
    from tryggkarta.web import mapview, pagecache

    client = app.test_client()
    auth = AuthActions(client, db)
    api_login(auth, db, "police")
    report = upload(client, _csv(300, 3), url="/api/import/incidents").get_json()
    assert report["rows_imported"] == 300 and report["release_refresh_s"] is not None
    assert len(_kept(db)) == 1
    auth.logout()
    disclosure._CACHE.clear()
    mapview._CACHE.clear()
    pagecache.clear()
    with db.session() as s:
        n_before = s.execute(select(func.count()).select_from(PublishedRelease)).scalar()

    def refuse(*_a, **_k):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the page computed the release")

    monkeypatch.setattr(disclosure, "_sparse_incidents", refuse)
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    cells = [
        f["properties"]
        for data, _options in _map_layers(html)
        for f in data.get("features", [])
        if "groups" in f["properties"]  # the incident cells (the map drops their names)
    ]
    assert len(cells) > 3 and n_before == len(_kept(db))
    assert all(c["count"] >= K and c["count"] % K == 0 for c in cells)


def test_the_refresh_command(db, runner, monkeypatch) -> None:
    from tests.demodata import demo_into
    from tryggkarta import cli as main_cli

    demo_into(db)
    monkeypatch.setattr(main_cli, "get_database", lambda **_kw: db)
    out = runner.invoke(main_cli.main, ["releases", "refresh"])
    assert out.exit_code == 0, out.output
    assert "incidents:" in out.output and "survey:" in out.output
    assert {r.layer for r in _kept(db)} == {"incidents", "survey"}
    again = runner.invoke(main_cli.main, ["releases", "refresh"])
    assert again.exit_code == 0 and len(_kept(db)) == 2
    listing = runner.invoke(main_cli.main, ["releases", "list"])
    assert listing.exit_code == 0 and listing.output.count("k=") == 2


def test_an_undo_goes_back_to_the_kept_version_without_the_dataset(
    cli, db, tmp_path, monkeypatch
) -> None:
    """``import undo`` refreshes too. After A, A+B and undo B the data version is A's again
    (the same datasets): its kept release is read, nothing is computed or written."""
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_bytes(_csv(200, 4))
    second.write_bytes(_csv(150, 5))
    assert cli("incidents", first).exit_code == 0
    report = json.loads(cli("incidents", second, "--json").output)
    rows = _kept(db)
    assert len(rows) == 2 and rows[0].version != rows[1].version
    disclosure._CACHE.clear()

    def refuse(*_args, **_kwargs):  # noqa: ANN202
        raise AssertionError("computed although a release was kept")

    monkeypatch.setattr(disclosure, "_sparse_incidents", refuse)  # (no survey: computed)
    undone = cli("undo", report["dataset_id"])
    assert undone.exit_code == 0 and "Public map refreshed in" in undone.output
    assert count(db, "incidents") == 200 and len(_kept(db)) == 2
    period = disclosure.parse_period(rows[0].period_key)
    a, ab = (releases.decode(r.payload, "incidents", period, RULE) for r in rows)
    now = disclosure.incident_release(db, _installation(db), period, RULE)
    assert_same_release(now, a, "after the undo")
    assert ab.values["count"].clip(0).sum() > a.values["count"].clip(0).sum()
