"""Incidents partitioned by year on PostgreSQL (declarative range partitions); SQLite unchanged.

The table is rebuilt as ``PARTITION BY RANGE (occurred_at)`` with one partition per local
calendar year (see :mod:`tryggkarta.store.partitions` for why years), the stored rows copied
over (ids kept, the id sequence carried across), and the keys and indexes built once after
the copy on the parent, which builds them on every partition:

* primary key ``(id, occurred_at)`` and unique ``ix_incidents_dedup_key (dedup_key,
  occurred_at)``: a unique index of a partitioned table must hold the partition key. The key
  alone stays unique through the writers' anti-join over all partitions (partitions module);
* ``ix_incidents_dataset_id``, ``ix_incidents_occurred_at`` and the GiST ``ix_incidents_geom``
  as before (the generated ``geom`` column comes along with the table's definition).

Partitions exist for every stored year and for this and next year; later years are created
by imports and ``db upgrade`` as they come.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

OLD = "incidents_unpartitioned"
INDEXES = (
    "CREATE INDEX ix_incidents_dataset_id ON incidents (dataset_id)",
    "CREATE INDEX ix_incidents_occurred_at ON incidents (occurred_at)",
    "CREATE INDEX ix_incidents_geom ON incidents USING GIST (geom)",
)
FOREIGN_KEY = (
    "ALTER TABLE incidents ADD CONSTRAINT incidents_dataset_id_fkey FOREIGN KEY (dataset_id) "
    "REFERENCES datasets (id) ON DELETE CASCADE"
)


def _columns(conn) -> str:  # noqa: ANN001 - a SQLAlchemy connection
    """The stored (not generated) columns of ``incidents``, in table order."""
    names = conn.execute(
        text(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'incidents'::regclass "
            "AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum"
        )
    ).scalars()
    return ", ".join(names)


def _strip(conn, table: str) -> None:  # noqa: ANN001
    """Drop ``table``'s indexes and constraints: their names are needed by the new table."""
    for (name,) in conn.execute(
        text("SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass)"),
        {"t": table},
    ).all():
        op.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for (name,) in conn.execute(
        text(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = CAST(:t AS regclass)"
        ),
        {"t": table},
    ).all():
        op.execute(f'DROP INDEX "{name}"')


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    from tryggkarta.store import partitions

    op.execute("LOCK TABLE incidents IN ACCESS EXCLUSIVE MODE")
    cols = _columns(conn)
    years = partitions.stored_years(conn)
    op.execute(f"ALTER TABLE incidents RENAME TO {OLD}")
    _strip(conn, OLD)
    op.execute(
        f"CREATE TABLE incidents (LIKE {OLD} INCLUDING DEFAULTS INCLUDING GENERATED) "
        "PARTITION BY RANGE (occurred_at)"
    )
    op.execute("ALTER SEQUENCE incidents_id_seq OWNED BY incidents.id")
    partitions.ensure_partitions(conn, years)
    partitions.ensure_ahead(conn)
    op.execute(f"INSERT INTO incidents ({cols}) SELECT {cols} FROM {OLD}")
    op.execute(f"DROP TABLE {OLD}")
    op.execute("ALTER TABLE incidents ADD CONSTRAINT incidents_pkey PRIMARY KEY (id, occurred_at)")
    op.execute("CREATE UNIQUE INDEX ix_incidents_dedup_key ON incidents (dedup_key, occurred_at)")
    for sql in INDEXES:
        op.execute(sql)
    op.execute(FOREIGN_KEY)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    op.execute("LOCK TABLE incidents IN ACCESS EXCLUSIVE MODE")
    cols = _columns(conn)
    op.execute(f"CREATE TABLE {OLD} (LIKE incidents INCLUDING DEFAULTS INCLUDING GENERATED)")
    op.execute(f"INSERT INTO {OLD} ({cols}) SELECT {cols} FROM incidents")
    op.execute(f"ALTER SEQUENCE incidents_id_seq OWNED BY {OLD}.id")
    op.execute("DROP TABLE incidents")  # its partitions go with it
    op.execute(f"ALTER TABLE {OLD} RENAME TO incidents")
    op.execute("ALTER TABLE incidents ADD CONSTRAINT incidents_pkey PRIMARY KEY (id)")
    op.execute("CREATE UNIQUE INDEX ix_incidents_dedup_key ON incidents (dedup_key)")
    for sql in INDEXES:
        op.execute(sql)
    op.execute(FOREIGN_KEY)
