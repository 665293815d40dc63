"""Incidents partitioned by year on PostgreSQL/PostGIS (migration 0011); SQLite is unchanged.

**Why years, not months.** Ten years of national data are 15M rows: ten partitions of about
1.5M rows each. The heavy queries ask for a year (grid counts, Gi*, the yearly release) or
the last weeks (the weekly picture): a year scans one partition, a window touches at most
two. Months would give 120 partitions with six indexes each (720 index relations the
planner looks at per query) for no better pruning of those queries, and retention is
decided in years (a dataset's ``retention_until``, the yearly survey cycle). Bounds are the
installation's local new year (:func:`~tryggkarta.config.local_timezone`), so a local
calendar year is exactly one partition.

**Created ahead, never failed.** ``db upgrade`` makes the partitions for the stored years and
for this and next year (:func:`ensure_ahead`); an import makes any year it brings that has
none yet (:func:`ensure_partitions`, a date years ahead included) before it writes. A new
partition is created as a table of its own and then ATTACHed: that takes a SHARE UPDATE
EXCLUSIVE lock on ``incidents``, so readers and the site go on while an import runs.

**The dedup key.** A unique index of a partitioned table must hold the partition key, so the
database enforces ``(dedup_key, occurred_at)`` per partition (a content hash carries the time
anyway). The same key at another time (a Polisen event whose time was corrected) lives in
another partition: every insert therefore also anti-joins on ``dedup_key`` over all
partitions (the index's first column), and writers of the layer take one transaction-level
advisory lock (:func:`lock_writers`) so two imports cannot pass that check at once.

**Retention.** :func:`drop_before` drops whole years (DROP TABLE of a partition: no row is
deleted, no index is updated, no vacuum follows); a cut inside a year deletes only that
year's older rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Connection

from tryggkarta.config import local_timezone
from tryggkarta.errors import BadInput, StoreError

PARENT = "incidents"
#: Years a partition may be made for: outside, a time is a typo, not a report.
FIRST_YEAR, LAST_YEAR = 1900, 2200
#: pg_advisory_xact_lock key of the incident writers ("tkinc" as a number).
WRITER_LOCK = 0x746B696E63


def partition_name(year: int) -> str:
    return f"{PARENT}_y{int(year):04d}"


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """[local new year, next local new year) as aware datetimes."""
    tz = local_timezone()
    return datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz)


def bound_sql(year: int) -> str:
    lo, hi = year_bounds(year)
    return f"FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"


def local_years(when: pd.Series) -> set[int]:
    """The local calendar years of aware timestamps (vectorised)."""
    if len(when) == 0:
        return set()
    local = pd.to_datetime(when, utc=True).dt.tz_convert(local_timezone())
    return {int(y) for y in pd.unique(local.dt.year.dropna())}


def is_partitioned(conn: Connection) -> bool:
    """Whether ``incidents`` is a partitioned table (PostgreSQL after migration 0011)."""
    if conn.dialect.name != "postgresql":
        return False
    return bool(
        conn.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table "
                "WHERE partrelid = to_regclass(:t))"
            ),
            {"t": PARENT},
        ).scalar()
    )


def partitions(conn: Connection) -> dict[int, str]:
    """{year: partition table} of the stored partitions."""
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:t)"
        ),
        {"t": PARENT},
    ).scalars()
    out = {}
    for name in rows:
        suffix = name.rsplit("_y", 1)[-1]
        if suffix.isdigit():
            out[int(suffix)] = name
    return out


def lock_writers(conn: Connection) -> None:
    """One incident writer at a time (PostgreSQL, until the transaction ends): the
    cross-partition key check and the insert must not interleave with another import's, nor
    with a delete (an import that skipped a key because a dataset being deleted held it
    would lose the row), and the kept cell counts change under it
    (:func:`~tryggkarta.store.cellcounts.lock_counts`). SQLite has one writer anyway."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITER_LOCK})


def ensure_partitions(conn: Connection, years: set[int] | list[int]) -> list[int]:
    """Create the partitions of ``years`` that do not exist yet; returns the years created.

    Each is made as a table of its own (the parent's columns, defaults, generated ``geom``,
    indexes and constraints) and ATTACHed, which locks the parent in SHARE UPDATE EXCLUSIVE
    mode only. Needs the role that owns ``incidents`` (the one that ran ``db upgrade``).
    """
    wanted = sorted({int(y) for y in years})
    bad = [y for y in wanted if not FIRST_YEAR <= y <= LAST_YEAR]
    if bad:
        raise BadInput(
            f"Incident times in the year {bad[0]} cannot be stored: "
            f"times must lie between {FIRST_YEAR} and {LAST_YEAR}."
        )
    have = partitions(conn)
    missing = [y for y in wanted if y not in have]
    if not missing:
        return []
    owner = conn.execute(
        text(
            "SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE oid = to_regclass(:t)"
        ),
        {"t": PARENT},
    ).scalar()
    if not owner:
        raise StoreError(
            f"The incidents of {', '.join(map(str, missing))} need a partition of the table, "
            "which only the role that owns it may create: run 'tryggkarta db upgrade' as that "
            "role (it creates the partitions for this and next year) or import as it."
        )
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITER_LOCK + 1})
    have = partitions(conn)  # another session may have made them while we waited
    made = []
    for year in missing:
        if year in have:
            continue
        name = partition_name(year)
        conn.execute(
            text(
                f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING GENERATED "
                "INCLUDING INDEXES INCLUDING CONSTRAINTS)"
            )
        )
        conn.execute(
            text(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES {bound_sql(year)}")
        )
        made.append(year)
    return made


def ensure_ahead(conn: Connection, now: datetime | None = None) -> list[int]:
    """Partitions for this year and the next (``db upgrade`` and every import call it)."""
    year = (now or datetime.now(local_timezone())).astimezone(local_timezone()).year
    return ensure_partitions(conn, {year, year + 1})


def stored_years(conn: Connection, table: str = PARENT) -> set[int]:
    """The local years ``table`` holds rows of (min to max, one aggregate query)."""
    row = conn.execute(text(f"SELECT min(occurred_at), max(occurred_at) FROM {table}")).first()
    if row is None or row[0] is None:
        return set()
    tz = local_timezone()
    return set(range(row[0].astimezone(tz).year, row[1].astimezone(tz).year + 1))


def drop_before(conn: Connection, cutoff: datetime) -> dict[str, int]:
    """Retention: remove the incidents that occurred before ``cutoff``; rows removed per
    partition. Whole years go by DROP TABLE of their partition; the year the cut falls in
    loses only its older rows (a DELETE on that one partition). SQLite: one DELETE."""
    if cutoff.tzinfo is None:
        raise BadInput("The retention cut-off needs a time zone.")
    if not is_partitioned(conn):
        from sqlalchemy import delete

        from tryggkarta.store.models import Incident

        # through the column's type: SQLite stores UTC text, and a raw aware datetime would
        # be compared as local wall-clock text (the last hour before the cut went too)
        n = conn.execute(delete(Incident).where(Incident.occurred_at < cutoff))
        return {PARENT: int(n.rowcount or 0)}
    lock_writers(conn)
    out: dict[str, int] = {}
    for year, name in sorted(partitions(conn).items()):
        lo, hi = year_bounds(year)
        if hi <= cutoff:
            rows = int(conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())
            conn.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {name}"))
            conn.execute(text(f"DROP TABLE {name}"))
            out[name] = rows
        elif lo < cutoff:
            n = conn.execute(text(f"DELETE FROM {name} WHERE occurred_at < :c"), {"c": cutoff})
            out[name] = int(n.rowcount or 0)
    return out


def year_ranges_sql(years: list[int], column: str = "occurred_at") -> str:
    """A predicate true for times inside one of the local ``years`` ('false' for none)."""
    if not years:
        return "false"
    parts = []
    for year in sorted(years):
        lo, hi = year_bounds(year)
        parts.append(f"({column} >= '{lo.isoformat()}' AND {column} < '{hi.isoformat()}')")
    return "(" + " OR ".join(parts) + ")"


def partition_rows(cur: Any, name: str, limit: int) -> int:
    """Rows in one partition, counted no further than ``limit`` (a DB-API cursor)."""
    cur.execute(f"SELECT count(*) FROM (SELECT 1 FROM {name} LIMIT %s) t", (limit,))
    return int(cur.fetchone()[0])


def include_name(name: str | None, type_: str, _parent: dict[str, Any]) -> bool:
    """Alembic autogenerate filter: the yearly partitions are made by the app, not the models."""
    if type_ == "table" and name and name.startswith(PARENT + "_y"):
        return not name[len(PARENT) + 2 :].isdigit()
    return True
