"""Saved maps keep the map page's whole query and view; a places table for place search.

Saved maps before this revision held ``layers``, ``categories``, ``start``, ``end`` and
``extent`` (which both filtered the data and framed the view). They become version 2
configurations: ``{"v": 2, "query": {"layers", "cat", "from", "to", "bbox"}, "extent"}``, so
they open as the same map (see :func:`tryggkarta.services.sharing.upgrade_config`, of which
this is a frozen copy). Downgrade turns version 2 back into the old keys (what the old code
can show: weekday, hour, district, dataset and the zoom are dropped).

``places``: named places and street addresses (points in the working CRS) for the map page's
place search, imported with ``tryggkarta places import``.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_maps = sa.table("shared_maps", sa.column("id", sa.Integer), sa.column("config", sa.JSON))


def _extent(value: Any) -> list[float] | None:
    if not isinstance(value, list) or len(value) != 4:
        return None
    try:
        w, s, e, n = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if -180 <= w < e <= 180 and -90 <= s < n <= 90:
        return [w, s, e, n]
    return None


def to_v2(config: Any) -> dict[str, Any]:
    if not isinstance(config, dict):
        return {"v": 2, "query": {}}
    if config.get("v") == 2:
        return config
    query: dict[str, list[str]] = {}
    if isinstance(config.get("layers"), list) and config["layers"]:
        query["layers"] = [str(v) for v in config["layers"]]
    if isinstance(config.get("categories"), list) and config["categories"]:
        query["cat"] = [str(v) for v in config["categories"]]
    for old, new in (("start", "from"), ("end", "to")):
        if isinstance(config.get(old), str) and config[old]:
            query[new] = [config[old]]
    out: dict[str, Any] = {"v": 2, "query": query}
    extent = _extent(config.get("extent"))
    if extent:
        query["bbox"] = [",".join(str(v) for v in extent)]
        out["extent"] = extent
    return out


def to_v1(config: Any) -> dict[str, Any]:
    if not isinstance(config, dict) or config.get("v") != 2:
        return config if isinstance(config, dict) else {}
    query = config.get("query") or {}
    out: dict[str, Any] = {}
    for new, old in (("layers", "layers"), ("cat", "categories")):
        if query.get(new):
            out[old] = list(query[new])
    for new, old in (("from", "start"), ("to", "end")):
        if query.get(new):
            out[old] = query[new][0]
    if config.get("extent"):
        out["extent"] = config["extent"]
    return out


def _rewrite(convert: Any) -> None:
    conn = op.get_bind()
    for map_id, config in conn.execute(sa.select(_maps.c.id, _maps.c.config)).all():
        new = convert(config)
        if new != config:
            conn.execute(_maps.update().where(_maps.c.id == map_id).values(config=new))


def upgrade() -> None:
    op.create_table(
        "places",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("name_key", sa.String(length=300), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("municipality_code", sa.String(length=4), nullable=True),
        sa.Column("x", sa.Float(), nullable=False),
        sa.Column("y", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("places", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_places_name_key"), ["name_key"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_places_municipality_code"), ["municipality_code"], unique=False
        )
    _rewrite(to_v2)


def downgrade() -> None:
    _rewrite(to_v1)
    with op.batch_alter_table("places", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_places_municipality_code"))
        batch_op.drop_index(batch_op.f("ix_places_name_key"))
    op.drop_table("places")
