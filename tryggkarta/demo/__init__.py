"""Synthetic demo data for one municipality (default Skara, kommunkod 1495).

``tryggkarta demo`` loads ``data/demo/*.geojson`` (written by ``python -m tryggkarta.demo
generate``, see :mod:`tryggkarta.demo.generate`), shifting every timestamp by whole weeks so
that the newest data falls in the current week (weekday and hour patterns are kept), and
creates the demo organisations and users.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import select

from tryggkarta.demo.generate import COMMENTS, DEMO_PASSWORD, DEMO_USERS, generate
from tryggkarta.paths import data_dir

__all__ = ["COMMENTS", "DEMO_PASSWORD", "DEMO_USERS", "generate", "load_demo"]


def _shift_weeks(newest: pd.Timestamp, now: datetime) -> pd.Timedelta:
    weeks = (pd.Timestamp(now) - newest) // pd.Timedelta(weeks=1)
    return pd.Timedelta(weeks=max(int(weeks), 0))


#: The neighbour in the EST-group demo (``tryggkarta demo --municipality 1495,1471``):
#: Götene's town centre (SWEREF 99 TM), its demo organisation and user.
NEIGHBOURS = {"1471": (412_280.0, 6_488_358.0)}
GROUP_DEMO_USERS = (
    ("kommun-gotene", "municipality", "Götene kommun", "Trygghetssamordnare Götene"),
)
#: Share of the main demo's records copied, moved, to a neighbour (a smaller town).
NEIGHBOUR_SHARE = 0.35


def _add_demo_layer(
    s: Any,
    db: Any,
    layer: str,
    gdf: Any,
    *,
    name: str,
    checksum: str,
    organisation_id: int,
    municipality_code: str | None,
) -> tuple[int, int]:
    """One demo layer as its own dataset (dropped again when every row was there already):
    (inserted, skipped)."""
    from tryggkarta.store import Dataset
    from tryggkarta.store.writes import insert_layer

    ds = Dataset(
        layer=layer,
        name=name,
        source="demo",
        licence="syntetiska data (MIT)",
        sensitivity="internal",
        checksum=checksum,
        filename=f"{layer}.geojson",
        format="geojson",
        crs=f"EPSG:{db.srid}",
        rows_read=len(gdf),
        organisation_id=organisation_id,
        municipality_code=municipality_code,
    )
    s.add(ds)
    s.flush()
    inserted, skipped = insert_layer(s, layer, gdf, ds.id)
    ds.rows_imported, ds.rows_duplicate = inserted, skipped
    if inserted == 0:
        s.delete(ds)
    return inserted, skipped


def load_demo(
    db, municipality_code: str = "1495", reset: bool = False, now: datetime | None = None
) -> list[str]:
    """Load data/demo into ``db`` with demo organisations and users. Idempotent.

    ``municipality_code`` may list two municipalities (``1495,1471``): the first gets the
    demo, the second (Götene) a smaller synthetic copy around its own town, its own
    municipality organisation and user, and both form one EST group.
    """
    codes = [c.strip() for c in str(municipality_code).split(",") if c.strip()]
    main_code, neighbours = codes[0], codes[1:]
    unknown = [c for c in neighbours if c not in NEIGHBOURS]
    if unknown:
        from tryggkarta.errors import BadInput

        raise BadInput(
            f"The demo has a neighbour only for {', '.join(NEIGHBOURS)}, not {', '.join(unknown)}."
        )
    lines = _load_main(db, main_code, reset, now)
    for code in neighbours:
        lines[-1:-1] = _load_neighbour(db, main_code, code, now)
    return lines


def _demo_places(s: Any, srid: int, municipality_code: str) -> str:
    """The demo town's named places (where its hot spots lie) for the map's
    place search and the survey form's "type a place": replaced on every load (idempotent),
    never touching places an administrator imported (their source is not ``demo``)."""
    import numpy as np
    from sqlalchemy import delete

    from tryggkarta.demo.generate import PLACES, TOWN
    from tryggkarta.geo import transform
    from tryggkarta.services.places import fold
    from tryggkarta.store.models import Place

    names = [p.name for p in PLACES]
    x = np.array([TOWN[0] + p.dx for p in PLACES])
    y = np.array([TOWN[1] + p.dy for p in PLACES])
    x, y = transform(x, y, 3006, srid)
    s.execute(delete(Place).where(Place.source == "demo"))
    s.add_all(
        Place(
            kind="place",
            name=name,
            name_key=fold(name),
            category="demo",
            municipality_code=municipality_code,
            x=float(px),
            y=float(py),
            source="demo",
        )
        for name, px, py in zip(names, x, y, strict=True)
    )
    return f"{'places':10} {len(names):6d} named places of the demo town"


def _load_main(db, municipality_code: str, reset: bool, now: datetime | None) -> list[str]:
    import geopandas as gpd

    from tryggkarta.geo import municipality
    from tryggkarta.services.accounts import create_user, get_or_create_organisation
    from tryggkarta.store import Dataset, EstGroup, User
    from tryggkarta.store.models import Setting
    from tryggkarta.store.writes import delete_dataset

    folder = data_dir() / "demo"
    now = now or datetime.now(UTC)
    lines: list[str] = []
    with db.session() as s:
        if reset:
            for ds in s.scalars(select(Dataset).where(Dataset.source == "demo")).all():
                delete_dataset(s, ds.id)
            for group in s.scalars(select(EstGroup)).all():
                s.delete(group)
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
            inserted, skipped = _add_demo_layer(
                s,
                db,
                layer,
                gdf,
                name=name,
                checksum=f"demo-{layer}",
                organisation_id=orgs["Skara kommun"].id,
                municipality_code=municipality_code,
            )
            lines.append(f"{layer:10} {inserted:6d} new, {skipped:6d} already loaded")
        lines.append(_demo_places(s, db.srid, municipality_code))
        from tryggkarta.demo.cycle import load_cycle

        lines += load_cycle(s, orgs, db.srid, now)
        if s.get(Setting, "demo") is None:
            s.add(Setting(key="demo", value="1"))
    lines.append(
        f"Demo users (password '{DEMO_PASSWORD}'): "
        + ", ".join(f"{u} ({r})" for u, r, *_ in DEMO_USERS)
    )
    return lines


def _load_neighbour(db, main_code: str, code: str, now: datetime | None) -> list[str]:
    """A neighbour municipality for the EST-group demo: a share of the main demo's incidents
    and answers moved from the main town to the neighbour's town (kept inside its boundary),
    its boundary and town district, its organisation and user, and the EST group."""
    import geopandas as gpd
    import numpy as np
    import shapely

    from tryggkarta.demo.generate import TOWN
    from tryggkarta.geo import muni_name, municipality
    from tryggkarta.services import municipalities
    from tryggkarta.services.accounts import create_user, get_or_create_organisation
    from tryggkarta.store import EstGroup, User

    folder = data_dir() / "demo"
    now = now or datetime.now(UTC)
    name = muni_name(code)
    town = NEIGHBOURS[code]
    boundary = municipality(code, db.srid)
    rng = np.random.default_rng(int(code))
    lines: list[str] = []
    with db.session() as s:
        org = get_or_create_organisation(s, f"{name} kommun", "municipality", code)
        for username, role, org_name, display in GROUP_DEMO_USERS:
            if s.scalar(select(User).where(User.username == username)) is None:
                create_user(
                    s, username, DEMO_PASSWORD, role, organisation=org_name, display_name=display
                )
        group_name = f"EST {muni_name(main_code)}–{name}"
        if s.scalar(select(EstGroup.id).where(EstGroup.name == group_name)) is None:
            municipalities.create_group(s, group_name, [main_code, code])
            lines.append(f"EST group  {group_name}")
        layers = {}
        for layer, time_col in (("incidents", "occurred_at"), ("survey", "answered_at")):
            gdf = gpd.read_file(folder / f"{layer}.geojson").to_crs(db.srid)
            gdf = gdf[rng.random(len(gdf)) < NEIGHBOUR_SHARE].copy()
            gdf["geometry"] = shapely.transform(
                gdf.geometry.values,
                lambda xy: xy + np.array([town[0] - TOWN[0], town[1] - TOWN[1]]),
            )
            gdf = gdf[gdf.within(boundary)].copy()
            gdf[time_col] = pd.to_datetime(gdf[time_col], utc=True)
            layers[layer] = gdf
        shift = _shift_weeks(layers["incidents"]["occurred_at"].max(), now)
        for layer, time_col in (("incidents", "occurred_at"), ("survey", "answered_at")):
            layers[layer][time_col] += shift
        layers["survey"]["reasons"] = layers["survey"]["reasons"].fillna("")
        district = shapely.Point(town).buffer(1800).intersection(boundary)
        layers["areas"] = gpd.GeoDataFrame(
            {
                "name": [f"{name} kommun", f"{name} tätort"],
                "kind": ["municipality", "district"],
                "code": [code, f"{code}-01"],
            },
            geometry=[boundary, district],
            crs=db.srid,
        )
        for layer, gdf in layers.items():
            gdf = gdf.copy()
            gdf["municipality_code"] = code
            ids = gdf["source_id"].astype(str) if "source_id" in gdf else gdf["name"].astype(str)
            gdf["dedup_key"] = f"demo:{code}:{layer}:" + ids
            inserted, skipped = _add_demo_layer(
                s,
                db,
                layer,
                gdf,
                name=f"Demo: {name} ({layer})",
                checksum=f"demo-{code}-{layer}",
                organisation_id=org.id,
                municipality_code=code,
            )
            lines.append(f"{layer:10} {inserted:6d} new, {skipped:6d} already loaded ({name})")
    lines.append(
        "Group demo users (same password): "
        + ", ".join(f"{u} ({r}, {o})" for u, r, o, _d in GROUP_DEMO_USERS)
    )
    return lines
