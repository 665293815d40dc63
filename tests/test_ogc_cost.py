"""What an OGC items page costs less of (issue #16.5, 100 req/s): a page straight from the
rows as Arrow (the same text as the DataFrame path), local times in Arrow kernels (the same
text as ``iso_local_series``), a capped count kept per data version, a token read in one
statement and the audit row written by one INSERT. Both engines where the store is used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import func, select

from tryggkarta.config import load_settings
from tryggkarta.geojson import features_text, local_times
from tryggkarta.i18n import iso_local_series
from tryggkarta.services import ogc_core
from tryggkarta.store import AuditLog, Dataset, Filters, Incident, insert_layer, paging
from tryggkarta.store.queries import bump_data_version

URL = "/ogc/collections/incidents/items"


def _both_ways(db, layer: str, cols: list[str], limit: int) -> tuple[str, str]:
    """One page written from an Arrow table and from a DataFrame of the same rows."""
    table = paging.keyset_page(db, layer, Filters(), cols, limit=limit, as_table=True)
    frame = paging.keyset_page(db, layer, Filters(), cols, limit=limit)
    assert isinstance(table.frame, pa.Table) and isinstance(frame.frame, pd.DataFrame)
    assert table.frame.num_rows == len(frame.frame) > 0
    return (
        features_text(table.frame, cols, db.srid, id_column="id"),
        features_text(frame.frame, cols, db.srid, id_column="id"),
    )


def test_a_page_from_arrow_is_the_same_text_as_from_a_frame(db, shared_data):
    """Real Polisen events (Swedish text, quotes, summer and winter times) and every raw
    column: the Arrow path writes byte for byte what the DataFrame path writes."""
    from tryggkarta.ingest import import_file

    import_file(
        db, "incidents", shared_data / "polisen/polisen_events_skara_ystad_umea_enkoping.csv"
    )
    cols = list(ogc_core.RAW_COLLECTIONS["incidents"].columns)
    arrow, frame = _both_ways(db, "incidents", cols, 2000)
    assert arrow == frame
    assert '"occurred_at":"20' in arrow and ("+01:00" in arrow or "+02:00" in arrow)


def test_survey_answers_from_arrow_are_the_same_text_too(demo_db):
    """Survey rows hold integers with gaps, free text and times: same text both ways."""
    cols = list(ogc_core.RAW_COLLECTIONS["survey_responses"].columns)
    arrow, frame = _both_ways(demo_db, "survey", cols, 900)
    assert arrow == frame


def test_strings_that_need_escapes_survive_the_fast_path():
    import json

    from tryggkarta.geojson import column_texts

    values = ["plain", 'say "hi"', "back\\slash", "two\nlines", "tab\there", "bell\x07", None]
    texts = column_texts(pa.array(values, pa.string())).to_pylist()
    assert [json.loads(t) for t in texts] == values
    plain = column_texts(pa.array(["Skara", "Götene", None], pa.string())).to_pylist()
    assert plain == ['"Skara"', '"Götene"', "null"]


@pytest.mark.parametrize("zone", ["Europe/Stockholm", "America/Chicago", "UTC"])
def test_local_times_in_arrow_equal_the_pandas_way(zone):
    """Every hour across both daylight-saving changes of 2024, plus missing values and
    microseconds (cut to seconds, as before): identical text."""
    try:
        load_settings({"secret_key": "x"}, environ={"TRYGGKARTA_TIMEZONE": zone})
        hours = pd.date_range("2024-03-30", "2024-11-01", freq="h", tz="UTC")
        stamps = pd.Series(hours).astype("datetime64[us, UTC]") + pd.to_timedelta(
            np.arange(len(hours)) % 7 * 123457, unit="us"
        )
        stamps[::50] = pd.NaT
        expected = iso_local_series(stamps).tolist()
        got = local_times(pa.array(stamps, from_pandas=True)).to_pylist()
        assert got == expected
        naive = pa.array([datetime(2024, 6, 15, 3, 27)], pa.timestamp("us"))  # naive = UTC
        assert (
            local_times(naive).to_pylist()
            == iso_local_series(pd.Series(pd.to_datetime(["2024-06-15T03:27:00Z"]))).tolist()
        )
    finally:
        load_settings({"secret_key": "x"}, environ={})


def _store(db, n: int, name: str) -> int:
    from bulk_rows import incident_frame

    with db.session() as s:
        ds = Dataset(layer="incidents", name=name, checksum=name)
        s.add(ds)
        s.flush()
        frame = incident_frame(n, seed=len(name))
        frame["source_id"] = np.char.add(name, np.arange(n).astype(str)).astype(object)
        inserted, _ = insert_layer(s, "incidents", frame, ds.id)
        assert inserted == n
        return ds.id


def test_the_kept_count_follows_every_change_of_the_data(db):
    """The capped count is kept per data version: an import, a dataset delete and a change
    by rule (retention bumps the layer's counter) each give the new count at once."""
    from tryggkarta.store.writes import delete_dataset

    _store(db, 30, "first")
    cols = ["occurred_at"]

    def matched(**kw) -> int | None:
        return paging.keyset_page(db, "incidents", Filters(**kw), cols, limit=5).matched

    assert matched() == 30
    second = _store(db, 12, "second")
    assert matched() == 42
    with db.session() as s:
        delete_dataset(s, second)
    assert matched() == 30
    with db.session() as s:  # rows removed by rule, no dataset changes: the counter does
        s.execute(Incident.__table__.delete().where(Incident.id.in_(select(func.min(Incident.id)))))
        bump_data_version(s, "incidents")
    assert matched() == 29
    early = datetime(2000, 1, 1, tzinfo=UTC)
    assert matched(start=early, end=early + timedelta(days=1)) == 0  # filters are in the key
    assert matched() == 29


def test_a_token_page_writes_one_audit_row_and_answers_a_revoked_token_401(client, db):
    from tryggkarta.services.accounts import create_token, create_user
    from tryggkarta.store import ApiToken

    _store(db, 7, "audited")
    with db.session() as s:
        user = create_user(s, "granskad", "ett-langt-losenord", "police")
        token = create_token(s, user, "qgis")
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(3):
        response = client.get(f"{URL}?limit=5", headers=headers)
        assert response.status_code == 200 and response.json["numberReturned"] == 5
    with db.session() as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.username == "granskad")).all()
        assert [(r.action, r.detail, r.feature_count, r.role) for r in rows] == [
            ("view_raw", "ogc:incidents", 5, "police")
        ] * 3
        s.execute(ApiToken.__table__.update().values(revoked=True))
    refused = client.get(f"{URL}?limit=5", headers=headers)
    assert refused.status_code == 401 and refused.json["code"] == "bad_token"
    with db.session() as s:
        assert len(s.scalars(select(AuditLog).where(AuditLog.username == "granskad")).all()) == 3


def test_a_token_of_an_est_group_member_pages_its_group_only(client, db):
    """The token's user is read on a plain connection; its scope (the organisation's
    municipality and its EST group) still bounds every page and the count."""
    from bulk_rows import incident_frame

    from tryggkarta.services.accounts import create_token, create_user, get_or_create_organisation
    from tryggkarta.services.municipalities import create_group

    frame = incident_frame(60, seed=9)
    frame["municipality_code"] = np.array(["1495", "1471", "1480"], dtype=object)[np.arange(60) % 3]
    with db.session() as s:
        ds = Dataset(layer="incidents", name="grupp", checksum="grupp")
        s.add(ds)
        s.flush()
        insert_layer(s, "incidents", frame, ds.id)
        create_group(s, "Skaraborg", ["1495", "1471"])
        get_or_create_organisation(s, "Polisen Skara", "municipality", "1495")
        user = create_user(
            s, "skarapolis", "ett-langt-losenord", "police", organisation="Polisen Skara"
        )
        token = create_token(s, user, "qgis")
    response = client.get(f"{URL}?limit=100", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    with db.session() as s:
        expected = sorted(
            s.scalars(select(Incident.id).where(Incident.municipality_code.in_(["1495", "1471"])))
        )
    assert [f["id"] for f in response.json["features"]] == expected
    assert response.json["numberMatched"] == 40
