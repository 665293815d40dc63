"""Register of measures and their evaluation on stored incidents (SQLite and PostGIS)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
import shapely
from sqlalchemy import select

from tryggkarta.errors import BadInput, NotFound
from tryggkarta.services import measures as svc
from tryggkarta.store import Area, Dataset, Decision, Intervention, Organisation, insert_layer

X0, Y0 = 408_672.0, 6_472_746.0
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def add_incidents(db, when: str, n: int, dx: float = 0.0, category: str = "narkotika") -> None:
    import geopandas as gpd

    with db.session() as s:
        ds = Dataset(layer="incidents", name="t", checksum=f"{when}{n}{dx}{category}")
        s.add(ds)
        s.flush()
        gdf = gpd.GeoDataFrame(
            {
                "occurred_at": pd.to_datetime([when] * n, utc=True)
                + pd.to_timedelta(range(n), unit="s"),
                "category": category,
            },
            geometry=[shapely.Point(X0 + dx + i, Y0) for i in range(n)],
            crs=3006,
        )
        insert_layer(s, "incidents", gdf, ds.id)


def new_measure(db, **changes) -> int:
    data = svc.MeasureData(
        kind="polisiar_narvaro",
        title="Patrull vid resecentrum",
        start=date(2026, 3, 2),
        end=date(2026, 3, 15),
        place=shapely.Point(X0, Y0),
        categories=("narkotika",),
    )
    for k, v in changes.items():
        setattr(data, k, v)
    with db.session() as s:
        return svc.save_measure(s, data).id


def seed(db) -> None:
    # Before window: 2026-02-16 .. 03-01 (local), after: 03-02 .. 03-15 (14 days each).
    add_incidents(db, "2026-02-20T12:00Z", 12)  # target, before
    add_incidents(db, "2026-03-05T12:00Z", 2)  # target, after
    add_incidents(db, "2026-03-15T22:30Z", 1)  # 23:30 local on the last day: after
    add_incidents(db, "2026-03-15T23:30Z", 1)  # 00:30 local the day after: outside
    add_incidents(db, "2026-03-05T12:00Z", 5, category="klotter")  # another category
    add_incidents(db, "2026-02-20T12:00Z", 4, dx=250)  # buffer ring, before
    add_incidents(db, "2026-03-05T12:00Z", 6, dx=250)  # buffer ring, after
    add_incidents(db, "2026-02-20T12:00Z", 20, dx=600)  # comparison ring, before
    add_incidents(db, "2026-03-05T12:00Z", 20, dx=600)  # comparison ring, after
    add_incidents(db, "2026-01-10T12:00Z", 30)  # long before: outside both windows


def test_evaluation_hand_computed_on_stored_incidents(db) -> None:
    seed(db)
    mid = new_measure(db)
    with db.session() as s:
        ev = svc.evaluate(db, s.get(Intervention, mid), now=NOW)
    assert ev.days == 14
    r = ev.result
    assert (r.did.target.before, r.did.target.after) == (12, 3)
    assert (r.did.comparison.before, r.did.comparison.after) == (20, 20)
    assert (r.wdq.buffer.before, r.wdq.buffer.after) == (4, 6)
    assert r.did.ratio == pytest.approx((3 / 12) / (20 / 20))
    assert r.did.wdd == -9
    # WDQ = (6/20 − 4/20) / (3/20 − 12/20) = 0.1 / −0.45; TNE = (12 − 3) + (4 − 6).
    assert r.wdq.wdq == pytest.approx(0.1 / -0.45)
    assert r.wdq.reading == "displacement"
    assert r.wdq.total_net_effect == pytest.approx(7)


def test_evaluation_with_all_categories_counts_the_other_category(db) -> None:
    seed(db)
    mid = new_measure(db, categories=())
    with db.session() as s:
        ev = svc.evaluate(db, s.get(Intervention, mid), now=NOW)
    assert ev.result.did.target.after == 3 + 5


def test_evaluation_against_the_rest_of_the_district(db) -> None:
    seed(db)
    district = shapely.box(X0 - 2000, Y0 - 2000, X0 + 2000, Y0 + 2000)
    with db.session() as s:
        s.add(
            Area(
                dedup_key="d1",
                name="Centrum",
                kind="district",
                minx=district.bounds[0],
                miny=district.bounds[1],
                maxx=district.bounds[2],
                maxy=district.bounds[3],
                geom_wkb=shapely.to_wkb(district),
            )
        )
    mid = new_measure(db)
    with db.session() as s:
        ev = svc.evaluate(db, s.get(Intervention, mid), comparison="district", now=NOW)
    assert ev.district == "Centrum"
    assert (ev.result.did.comparison.before, ev.result.did.comparison.after) == (20, 20)
    assert not ev.areas.comparison.intersects(ev.areas.target.buffer(-1))


def test_evaluation_without_a_district_says_so(db) -> None:
    mid = new_measure(db)
    with db.session() as s, pytest.raises(BadInput, match="inte i någon stadsdel"):
        svc.evaluate(db, s.get(Intervention, mid), comparison="district", now=NOW)


def test_evaluation_with_no_incidents_says_no_events(db) -> None:
    mid = new_measure(db)
    with db.session() as s:
        ev = svc.evaluate(db, s.get(Intervention, mid), now=NOW)
    assert ev.result.did.verdict == "no_events"
    assert ev.result.wdq.wdq is None


def test_running_measure_is_evaluated_up_to_now(db) -> None:
    mid = new_measure(db, end=None, status="pagaende")
    with db.session() as s:
        ev = svc.evaluate(db, s.get(Intervention, mid), now=datetime(2026, 3, 12, tzinfo=UTC))
    assert ev.after[1] == datetime(2026, 3, 12, tzinfo=UTC)
    assert ev.before[1] - ev.before[0] == ev.after[1] - ev.after[0]


def test_measure_not_yet_a_day_old_or_without_place_is_refused(db) -> None:
    mid = new_measure(db, end=None)
    nowhere = new_measure(db, place=None)
    with db.session() as s:
        with pytest.raises(BadInput, match="inte pågått en hel dag"):
            svc.evaluate(db, s.get(Intervention, mid), now=datetime(2026, 3, 1, tzinfo=UTC))
        with pytest.raises(BadInput, match="ingen plats"):
            svc.evaluate(db, s.get(Intervention, nowhere), now=NOW)


def test_end_before_start_is_refused_and_nothing_stored(db) -> None:
    with pytest.raises(BadInput, match="kan inte sluta"):
        new_measure(db, start=date(2026, 3, 2), end=date(2026, 3, 1))
    with db.session() as s:
        assert s.scalars(select(Intervention)).all() == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "drones"}, "sorts insats"),
        ({"status": "x"}, "Okänd status"),
        ({"title": "  "}, "rubrik"),
        ({"start": None}, "började"),
    ],
)
def test_bad_measures_are_refused(db, changes, message) -> None:
    with pytest.raises(BadInput, match=message):
        new_measure(db, **changes)


def test_unknown_owner_organisation_is_refused(db) -> None:
    with pytest.raises(BadInput, match="Okänd organisation"):
        new_measure(db, owner_org_id=999)


def test_list_update_and_mark_done(db) -> None:
    with db.session() as s:
        org = Organisation(name="Gatukontoret")
        s.add(org)
        s.flush()
        org_id = org.id
    mid = new_measure(db, end=None, status="pagaende", owner_org_id=org_id, due=date(2026, 4, 1))
    with db.session() as s:
        svc.mark_done(s, mid, today=date(2026, 3, 20))
    with db.session() as s:
        rows = svc.list_measures(s)
    assert len(rows) == 1
    row = rows[0]
    assert row["status"] == "klar" and row["end"] == date(2026, 3, 20)
    assert row["owner"] == "Gatukontoret" and row["due"] == date(2026, 4, 1)
    assert row["start"] == date(2026, 3, 2)
    with db.session() as s:
        assert svc.list_measures(s, status="planerad") == []
        with pytest.raises(NotFound):
            svc.mark_done(s, 12345)


def test_decision_becomes_a_measure_once(db) -> None:
    with db.session() as s:
        d = Decision(
            week="2026-W10", hotspot_key="hs-1", title="Belysning", text="Laga lampan", x=X0, y=Y0
        )
        s.add(d)
        s.flush()
        did = d.id
    with db.session() as s:
        m, created = svc.measure_from_decision(s, did)
        assert created and m.origin == "decision" and m.hotspot_key == "hs-1"
        assert svc.as_dict(m)["start"] == date(2026, 3, 2)  # Monday of 2026-W10
        assert (m.x, m.y) == (X0, Y0) and m.title == "Belysning"
    with db.session() as s:
        again, created = svc.measure_from_decision(s, did)
        assert not created
        assert svc.decision_measures(s, [did]) == {did: again.id}
        with pytest.raises(NotFound):
            svc.measure_from_decision(s, 9999)


def add_project(
    db, name: str, area, measures: list[tuple[str, str]], code: str | None = None
) -> tuple[int, list[int]]:
    """A stored project over ``area`` (a polygon in the working CRS) with the safety measures
    its planner ticked (key, evidence): its id and the project measures' ids."""
    import shapely

    from tryggkarta.store.models import Project, ProjectMeasure

    with db.session() as s:
        project = Project(
            dedup_key=f"p-{name}",
            name=name,
            status="pagaende",
            municipality_code=code,
            geom_wkb=shapely.to_wkb(area),
            minx=area.bounds[0],
            miny=area.bounds[1],
            maxx=area.bounds[2],
            maxy=area.bounds[3],
        )
        s.add(project)
        s.flush()
        rows = [ProjectMeasure(project_id=project.id, measure=k, evidence=e) for k, e in measures]
        s.add_all(rows)
        s.flush()
        return project.id, [r.id for r in rows]


def test_a_project_measure_becomes_a_measure_once(db) -> None:
    """A planner's ticked safety measure becomes a planned register measure of the same kind
    on the project's area (origin "project"), once; one the register has no kind for is
    "ovrigt"; an unknown or out-of-reach project measure is not found."""
    import shapely

    from tryggkarta.services.municipalities import Reach

    area = shapely.box(X0 - 100, Y0 - 100, X0 + 100, Y0 + 100)
    pid, (lid, tid) = add_project(
        db, "Parkstråket", area, [("belysning", "Mörkt"), ("trafiksakerhet", "")], "1495"
    )
    with db.session() as s:
        m, created = svc.measure_from_project(s, lid, srid=db.srid)
        assert created and m.origin == "project" and m.project_id == pid
        assert m.measure == "belysning" and m.status == "planerad" and m.started_at is None
        assert m.title == "Bättre belysning: Parkstråket" and m.description == "Mörkt"
        assert shapely.from_wkb(m.geom_wkb).equals(area) and m.municipality_code == "1495"
        first = m.id
    with db.session() as s:
        again, created = svc.measure_from_project(s, lid, srid=db.srid)
        assert not created and again.id == first
        other, created = svc.measure_from_project(s, tid, srid=db.srid)
        assert created and other.measure == "ovrigt" and other.title.startswith("Trafiksäkerhet")
        assert svc.project_measures_carried(s, pid) == {
            "belysning": first,
            "trafiksakerhet": other.id,
        }
        with pytest.raises(NotFound):
            svc.measure_from_project(s, 99_999)
        with pytest.raises(NotFound):  # Göteborg's group does not see Skara's project
            svc.measure_from_project(s, lid, reach=Reach(("1495", "1480"), ("1480",)))


def test_parse_place_latlon_and_geojson() -> None:
    p = svc.parse_place("59.3293, 18.0686", 3006)
    assert p.geom_type == "Point" and 670_000 < p.x < 680_000
    poly = svc.parse_place(
        '{"type": "Polygon", "coordinates": [[[18.0,59.3],[18.01,59.3],[18.01,59.31],[18.0,59.3]]]}',
        3006,
    )
    assert poly.geom_type == "Polygon" and poly.area > 1000
    assert svc.parse_place("  ", 3006) is None


@pytest.mark.parametrize(
    "text",
    [
        "hej",
        "99, 18",
        '{"type": "Point", "coordinates": [1e400, 2]}',
        "[1,2]",
        '{"type": "Polygon", "coordinates": [[[0,0],[1,1],[1,0],[0,1],[0,0]]]}',
    ],
)
def test_parse_place_refuses_junk_with_a_sentence(text) -> None:
    with pytest.raises(BadInput) as exc:
        svc.parse_place(text, 3006)
    assert "Traceback" not in exc.value.message


def test_windows_are_equal_and_half_open() -> None:
    row = Intervention(
        started_at=datetime(2026, 3, 1, 23, tzinfo=UTC),
        ended_at=datetime(2026, 3, 14, 23, tzinfo=UTC),
    )
    before, after = svc.windows(row, NOW)
    assert after == (datetime(2026, 3, 1, 23, tzinfo=UTC), datetime(2026, 3, 15, 23, tzinfo=UTC))
    assert before[1] == after[0] and after[1] - after[0] == timedelta(days=14)
    assert before[1] - before[0] == timedelta(days=14)


def _cli(db, args: list[str], tmp_path):
    from click.testing import CliRunner

    from tryggkarta.cli import main

    env = {
        "TRYGGKARTA_DATABASE_URL": db.settings.database_url,
        "TRYGGKARTA_INSTANCE_PATH": str(tmp_path),
    }
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def test_cli_evaluate_measure_prints_and_json(sqlite_db, tmp_path) -> None:
    import json

    seed(sqlite_db)
    mid = new_measure(sqlite_db)
    result = _cli(sqlite_db, ["evaluate-measure", str(mid)], tmp_path)
    assert result.exit_code == 0, result.output
    assert "Measure's area: 12 → 3; comparison: 20 → 20; surroundings: 4 → 6." in result.output
    assert "Before: 2026-02-16 – 2026-03-01, after: 2026-03-02 – 2026-03-15" in result.output
    assert "WDQ: -0.22." in result.output
    assert (
        "Total net effect: 7.0 fewer incidents in the area and its surroundings." in result.output
    )
    result = _cli(sqlite_db, ["evaluate-measure", str(mid), "--json"], tmp_path)
    data = json.loads(result.output)
    assert data["counts"] == {"target": [12, 3], "buffer": [4, 6], "comparison": [20, 20]}
    assert data["did"]["ratio"] == pytest.approx(0.25)
    assert data["wdq"]["total_net_effect"] == pytest.approx(7)


def test_cli_evaluate_measure_errors_are_one_english_sentence(sqlite_db, tmp_path) -> None:
    result = _cli(sqlite_db, ["evaluate-measure", "77"], tmp_path)
    assert result.exit_code == 2
    assert "Measure 77 does not exist." in result.output
    mid = new_measure(sqlite_db)
    result = _cli(sqlite_db, ["evaluate-measure", str(mid), "--comparison", "district"], tmp_path)
    assert result.exit_code == 2
    assert "lies in no district" in result.output and "Traceback" not in result.output
    result = _cli(sqlite_db, ["evaluate-measure", str(mid), "--category", "ufo"], tmp_path)
    assert "Unknown category: ufo." in result.output
    result = _cli(sqlite_db, ["evaluate-measure", str(mid), "--radius", "nan"], tmp_path)
    assert result.exit_code == 2 and "between 1 and 20,000 metres" in result.output


def test_migration_0006_turns_stored_decisions_into_measures(db) -> None:
    """Decisions noted before 0006 become planned measures at their point, once; a decision
    that already has a measure gets no second one; downgrade and upgrade again round-trip."""
    from alembic import command
    from sqlalchemy import text

    from tryggkarta.store.engine import _alembic_config

    with db.session() as s:
        s.add(Decision(week="2026-W10", hotspot_key="hs-1", title="", text="Patrull", x=X0, y=Y0))
        s.add(Decision(week="2026-W11", hotspot_key="hs-2", title="Torget", text="Lampor"))
    cfg = _alembic_config(db.engine, db.srid)
    command.downgrade(cfg, "0005")
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM interventions")).scalar() == 0
    command.upgrade(cfg, "head")
    with db.session() as s:
        rows = s.scalars(select(Intervention).order_by(Intervention.decision_id)).all()
        assert [(r.title, r.origin, r.status, r.measure) for r in rows] == [
            ("Patrull", "decision", "planerad", "ovrigt"),
            ("Torget", "decision", "planerad", "ovrigt"),
        ]
        assert (rows[0].x, rows[0].y, rows[0].hotspot_key) == (X0, Y0, "hs-1")
        assert rows[0].categories == "" and rows[0].description == "Patrull"
        decision_ids = [r.decision_id for r in rows]
    command.downgrade(cfg, "0005")
    command.upgrade(cfg, "head")
    with db.session() as s:
        again = s.scalars(select(Intervention.decision_id)).all()
    assert sorted(again) == sorted(decision_ids)


def test_net_effect_in_words() -> None:
    assert svc.net_effect_text(7) == "Nettoeffekt: 7,0 färre händelser i området och runt omkring"
    assert svc.net_effect_text(-2.5) == "Nettoeffekt: 2,5 fler händelser i området och runt omkring"
    assert svc.net_effect_text(-2.5, svc._english, "en") == (
        "Total net effect: 2.5 more incidents in the area and its surroundings"
    )


def test_windows_across_daylight_saving_are_whole_local_days() -> None:
    # 1 June – 31 August 2026 (92 days, summer time); before: 1 March – 31 May (winter → summer).
    row = Intervention(
        started_at=datetime(2026, 5, 31, 22, tzinfo=UTC),  # 1 June 00:00 local
        ended_at=datetime(2026, 8, 30, 22, tzinfo=UTC),  # 31 August 00:00 local
    )
    before, after = svc.windows(row, NOW.replace(year=2027))
    assert after == (datetime(2026, 5, 31, 22, tzinfo=UTC), datetime(2026, 8, 31, 22, tzinfo=UTC))
    assert before == (datetime(2026, 2, 28, 23, tzinfo=UTC), after[0])  # 1 March 00:00 CET


def test_a_measure_ending_in_the_future_is_evaluated_up_to_now() -> None:
    row = Intervention(
        started_at=datetime(2026, 5, 31, 22, tzinfo=UTC),
        ended_at=datetime(2026, 12, 30, tzinfo=UTC),
    )
    now = datetime(2026, 7, 1, 12, tzinfo=UTC)
    before, after = svc.windows(row, now)
    assert after == (datetime(2026, 5, 31, 22, tzinfo=UTC), now)
    assert before[1] - before[0] == after[1] - after[0]


def demo_measure(s) -> int:  # noqa: ANN001 - a session
    """A measure on the demo data with a place and a period, so its page evaluates."""
    from datetime import date

    import shapely

    from tryggkarta.services.measures import MeasureData, save_measure

    data = MeasureData(
        kind="polisiar_narvaro",
        title="Fuzz",
        start=date(2026, 6, 1),
        end=date(2026, 8, 31),
        place=shapely.Point(409_050.0, 6_472_350.0),
    )
    return save_measure(s, data).id


def test_too_few_incidents_are_said_plainly(db) -> None:
    """4 + 3 incidents in the measure's area: the estimate is shown, the verdict says in a
    sentence that no conclusion can be drawn (Swedish and English)."""
    add_incidents(db, "2026-02-20T12:00Z", 4)
    add_incidents(db, "2026-03-05T12:00Z", 3)
    add_incidents(db, "2026-02-20T12:00Z", 20, dx=600)
    add_incidents(db, "2026-03-05T12:00Z", 20, dx=600)
    mid = new_measure(db)
    with db.session() as s:
        ev = svc.evaluate(db, s.get(Intervention, mid), now=NOW)
    assert ev.result.did.verdict == "too_few"
    assert svc.verdict_text(ev.result.did) == (
        "För få händelser för en slutsats (7 i insatsens område före och efter tillsammans; "
        "minst 10 behövs)."
    )
    assert svc.summary(ev, svc._english)[2] == (
        "Too few incidents to conclude anything (7 in the measure's area before and after "
        "together; at least 10 are needed)."
    )


def test_a_district_comparison_that_leaves_nothing_outside_the_measure_is_refused(db) -> None:
    """The comparison may not overlap the measure's area: a measure covering its whole
    district leaves no comparison, and says so in a sentence; nothing is stored."""
    district = shapely.box(X0 - 300, Y0 - 300, X0 + 300, Y0 + 300)
    with db.session() as s:
        s.add(
            Area(
                dedup_key="small",
                name="Kvarteret",
                kind="district",
                minx=district.bounds[0],
                miny=district.bounds[1],
                maxx=district.bounds[2],
                maxy=district.bounds[3],
                geom_wkb=shapely.to_wkb(district),
            )
        )
    mid = new_measure(db, place=district.buffer(10))
    with db.session() as s, pytest.raises(BadInput, match="Jämförelseområdet eller insatsens"):
        svc.evaluate(db, s.get(Intervention, mid), comparison="district", now=NOW)
