"""The reports service on both engines: an idempotent store, the form dataset's checksum moves
(derived-data caches see a new report), and who has not reported this week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tryggkarta.services import lagesbild as lb
from tryggkarta.services import reports

LAT, LON = "58.3870", "13.4440"


def test_store_is_idempotent_and_moves_the_data_version(demo_db) -> None:
    from tryggkarta.store import Organisation

    with demo_db.session() as s:
        org = s.scalar(select(Organisation).where(Organisation.name == "Fritidsgården Skara"))
        ds = reports.form_dataset(s, org)
        checksum, rows = ds.checksum, ds.rows_imported
        area = reports.reporting_area(s, org.id, demo_db.srid, "SE")
        report = reports.parse_report(
            {"client_id": "svc-test-000001", "lat": LAT, "lon": LON, "category": "brand"},
            area=area,
            srid=demo_db.srid,
        )
        row, created = reports.store_report(s, org, report)
        assert created and ds.rows_imported == rows + 1 and ds.checksum != checksum
        again, created = reports.store_report(s, org, report)
        assert not created and again.id == row.id
        start = lb.week_of(datetime.now(UTC)).start
        silent = reports.silent_organisations(s, start, start + timedelta(days=7))
        assert [o["name"] for o in silent] == []  # both reported this week now


def test_silent_organisations_names_those_without_a_report(demo_db) -> None:
    with demo_db.session() as s:
        start = lb.week_of(datetime.now(UTC)).start
        silent = reports.silent_organisations(s, start, start + timedelta(days=7))
        assert [o["name"] for o in silent] == ["Fritidsgården Skara"]
        assert silent[0]["last"] is not None
        names = [n for _, n in reports.reporting_organisations(s)]
        assert names == ["Fritidsgården Skara", "Skarabo (bostadsbolag)"]
        long_ago = datetime(2020, 1, 6, tzinfo=UTC)
        never = reports.silent_organisations(s, long_ago, long_ago + timedelta(days=7))
        assert [o["last"] for o in never] == [None, None]
