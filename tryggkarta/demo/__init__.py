"""Synthetic demo data for one municipality (default Skara, kommunkod 1495).

``tryggkarta demo`` loads ``data/demo/*.geojson`` (written by ``python -m tryggkarta.demo
generate``, see :mod:`tryggkarta.demo.generate`), shifting every timestamp by whole weeks so
that the newest data falls in the current week (weekday and hour patterns are kept), and
creates the demo organisations and users.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import select

from tryggkarta.demo.generate import COMMENTS, DEMO_PASSWORD, DEMO_USERS, generate
from tryggkarta.paths import data_dir

__all__ = ["COMMENTS", "DEMO_PASSWORD", "DEMO_USERS", "generate", "load_demo"]


def _shift_weeks(newest: pd.Timestamp, now: datetime) -> pd.Timedelta:
    weeks = (pd.Timestamp(now) - newest) // pd.Timedelta(weeks=1)
    return pd.Timedelta(weeks=max(int(weeks), 0))


def load_demo(
    db, municipality_code: str = "1495", reset: bool = False, now: datetime | None = None
) -> list[str]:
    """Load data/demo into ``db`` with demo organisations and users. Idempotent."""
    import geopandas as gpd

    from tryggkarta.geo import municipality
    from tryggkarta.services.accounts import create_user, get_or_create_organisation
    from tryggkarta.store import Dataset, User
    from tryggkarta.store.models import Setting
    from tryggkarta.store.writes import delete_dataset, insert_layer

    folder = data_dir() / "demo"
    now = now or datetime.now(UTC)
    lines: list[str] = []
    with db.session() as s:
        if reset:
            for ds in s.scalars(select(Dataset).where(Dataset.source == "demo")).all():
                delete_dataset(s, ds.id)
        orgs = {}
        for name, kind in (
            ("Skara kommun", "municipality"),
            ("Polisen LPO Västra Skaraborg", "police"),
            ("Grannsamverkan Skara", "partner"),
            ("Skarabo (bostadsbolag)", "housing"),
            ("Fritidsgården Skara", "youth"),
        ):
            orgs[name] = get_or_create_organisation(s, name, kind, municipality_code)
        for username, role, org, display in DEMO_USERS:
            if s.scalar(select(User).where(User.username == username)) is None:
                create_user(
                    s, username, DEMO_PASSWORD, role, organisation=org, display_name=display
                )
        inc = gpd.read_file(folder / "incidents.geojson").to_crs(db.srid)
        inc["occurred_at"] = pd.to_datetime(inc["occurred_at"], utc=True)
        shift = _shift_weeks(inc["occurred_at"].max(), now)
        inc["occurred_at"] += shift
        inc["municipality_code"] = municipality_code
        sur = gpd.read_file(folder / "survey.geojson").to_crs(db.srid)
        sur["answered_at"] = pd.to_datetime(sur["answered_at"], utc=True) + shift
        sur["reasons"] = sur["reasons"].fillna("")
        sur["municipality_code"] = municipality_code
        proj = gpd.read_file(folder / "projects.geojson").to_crs(db.srid)
        proj["municipality_code"] = municipality_code
        areas = gpd.read_file(folder / "districts.geojson").to_crs(db.srid)
        areas["municipality_code"] = municipality_code
        boundary = gpd.GeoDataFrame(
            {
                "name": ["Skara kommun"],
                "kind": ["municipality"],
                "code": [municipality_code],
                "municipality_code": [municipality_code],
            },
            geometry=[municipality(municipality_code, db.srid)],
            crs=db.srid,
        )
        areas = pd.concat([boundary, areas], ignore_index=True)
        for layer, gdf, name in (
            ("incidents", inc, "Demo: EST-rapporter och polishändelser"),
            ("survey", sur, "Demo: Trygghetsundersökning 2026"),
            ("projects", proj, "Demo: plan- och gestaltningsprojekt"),
            ("areas", areas, "Demo: kommungräns och stadsdelar"),
        ):
            gdf = gdf.copy()
            if "source_id" in gdf:
                gdf["dedup_key"] = "demo:" + layer + ":" + gdf["source_id"].astype(str)
            else:
                gdf["dedup_key"] = "demo:" + layer + ":" + gdf["name"].astype(str)
            ds = Dataset(
                layer=layer,
                name=name,
                source="demo",
                licence="syntetiska data (MIT)",
                sensitivity="internal",
                checksum=f"demo-{layer}",
                filename=f"{layer}.geojson",
                format="geojson",
                crs=f"EPSG:{db.srid}",
                rows_read=len(gdf),
                organisation_id=orgs["Skara kommun"].id,
                municipality_code=municipality_code,
            )
            s.add(ds)
            s.flush()
            inserted, skipped = insert_layer(s, layer, gdf, ds.id)
            ds.rows_imported, ds.rows_duplicate = inserted, skipped
            if inserted == 0:
                s.delete(ds)
            lines.append(f"{layer:10} {inserted:6d} new, {skipped:6d} already loaded")
        from tryggkarta.demo.cycle import load_cycle

        lines += load_cycle(s, orgs, db.srid, now)
        if s.get(Setting, "demo") is None:
            s.add(Setting(key="demo", value="1"))
    lines.append(
        f"Demo users (password '{DEMO_PASSWORD}'): "
        + ", ".join(f"{u} ({r})" for u, r, *_ in DEMO_USERS)
    )
    return lines
