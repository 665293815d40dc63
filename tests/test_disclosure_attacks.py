"""Attacks on every public and partner output, replayed as tests (issue #10's measured leaks
and their siblings). Each attack is written as an attacker would run it — from what the
server publishes — and then checked against the truth in the store: no attack may recover a
hidden count of 1…k−1.

The attacker of :func:`propagate` knows every linear relation between published values (a
year is its quarters, a quarter its months, a cell's total its category groups) and narrows
each value to an interval until nothing changes; a value it pins to one number in 1…k−1 is a
leak.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import func, select

from tests.demodata import demo_into
from tryggkarta import disclosure
from tryggkarta.demo import COMMENTS, DEMO_PASSWORD
from tryggkarta.disclosure import CATEGORY_GROUPS, GROUP_OF, Rule
from tryggkarta.domain import STREET_LEVEL_PRECISIONS, Detail
from tryggkarta.store import Filters
from tryggkarta.store.grid import grid_counts_by

K = 5
RULE = Rule(K, K)


# --------------------------------------------------------------------------- the rule itself


def test_boundaries_k_minus_one_k_k_plus_one() -> None:
    assert [RULE.value(n) for n in (0, 1, 4, 5, 6, 7, 8, 12, 13)] == [
        None,
        None,
        None,
        5,
        5,
        5,
        10,
        10,
        15,
    ]
    assert RULE.values(np.array([0, 4, 5, 6, 8])).tolist() == [-1, -1, 5, 5, 10]
    raw = disclosure.rule_for(Detail.RAW, 5)
    assert raw.value(3) == 3 and raw.value(0) == 0 and raw.band(3, 10) == (0.3, 0.3)
    # Shares: a band only where both sides hold k; otherwise the half it lies in, or nothing.
    assert RULE.band(7, 20) == (0.3, 0.4)
    assert RULE.band(4, 20) == (0.0, 0.5) and RULE.band(17, 20) == (0.5, 1.0)
    assert RULE.band(3, 6) is None and RULE.band(20, 20) == (0.5, 1.0)


def test_sums_and_differences_of_published_values_are_never_1_to_k_minus_1() -> None:
    rng = np.random.default_rng(7)
    published = RULE.values(rng.integers(0, 60, 5000))
    shown = published[published > 0]
    diffs = np.abs(shown[:, None] - shown[None, :200])
    assert not ((diffs >= 1) & (diffs <= K - 1)).any()


def interval(value: int | None, rule: Rule = RULE) -> tuple[int, int]:
    """What a published value tells the attacker about the truth."""
    if value is None or value < 0:
        return (0, rule.k - 1)
    half = rule.base / 2
    return (max(rule.k, math.ceil(value - half)), math.ceil(value + half) - 1)


def propagate(lo: dict, hi: dict, relations: list[tuple[str, list[str]]], rounds: int = 30):
    """Narrow [lo, hi] per variable (numpy arrays over cells) with total = sum(parts)."""
    for _ in range(rounds):
        changed = False
        for total, parts in relations:
            s_lo = sum(lo[p] for p in parts)
            s_hi = sum(hi[p] for p in parts)
            new_lo, new_hi = np.maximum(lo[total], s_lo), np.minimum(hi[total], s_hi)
            changed |= bool((new_lo != lo[total]).any() or (new_hi != hi[total]).any())
            lo[total], hi[total] = new_lo, new_hi
            for p in parts:
                others_lo, others_hi = s_lo - lo[p], s_hi - hi[p]
                p_lo = np.maximum(lo[p], lo[total] - others_hi)
                p_hi = np.minimum(hi[p], hi[total] - others_lo)
                changed |= bool((p_lo != lo[p]).any() or (p_hi != hi[p]).any())
                lo[p], hi[p] = p_lo, p_hi
        if not changed:
            break
    return lo, hi


def test_the_attacker_pins_exact_counts_without_rounding() -> None:
    """The attacker works: on plain suppression (no rounding) a year minus its published
    quarters gives the hidden quarter exactly — the leak the issue measured."""
    plain = Rule(5, 1)
    truth = {"y": np.array([12]), "q1": np.array([9]), "q2": np.array([3])}
    lo, hi = {}, {}
    for name, v in truth.items():
        pub = plain.values(v)
        iv = [interval(int(x), plain) for x in pub]
        lo[name], hi[name] = np.array([a for a, _ in iv]), np.array([b for _, b in iv])
    lo, hi = propagate(lo, hi, [("y", ["q1", "q2"])])
    assert lo["q2"][0] == hi["q2"][0] == 3


# --------------------------------------------------------------------------- on the demo


@pytest.fixture
def demo(db):
    demo_into(db)
    return db


def _periods(db) -> tuple[disclosure.Period, list]:
    """The newest whole year in the demo data with its quarters (the released hierarchy)."""
    year = disclosure.period_choices(years=2)[1]
    quarters = [disclosure.parse_period(f"{year.key}-K{q}") for q in range(1, 5)]
    return year, quarters


def _grid_of(release: disclosure.Release):
    """A dense grid over a sparse release's cells (the attacker's own array)."""
    from tryggkarta.gridspec import GridSpec

    size = release.cell_size
    x0, y0 = int(release.cx.min()), int(release.cy.min())
    nx, ny = int(release.cx.max()) - x0 + 1, int(release.cy.max()) - y0 + 1
    return GridSpec(x0 * size, y0 * size, size, nx, ny)


def _published(release: disclosure.Release, key: str, grid) -> np.ndarray:
    """What a release publishes per cell of ``grid``: −1 for an absent cell, as suppressed."""
    out = np.full(grid.n_cells, -1, dtype=np.int64)
    if release.n_cells:
        c0, r0 = round(grid.x0 / grid.cell_size), round(grid.y0 / grid.cell_size)
        inside = (release.cx >= c0) & (release.cx < c0 + grid.nx)
        inside &= (release.cy >= r0) & (release.cy < r0 + grid.ny)
        flat = (release.cy - r0) * grid.nx + release.cx - c0
        out[flat[inside]] = np.asarray(release.values[key])[inside]
    return out


def test_period_and_category_differencing_finds_nothing(demo) -> None:
    """Year − quarters, cell total − category groups, on every published cell of the demo:
    no hidden count is pinned; the truth always lies in the attacker's interval. (With a third
    level — quarters of months — the same attacker pins counts on the demo: months are not
    released.)"""
    db = demo
    year, quarters = _periods(db)
    periods = [year, *quarters]
    releases = {
        p.key: disclosure.incident_release(db, None, p, RULE, with_trend=False) for p in periods
    }
    grid = _grid_of(releases[year.key])
    groups = [g for g in CATEGORY_GROUPS if g != "alla"]
    base = Filters(precisions=STREET_LEVEL_PRECISIONS)
    occupied = None
    truth, lo, hi = {}, {}, {}
    for p in periods:
        by_cat = grid_counts_by(db, "incidents", grid, base.replace(start=p.start, end=p.end))
        per_group = {g: np.zeros(grid.n_cells, dtype=np.int64) for g in groups}
        for cat, arr in by_cat.items():
            per_group[GROUP_OF[cat]] += np.asarray(arr).ravel()
        per_group["alla"] = sum(per_group.values())
        if p is year:
            occupied = np.flatnonzero(per_group["alla"] > 0)
        for g, arr in per_group.items():
            truth[(p.key, g)] = arr
    assert occupied is not None and len(occupied) > 20, "the demo year needs data"
    for (pk, g), arr in truth.items():
        key = "count" if g == "alla" else f"g:{g}"
        pub = _published(releases[pk], key, grid)[occupied]
        lo[(pk, g)] = np.where(pub < 0, 0, np.maximum(K, np.ceil(pub - K / 2))).astype(np.int64)
        hi[(pk, g)] = np.where(pub < 0, K - 1, np.ceil(pub + K / 2) - 1).astype(np.int64)
        truth[(pk, g)] = arr[occupied]
    relations = []
    for g in ["alla", *groups]:
        relations.append(((year.key, g), [(q.key, g) for q in quarters]))
    for p in periods:
        relations.append(((p.key, "alla"), [(p.key, g) for g in groups]))
    lo, hi = propagate(lo, hi, relations)
    hidden = 0
    for var, t in truth.items():
        assert ((lo[var] <= t) & (t <= hi[var])).all(), f"attacker model wrong at {var}"
        small = (t >= 1) & (t <= K - 1)
        hidden += int(small.sum())
        pinned = small & (lo[var] == hi[var])
        assert not pinned.any(), f"{var}: hidden counts pinned at cells {np.flatnonzero(pinned)}"
    assert hidden > 100  # the demo has plenty of small counts to protect


def test_ad_hoc_windows_and_category_sets_are_refused_to_the_public(client, demo) -> None:
    """The measured attack: 6,154 pairs of public queries differing by one day or category."""
    urls = [
        "/api/layers/incidents/grid?from=2026-01-01&to=2026-01-02",
        "/api/layers/incidents/grid?cat=klotter,skadegorelse",
        "/api/layers/incidents/grid?cat=klotter",
        "/api/layers/incidents/features?weekday=4&hour=21",
        "/api/layers/incidents/grid?cell=251",
        "/api/hotspots/gistar?from=2026-01-01",
        "/api/layers/survey/grid?cell=100",
    ]
    for url in urls:
        r = client.get(url)
        assert r.status_code == 400, url
        assert "raw-detail roles" in r.get_json()["description"]


def _features(client, url: str) -> dict[str, dict]:
    body = client.get(url).get_json()
    return {f["properties"]["cell"]: f["properties"] for f in body["features"]}


def test_moving_bbox_edges_changes_no_number(client, demo) -> None:
    """A bbox selects released cells; it never recounts (the 0.6 mm attack by bbox edges)."""
    full = _features(client, "/api/layers/incidents/grid")
    assert full and all(p["count"] % K == 0 and p["count"] >= K for p in full.values())
    rng = np.random.default_rng(3)
    for _ in range(25):
        lon0, lat0 = 13.40 + rng.random() * 0.05, 58.37 + rng.random() * 0.03
        bbox = f"{lon0:.6f},{lat0:.6f},{lon0 + rng.random() * 0.02 + 1e-6:.6f},{lat0 + rng.random() * 0.01 + 1e-6:.6f}"
        part = _features(client, f"/api/layers/incidents/grid?bbox={bbox}")
        for cell, props in part.items():
            assert props == full[cell], (bbox, cell)


def test_count_times_share_gives_no_hidden_count(client, demo) -> None:
    """/publik.geojson, the survey grid and OGC survey_cells: answers × share band never pins
    a suppressed unsafe count (18 of 43 cells matched the truth before)."""
    sources = [
        [f["properties"] for f in client.get("/publik.geojson").get_json()["features"]],
        [f["properties"] for f in client.get("/api/layers/survey/grid").get_json()["features"]],
        [
            f["properties"]
            for f in client.get("/ogc/collections/survey_cells/items").get_json()["features"]
        ],
    ]
    checked = 0
    for cells in sources:
        assert cells
        for p in cells:
            n = p.get("n", p.get("count"))
            a_lo, a_hi = interval(n)
            band = p.get("share_band")
            assert "share" not in p or p["share"] is None or band is not None
            u_lo, u_hi = interval(p.get("unsafe")) if "unsafe" in p else (0, a_hi)
            if band is not None:
                u_lo = max(u_lo, math.ceil(band[0] * a_lo - 1e-9))
                u_hi = min(u_hi, math.floor(band[1] * a_hi + 1e-9))
            if p.get("unsafe") is None:
                assert not (u_lo == u_hi and 1 <= u_lo <= K - 1), p
                checked += 1
    assert checked > 0


def test_public_hotspots_carry_no_small_numbers_or_sentences(client, demo) -> None:
    """Design hot spots said "1 rapport om våld och hot", "(1 av 33)" to anonymous users."""
    sentence = re.compile(r"\d+ (rapport|händelse|av \d+)|\(\d+ av \d+\)")
    for url in (
        "/api/hotspots/design",
        "/api/hotspots/gistar",
        "/ogc/collections/design_hotspots/items",
        "/ogc/collections/gistar_hotspots/items",
    ):
        body = client.get(url).get_json()
        text = json.dumps(body, ensure_ascii=False)
        assert not sentence.search(text), (url, sentence.search(text).group(0))
        for f in body["features"]:
            for key, value in f["properties"].items():
                if key in disclosure.COUNT_KEYS and value is not None:
                    assert value >= K and value % K == 0, (url, key, value)
            assert "evidence_sv" not in text and "profile" not in f["properties"]


def test_partner_shared_maps_differenced_by_one_day_are_identical(client, demo) -> None:
    client.post("/login", data={"username": "kommun", "password": DEMO_PASSWORD})
    for name, start in (("A", "2026-03-01"), ("B", "2026-03-02")):
        r = client.post(
            "/kartor/",
            data={"name": name, "layers": ["incidents"], "start": start, "roles": ["partner"]},
        )
        assert r.status_code == 302
    client.post("/logout")
    client.post("/login", data={"username": "grannsamverkan", "password": DEMO_PASSWORD})
    listing = client.get("/kartor/").get_data(as_text=True)
    ids = sorted(set(re.findall(r'href="/kartor/(\d+)"', listing)))
    assert len(ids) >= 2
    tables = []
    for map_id in ids[-2:]:
        html = client.get(f"/kartor/{map_id}").get_data(as_text=True)
        tables.append(re.findall(r'<td class="num">([^<]*)</td>', html))
    assert tables[0] and tables[0] == tables[1]
    assert all(
        v.strip() == "" or "färre" in v or int(v.replace("\xa0", "")) % K == 0 for v in tables[0]
    )


def test_public_export_and_ogc_publish_the_same_release(demo) -> None:
    from tryggkarta.services.public import collection

    a = collection(demo, "incident_cells", audience="public")
    b = collection(demo, "incident_cells", audience="partner")
    assert a["features"] == b["features"] and a["features"]
    for f in a["features"]:
        assert f["properties"]["count"] % K == 0
        assert all(v % K == 0 and v >= K for v in (f["properties"].get("groups") or {}).values())
    inside = collection(demo, "incident_cells", audience="internal")
    assert sum(f["properties"]["count"] for f in inside["features"]) != sum(
        f["properties"]["count"] for f in a["features"]
    )


def test_public_outputs_never_hold_comments_or_descriptions(client, demo) -> None:
    urls = [
        "/",
        "/publik",
        "/publik.geojson",
        "/api/layers/survey/features",
        "/api/layers/incidents/features",
        "/api/hotspots/design",
        "/api/hotspots/forecast",
        "/ogc/collections/design_hotspots/items",
        "/ogc/collections/incident_cells/items",
    ]
    comments = [c for texts in COMMENTS.values() for c in texts]
    for url in urls:
        body = client.get(url).get_data(as_text=True)
        assert "(syntetisk demohändelse)" not in body, url
        assert not [c for c in comments if c in body], url


def test_the_public_map_opens_on_the_municipality_not_on_the_outermost_incidents(
    client, demo
) -> None:
    """Bounds from the raw extent gave the west-, south-, east- and northmost incidents'
    coordinates away to anonymous users."""
    from tryggkarta.geo import to_wgs84
    from tryggkarta.store import extent

    minx, miny, maxx, maxy = extent(demo, "incidents", Filters())
    lon, lat = to_wgs84(np.array([minx, maxx]), np.array([miny, maxy]), demo.srid)
    html = client.get("/").get_data(as_text=True)
    for value in (*lon, *lat):
        assert f"{value:.6f}"[:-1] not in html


def test_release_periods_exist_only_when_ended() -> None:
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    with pytest.raises(Exception, match="not ended"):
        disclosure.parse_period("2026-K4", now)
    with pytest.raises(Exception, match="Unknown period"):
        disclosure.parse_period("2026-01-01..2026-01-02", now)
    assert disclosure.parse_period("2026-K3", now).end <= disclosure.release_cut(now)


def test_random_hierarchies_give_no_pins() -> None:
    """Year → 4 quarters × 4 category groups, 20,000 cells of skewed small Poisson counts:
    the interval attacker pins none of the ~180,000 hidden values 1…4."""
    rng = np.random.default_rng(11)
    n, quarters, groups = 20_000, 4, 4
    lam = rng.gamma(0.6, 2.0, size=(n, 1, 1)) * rng.random((1, quarters, groups)) * 2
    truth = {(q, g): rng.poisson(lam[:, q, g]) for q in range(quarters) for g in range(groups)}
    for q in range(quarters):
        truth[(q, "a")] = sum(truth[(q, g)] for g in range(groups))
    for g in [*range(groups), "a"]:
        truth[("y", g)] = sum(truth[(q, g)] for q in range(quarters))
    lo, hi = {}, {}
    for key, t in truth.items():
        p = RULE.values(t)
        lo[key] = np.where(p < 0, 0, np.maximum(K, np.ceil(p - K / 2))).astype(np.int64)
        hi[key] = np.where(p < 0, K - 1, np.ceil(p + K / 2) - 1).astype(np.int64)
    relations = [(("y", g), [(q, g) for q in range(quarters)]) for g in [*range(groups), "a"]]
    relations += [((q, "a"), [(q, g) for g in range(groups)]) for q in [*range(quarters), "y"]]
    lo, hi = propagate(lo, hi, relations)
    small = pinned = 0
    for key, t in truth.items():
        assert ((lo[key] <= t) & (t <= hi[key])).all()
        hidden = (t >= 1) & (t <= K - 1)
        small += int(hidden.sum())
        pinned += int((hidden & (lo[key] == hi[key])).sum())
    assert small > 100_000 and pinned == 0


def test_public_kde_is_a_relative_surface_without_counts(client, demo) -> None:
    """KDE below raw detail: the smoothed density in fifths of its peak, no counts."""
    from tryggkarta.disclosure import disclose_features
    from tryggkarta.services.hotspots import kde_layer

    raw = kde_layer(demo, Filters()).geojson
    published = disclose_features(raw, RULE)
    assert len(published["features"]) == len(raw["features"]) > 0
    for f in published["features"]:
        p = f["properties"]
        assert "count" not in p and p["density"] in (0.2, 0.4, 0.6, 0.8, 1.0)
    body = client.get("/api/hotspots/kde").get_json()
    assert body["features"] and all("count" not in f["properties"] for f in body["features"])


def test_public_page_names_no_est_measure_title_and_no_patrol(client, demo) -> None:
    """EST measures on /publik: their kinds and how many, never their titles (police tactics)
    and never patrols."""
    from tryggkarta.store import Intervention

    with demo.session() as s:
        s.add(
            Intervention(
                measure="polisiar_narvaro", title="Extra patrull fre–lör 20–02 Resecentrum"
            )
        )
        s.add(Intervention(measure="belysning", title="Byt lampor Gröna gången, nattetid"))
        s.add(Intervention(measure="belysning", title="Lampa vid skolan"))
        s.flush()
        lighting = s.scalar(
            select(func.count())
            .select_from(Intervention)
            .where(Intervention.measure == "belysning")
        )
    html = client.get("/publik").get_data(as_text=True)
    assert "Resecentrum" not in html and "Gröna gången, nattetid" not in html
    assert "Patrullering" not in html and "Synlig polis" not in html  # the demo's patrol too
    assert f"Lagad belysning ({lighting})" in html  # the demo's lighting measure and these two


def test_a_dense_grid_too_large_is_refused_with_a_sentence() -> None:
    """Sweden's extent at 250 m is 16M cells: the dense grid (kept to check the sparse path)
    refuses it with what to use instead; a release counts occupied cells only."""
    with pytest.raises(disclosure.ReleaseTooLarge, match="sparse release"):
        disclosure.release_grid((260_000.0, 6_130_000.0, 920_000.0, 7_680_000.0))
    assert (
        disclosure.release_grid((400_000.0, 6_450_000.0, 430_000.0, 6_490_000.0)).n_cells < 30_000
    )
    with pytest.raises(disclosure.ReleaseTooLarge, match="occupied cells"):
        disclosure._cap(disclosure.MAX_RELEASE_CELLS + 1)


# --------------------------------------------------------------------------- survey results


def _survey_campaigns(db, per_district: dict[str, list[int]]) -> dict[str, str]:
    """Closed campaigns over four districts that tile a square around Skara's centre, with
    ``per_district`` unsafe answers (lighting, evening) in each; returns title -> slug. The
    first title is the earlier campaign."""
    from datetime import date

    import shapely

    from tests.test_survey_results import answer_many
    from tests.test_survey_service import TOWN, add_district, make_campaign

    with db.session() as s:
        ids, centres = [], []
        for k, (dx, dy) in enumerate([(-400, -400), (400, -400), (-400, 400), (400, 400)]):
            centre = (TOWN[0] + dx, TOWN[1] + dy)
            ids.append(add_district(s, f"Del {k + 1}", centre).id)
            centres.append(centre)
        assert shapely.union_all(
            [shapely.box(c[0] - 400, c[1] - 400, c[0] + 400, c[1] + 400) for c in centres]
        ).area == pytest.approx(1600.0**2)
        slugs = {}
        for year, (title, counts) in enumerate(per_district.items()):
            c = make_campaign(
                s,
                title=title,
                area_ids=ids,
                starts_on=date(2024 + year, 3, 1),
                ends_on=date(2024 + year, 4, 1),
            )
            for k, n in enumerate(counts):
                pts = [(centres[k][0] - 300 + 20 * i, centres[k][1]) for i in range(n)]
                answer_many(s, c, pts, tag=f"c{year}d{k}")
            c.status = "closed"
            slugs[title] = c.slug
        s.commit()
    return slugs


def _published_survey(html: str) -> dict:
    """What the public result page of a campaign says: the total, each district's count and
    lighting count, and the comparison rows (now, before, change)."""
    from tryggkarta.domain import SURVEY_REASONS

    def num(text: str) -> int | None:
        return None if text.strip() in ("–", "") else int(text.replace("+", ""))

    total = re.search(r"Omkring (\d+) platser", html)
    districts_html = html.split('id="r-h-districts"')[1].split("</table>")[0]
    light = SURVEY_REASONS["belysning"].sv
    districts = {}
    for row in re.findall(r"<tr>(.*?)</tr>", districts_html, re.S):
        m = re.search(r'<th scope="row">([^<]+)</th><td class="num">([^<]+)</td>', row)
        if m:
            reason = re.search(re.escape(light) + r" \((\d+)\)", row)
            districts[m.group(1)] = (num(m.group(2)), int(reason.group(1)) if reason else None)
    light_total = re.search(
        rf"<td>{re.escape(light)}</td><td class=\"num\">([^<]+)</td>", html
    ).group(1)
    compare = {}
    if 'id="r-h-compare"' in html:
        part = html.split('id="r-h-compare"')[1].split("</table>")[0]
        for name, now, before, change in re.findall(
            r'<th scope="row">([^<]+)</th><td class="num">([^<]+)</td>'
            r'<td class="num">([^<]+)</td><td class="num">([^<]+)</td>',
            part,
        ):
            compare[name] = (num(now), num(before), num(change))
    return {
        "total": int(total.group(1)) if total else None,
        "light": num(light_total),
        "districts": districts,
        "compare": compare,
    }


def test_survey_results_district_sums_and_campaign_differences_pin_nothing(client, db) -> None:
    """The public result of two closed campaigns over the same four districts (which tile the
    campaign area, so total = Σ districts exactly, and lighting = Σ districts' lighting): the
    interval attacker uses both pages, the comparison between them and every sum, and pins no
    hidden count 1…k−1; with plain suppression the same attacker would."""
    truth = {"Förra enkäten": [9, 4, 5, 2], "Nya enkäten": [7, 5, 6, 3]}
    slugs = _survey_campaigns(db, truth)
    pages = {
        t: _published_survey(client.get(f"/enkat/{s}/resultat").get_data(as_text=True))
        for t, s in slugs.items()
    }
    names = [f"Del {k + 1}" for k in range(4)]
    now, before = pages["Nya enkäten"], pages["Förra enkäten"]
    for name in names:  # the comparison is a difference of published values, nothing more
        n, b, change = now["compare"][name]
        assert (n, b) == (now["districts"][name][0], before["districts"][name][0])
        assert change == (None if n is None or b is None else n - b)
    lo, hi, real = {}, {}, {}
    for title, page in pages.items():
        for var, value, t in [
            ((title, "total"), page["total"], sum(truth[title])),
            ((title, "light"), page["light"], sum(truth[title])),
            *[
                ((title, nm), page["districts"][nm][0], truth[title][k])
                for k, nm in enumerate(names)
            ],
            *[
                ((title, nm, "light"), page["districts"][nm][1], truth[title][k])
                for k, nm in enumerate(names)
            ],
        ]:
            a, b = interval(value)
            lo[var], hi[var], real[var] = np.array([a]), np.array([b]), t
    relations = []
    for title in pages:
        relations.append(((title, "total"), [(title, nm) for nm in names]))
        relations.append(((title, "light"), [(title, nm, "light") for nm in names]))
    lo, hi = propagate(lo, hi, relations)
    hidden = 0
    for var, t in real.items():
        assert lo[var][0] <= t <= hi[var][0], f"attacker model wrong at {var}"
        if 1 <= t <= K - 1:
            hidden += 1
            assert lo[var][0] < hi[var][0], f"{var} pinned to {t}"
    assert hidden == 6  # 4 and 2 before, 3 now, as district counts and as lighting counts
    # The same attacker on plain suppression (exact counts above k) pins the hidden district.
    plain = Rule(K, 1)
    values = truth["Nya enkäten"]
    p_lo = {"t": np.array([sum(values)])}
    p_hi = {"t": np.array([sum(values)])}
    for k, v in enumerate(values):
        a, b = interval(plain.value(v), plain)
        p_lo[k], p_hi[k] = np.array([a]), np.array([b])
    p_lo, p_hi = propagate(p_lo, p_hi, [("t", [0, 1, 2, 3])])
    assert p_lo[3][0] == p_hi[3][0] == 3


def test_survey_results_are_not_public_before_close_and_hold_no_comments(client, db) -> None:
    from datetime import date, timedelta

    from sqlalchemy import select

    from tests.test_survey_results import answer_many, near
    from tests.test_survey_service import TOWN, make_campaign
    from tryggkarta.store import SurveyCampaign, SurveyResponse

    with db.session() as s:
        c = make_campaign(s, starts_on=date.today() - timedelta(days=3))
        c.status = "open"
        answer_many(s, c, near(TOWN, 12), tag="x")
        for row in s.scalars(select(SurveyResponse)):
            row.comment = "Hemlig kommentar vid kiosken"
        slug = c.slug
        s.commit()
    assert client.get(f"/enkat/{slug}/resultat").status_code == 404
    assert client.get(f"/enkat/{slug}/resultat.geojson").status_code == 404
    with db.session() as s:
        s.scalar(select(SurveyCampaign)).status = "closed"
        s.commit()
    for url in (f"/enkat/{slug}/resultat", f"/enkat/{slug}/resultat.geojson"):
        body = client.get(url).get_data(as_text=True)
        assert "Hemlig kommentar" not in body and '"comment"' not in body
        assert not re.search(r'"answers":\s*[1-4]\b', body)


def _map_layers(html: str) -> list[tuple[dict, dict]]:
    """(features, options) of every ``tryggkarta.geoLayer(…)`` a page's map script draws."""
    decoder = json.JSONDecoder()
    out = []
    for m in re.finditer(r"tryggkarta\.geoLayer\(", html):
        data, end = decoder.raw_decode(html, m.end())
        options, _end = decoder.raw_decode(html, re.compile(r"\s*,\s*").match(html, end).end())
        out.append((data, options))
    return out


def test_the_public_map_draws_only_the_published_releases(client, demo) -> None:
    """/publik's map holds the survey and incident releases exactly as the public OGC
    collections publish them (rounded to k, nothing below k) and outlines — nothing else."""
    from tryggkarta.services.public import collection

    html = client.get("/publik").get_data(as_text=True)
    layers = _map_layers(html)
    assert len(layers) == 3
    counts = {
        options["popup"]["title"]: sorted(f["properties"]["count"] for f in data["features"])
        for data, options in layers
        if "popup" in options
    }
    survey = sorted(f["properties"]["count"] for f in collection(demo, "survey_cells")["features"])
    incidents = sorted(
        f["properties"]["count"] for f in collection(demo, "incident_cells")["features"]
    )
    assert counts == {"Trygghetsundersökning": survey, "Händelser i rutan": incidents}
    for values in counts.values():
        assert values and all(v >= K and v % K == 0 for v in values)
    outlines = [data for data, options in layers if "popup" not in options]
    kinds = {f["properties"]["kind"] for f in outlines[0]["features"]}
    assert kinds <= {"municipality", "district", "patrol_area"}
    for text in ("(syntetisk demohändelse)", *(c for t in COMMENTS.values() for c in t)):
        assert text not in html


def test_the_planner_project_check_map_holds_only_released_cells(client, demo) -> None:
    """The project check's map for a planner: survey cells rounded to k, no patrol hot spot."""
    from sqlalchemy import select

    from tryggkarta.store import Project

    client.post("/login", data={"username": "planerare", "password": DEMO_PASSWORD})
    with demo.session() as s:
        pid = s.scalar(select(Project.id).where(Project.name == "Belysning Gröna gången"))
    html = client.get(f"/projekt/{pid}/kontroll").get_data(as_text=True)
    layers = _map_layers(html)
    cells = [d for d, o in layers if o.get("popup", {}).get("title") == "Trygghetsundersökning"]
    assert cells and cells[0]["features"]
    assert all(
        f["properties"]["count"] >= K and f["properties"]["count"] % K == 0
        for f in cells[0]["features"]
    )
    assert "Händelser (patrull)" not in html.split("tryggkarta.geoLayer", 1)[1]
