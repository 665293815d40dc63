"""Incident counts per 250 m cell, local bucket and category group, kept current on import.

A cold start page used to count the incidents of two release periods by scanning the
incidents table (0.37 s at 100k rows, 5.8 s at 5M). The table ``incident_cell_counts`` holds
the same counts, narrow and ordered by (municipality, street level, bucket): a release reads
the buckets of its period and groups them by cell, never touching the incident rows.

* **Buckets.** A bucket starts on a local Monday or on the first of a month, whichever comes
  last, and ends at the next of either: every release period (52 weeks to a Monday, a
  calendar year, a quarter, all in local time) is a whole number of buckets, so a release
  from these counts equals the scan exactly.
* **Maintenance.** :func:`add_dataset` reads the rows an import inserted (``dataset_id``)
  ONCE, in the import's transaction: one ``INSERT … SELECT … GROUP BY`` into a temporary
  table at the finest keys (250 m cell, bucket, group, municipality, street level); every
  kept table is then filled from that small aggregate (``INSERT … SELECT … ON CONFLICT DO
  UPDATE``, in primary-key order). :func:`subtract_dataset` does the same with a minus sign
  before the rows are deleted. On PostgreSQL's partitioned incidents an import counts its
  staging table instead (:func:`add_staged`): its rows are exactly the rows inserted. The
  bucket of each row is a balanced ``CASE`` on ``t_epoch`` over the local bucket starts of
  the rows' time span (a dozen comparisons per row): no timezone support needed in SQLite.
  A bucket never crosses a local month (it starts on a Monday or a 1st), so its month and its
  year follow from its day number (a ``CASE`` over the aggregate), and a 1 km or 5 km cell
  from its 250 m cell (``floor(cx / 4)``, ``/ 20``).
* **Rebuild.** :func:`rebuild` counts everything again (``tryggkarta db recount``): after a
  change of ``TRYGGKARTA_TIMEZONE``, or rows written outside the store's write paths.
* **The roll-ups.** ``incident_month_counts`` (migration 0017) holds the same counts per
  1 km cell and local calendar month (:data:`MONTHS`), for maps of a region or the country;
  ``incident_year_counts`` (migration 0019) per 5 km cell and local calendar year
  (:data:`YEARS`), for tiles of all history at region zoom. Every write path above keeps all
  tables (:data:`DAYS`, :data:`MONTHS`, :data:`YEARS`, each a :class:`Rollup`) in the same
  statement order and transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    and_,
    case,
    delete,
    false,
    func,
    literal,
    literal_column,
    select,
    text,
    true,
)
from sqlalchemy.orm import Session

from tryggkarta.domain import STREET_LEVEL_PRECISIONS
from tryggkarta.store.models import (
    Incident,
    IncidentCellCount,
    IncidentMonthCount,
    IncidentYearCount,
)
from tryggkarta.store.types import cell_floor

if TYPE_CHECKING:
    from tryggkarta.store.engine import Database

#: The cell size of the counts (the release grid's, ``disclosure.RELEASE_CELL``).
CELL = 250.0
EPOCH = date(1970, 1, 1)
TABLE = IncidentCellCount.__table__
MONTH_TABLE = IncidentMonthCount.__table__
#: The cell size of the month roll-up.
MONTH_CELL = 1000.0
YEAR_TABLE = IncidentYearCount.__table__
#: The cell size of the year roll-up.
YEAR_CELL = 5000.0


def _zone(tz: ZoneInfo | None) -> ZoneInfo:
    from tryggkarta.config import local_timezone

    return tz or local_timezone()


def bucket_start(d: date) -> date:
    """The first day of the bucket holding local day ``d``: its Monday, or the first of the
    month if that came later."""
    return max(d - timedelta(days=d.weekday()), d.replace(day=1))


def is_boundary(moment: datetime, tz: ZoneInfo | None = None) -> bool:
    """Whether ``moment`` (aware) is a bucket start: local midnight of a Monday or a first."""
    zone = _zone(tz)
    local = moment.astimezone(zone)
    d = local.date()
    return (d.weekday() == 0 or d.day == 1) and _local_midnight(d, zone) == moment.astimezone(UTC)


def _local_midnight(d: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0), zone).astimezone(UTC)


def day_number(moment: datetime, tz: ZoneInfo | None = None) -> int:
    """The local date of ``moment`` as days since 1970-01-01 (the ``day`` column's unit)."""
    return (moment.astimezone(_zone(tz)).date() - EPOCH).days


def buckets(t_min: float, t_max: float, tz: ZoneInfo | None = None) -> tuple[list[int], list[int]]:
    """(UTC epoch seconds of each bucket start, its local day number) covering
    ``[t_min, t_max]``, ascending. A few hundred per decade."""
    zone = _zone(tz)
    first = bucket_start(datetime.fromtimestamp(t_min, UTC).astimezone(zone).date())
    last = datetime.fromtimestamp(t_max, UTC).astimezone(zone).date()
    days = np.arange(
        np.datetime64(first, "D"), np.datetime64(last + timedelta(days=1), "D"), dtype="M8[D]"
    )
    as_dates = days.astype(object)  # bounded by the span in days, not by rows
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday (3)
    first_of_month = days == days.astype("M8[M]").astype("M8[D]")
    starts = np.flatnonzero((weekday == 0) | first_of_month)
    if len(starts) == 0 or starts[0] != 0:
        starts = np.concatenate([[0], starts])
    epochs = [int(_local_midnight(as_dates[i], zone).timestamp()) for i in starts.tolist()]
    numbers = days[starts].astype(np.int64).tolist()
    return epochs, numbers


def month_number(d: date) -> int:
    """The month of ``d`` as months since 1970-01 (the ``month`` column's unit)."""
    return (d.year - 1970) * 12 + d.month - 1


def month_first(number: int) -> date:
    """The first day of month ``number`` (months since 1970-01)."""
    return date(1970 + number // 12, number % 12 + 1, 1)


def is_month_start(moment: datetime, tz: ZoneInfo | None = None) -> bool:
    """Whether ``moment`` (aware) is local midnight of the first of a month."""
    zone = _zone(tz)
    d = moment.astimezone(zone).date()
    return d.day == 1 and _local_midnight(d, zone) == moment.astimezone(UTC)


def month_buckets(
    t_min: float, t_max: float, tz: ZoneInfo | None = None
) -> tuple[list[int], list[int]]:
    """(UTC epoch seconds of each local month start, its month number) covering
    ``[t_min, t_max]``, ascending: twelve a year."""
    zone = _zone(tz)
    first = month_number(datetime.fromtimestamp(t_min, UTC).astimezone(zone).date())
    last = month_number(datetime.fromtimestamp(t_max, UTC).astimezone(zone).date())
    numbers = list(range(first, last + 1))
    epochs = [int(_local_midnight(month_first(m), zone).timestamp()) for m in numbers]
    return epochs, numbers


def is_year_start(moment: datetime, tz: ZoneInfo | None = None) -> bool:
    """Whether ``moment`` (aware) is local midnight of the first of January."""
    zone = _zone(tz)
    d = moment.astimezone(zone).date()
    return d.month == 1 and d.day == 1 and _local_midnight(d, zone) == moment.astimezone(UTC)


@dataclass(frozen=True)
class Rollup:
    """One kept count table: its cell size, time column and buckets.

    Each bucket is a whole number of the 250 m counts' buckets (:func:`bucket_start`), and
    each cell a whole number of their 250 m cells: the table is filled from their keys."""

    table: Any
    cell: float
    column: str
    #: the first local day of the bucket holding a local day
    start_of: Callable[[date], date]
    #: the bucket number of its first local day
    number: Callable[[date], int]


#: 250 m cells per week-or-month bucket (``incident_cell_counts``, migration 0012).
DAYS = Rollup(TABLE, CELL, "day", bucket_start, lambda d: (d - EPOCH).days)
#: 1 km cells per local calendar month (``incident_month_counts``, migration 0017).
MONTHS = Rollup(MONTH_TABLE, MONTH_CELL, "month", lambda d: d.replace(day=1), month_number)
#: 5 km cells per local calendar year (``incident_year_counts``, migration 0019).
YEARS = Rollup(YEAR_TABLE, YEAR_CELL, "year", lambda d: d.replace(month=1, day=1), lambda d: d.year)
#: Every kept table, in the order every writer fills them (and so locks their rows).
ROLLUPS = (DAYS, MONTHS, YEARS)


def present(session: Session) -> tuple[Rollup, ...]:
    """The kept count tables this store has (none before migration 0012)."""
    from sqlalchemy import inspect

    inspector = inspect(session.connection())
    return tuple(r for r in ROLLUPS if inspector.has_table(r.table.name))


#: The incidents of one write, counted once at the 250 m counts' keys (a temporary table:
#: one per connection, dropped when the counts are filled).
_DELTA = Table(
    "tk_count_delta",
    MetaData(),
    Column("mc", String(4), nullable=False),
    Column("st", SmallInteger, nullable=False),
    Column("dy", Integer, nullable=False),
    Column("gr", String(20), nullable=False),
    Column("ccx", Integer, nullable=False),
    Column("ccy", Integer, nullable=False),
    Column("n", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)


def _bucket_of(rollup: Rollup, days: Sequence[int], col: Any) -> Any:
    """The ``rollup``'s bucket number of the 250 m counts' bucket ``col`` (a day number
    among ``days``, ascending): a CASE on the days where the bucket changes."""
    if rollup.column == DAYS.column:
        return col
    numbers = [rollup.number(rollup.start_of(EPOCH + timedelta(days=int(d)))) for d in days]
    starts = [i for i, n in enumerate(numbers) if i == 0 or n != numbers[i - 1]]
    return _tree(col, [days[i] for i in starts], [numbers[i] for i in starts], 0, len(starts))


def _tree(col: Any, epochs: Sequence[int], days: Sequence[int], lo: int, hi: int) -> Any:
    """The day number of the bucket holding ``col`` among buckets ``lo..hi-1`` (binary CASE)."""
    if hi - lo == 1:
        return literal_column(str(int(days[lo])))
    mid = (lo + hi) // 2
    return case(
        (col < literal_column(str(int(epochs[mid]))), _tree(col, epochs, days, lo, mid)),
        else_=_tree(col, epochs, days, mid, hi),
    )


def _group_expr(category: Any) -> Any:
    from tryggkarta.disclosure import GROUP_OF

    return case(
        {cat: literal(grp) for cat, grp in GROUP_OF.items()},
        value=category,
        else_=literal("ovrigt"),
    )


def _apply(
    session: Session,
    where: Any,
    sign: int,
    tz: ZoneInfo | None = None,
    rollups: Sequence[Rollup] | None = None,
    since: dict[str, int] | None = None,
    source: Any = None,
) -> int:
    """Add (``sign`` +1) or take away (−1) the incidents matching ``where`` from the kept
    counts (``rollups``, default: every table the store has), in the session's transaction.
    ``since`` (column → day number) limits a table to the incidents of that local day and
    later (retention's cut bucket). ``source`` reads other rows than the stored incidents:
    a table with the incidents' counted columns (:func:`add_staged`). Returns the number of
    count rows touched.

    The incidents are read once, into a temporary aggregate at the 250 m counts' keys;
    every table is filled from it in primary-key order (every writer locks count rows in
    the same order: a HashAggregate would hand them over in any order, and two writers
    could deadlock)."""
    c = (Incident.__table__ if source is None else source).c
    targets = present(session) if rollups is None else tuple(rollups)
    if not targets:
        return 0
    span = session.execute(select(func.min(c.t_epoch), func.max(c.t_epoch)).where(where)).one()
    if span[0] is None:
        return 0
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert

        lock_counts(session)
        # the grouping sorts a weekly import's 100k rows in memory, not in a file
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    epochs, days = buckets(float(span[0]), float(span[1]), tz)
    street = case((c.precision.in_(STREET_LEVEL_PRECISIONS), literal(1)), else_=literal(0))
    keys = ("mc", "st", "dy", "gr", "ccx", "ccy")
    counted = (
        select(
            func.coalesce(c.municipality_code, literal("")).label("mc"),
            street.label("st"),
            _tree(c.t_epoch, epochs, days, 0, len(days)).label("dy"),
            _group_expr(c.category).label("gr"),
            cell_floor(c.x / CELL).label("ccx"),
            cell_floor(c.y / CELL).label("ccy"),
            (literal(int(sign)) * func.count()).label("n"),
        )
        .where(where)
        .group_by(*(literal_column(k) for k in keys))
    )
    connection = session.connection()
    _DELTA.drop(connection, checkfirst=True)
    _DELTA.create(connection)
    session.execute(_DELTA.insert().from_select([*keys, "n"], counted))
    d = _DELTA.c
    touched = 0
    for rollup in targets:
        k = int(rollup.cell / CELL)
        cx = d.ccx if k == 1 else cell_floor(d.ccx / literal(float(k)))
        cy = d.ccy if k == 1 else cell_floor(d.ccy / literal(float(k)))
        columns = [d.mc, d.st, _bucket_of(rollup, days, d.dy), d.gr, cx, cy]
        # names unlike the aggregate's columns (a GROUP BY name is a column first)
        labels = ("k_mc", "k_st", "k_b", "k_gr", "k_x", "k_y")
        query = select(*(col.label(key) for col, key in zip(columns, labels, strict=True)))
        if rollup.column == DAYS.column:  # the aggregate's own keys: one row each already
            query = query.add_columns(d.n)
        else:
            query = query.add_columns(func.sum(d.n).label("k_n"))
            query = query.group_by(*(literal_column(key) for key in labels))
        if since is not None and rollup.column in since:
            query = query.where(d.dy >= int(since[rollup.column]))
        query = query.order_by(*(literal_column(key) for key in labels))
        table = rollup.table
        names = ["municipality_code", "street", rollup.column, "grp", "cx", "cy", "n"]
        stmt = dialect_insert(table).from_select(names, query)
        stmt = stmt.on_conflict_do_update(
            index_elements=names[:-1], set_={"n": table.c.n + stmt.excluded.n}
        )
        touched += int(session.execute(stmt).rowcount or 0)
        if sign < 0:  # emptied rows, among the buckets just written (the bucket index)
            column = table.c[rollup.column]
            written = sorted(
                {rollup.number(rollup.start_of(EPOCH + timedelta(days=x))) for x in days}
            )
            session.execute(delete(table).where(column.in_(written), table.c.n <= 0))
    _DELTA.drop(connection)
    if dialect == "postgresql":
        session.execute(text("RESET work_mem"))
    return touched


def lock_counts(session: Session) -> None:
    """Take the incident writers' lock (PostgreSQL, until the transaction ends) before the
    counts change.

    Imports, deletes, retention and recounts all write the same count rows: two of them at
    once could each hold rows the other waits for (a deadlock, one import failed). Under one
    lock they take turns; an import already holds it from its start, so this is a no-op
    there (advisory locks are re-entrant).
    """
    from tryggkarta.store.partitions import lock_writers

    lock_writers(session.connection())


def add_dataset(
    session: Session, dataset_id: int, after_id: int = 0, tz: ZoneInfo | None = None
) -> int:
    """Count the incidents of ``dataset_id`` with ``id > after_id`` in (after they are
    inserted, same transaction): ``after_id`` is the largest id before the insert."""
    c = Incident.__table__.c
    return _apply(session, and_(c.dataset_id == int(dataset_id), c.id > int(after_id)), +1, tz)


#: The columns of an incident the counts read (:func:`add_staged`'s staging table has them).
COUNTED = ("municipality_code", "precision", "t_epoch", "category", "x", "y")


def add_staged(session: Session, staged: str, tz: ZoneInfo | None = None) -> int:
    """Count the incidents in the table ``staged`` in: an import's staging table that holds
    exactly the rows it inserted (PostgreSQL's partitioned path, whose staged rows are
    checked against every stored key before the insert). The same counts as
    :func:`add_dataset`, without reading back the rows just written from the partitions."""
    from sqlalchemy import column
    from sqlalchemy import table as lightweight_table

    c = Incident.__table__.c
    source = lightweight_table(staged, *(column(name, c[name].type) for name in COUNTED))
    return _apply(session, true(), +1, tz, source=source)


def available(session: Session) -> bool:
    """Whether the table exists: a store at a schema before 0012 (upgraded later, which
    counts everything then) is written without it."""
    from sqlalchemy import inspect

    return inspect(session.connection()).has_table(TABLE.name)


def last_id(session: Session) -> int:
    """The largest incident id now (0 if none): rows inserted later have larger ids."""
    return int(session.execute(select(func.max(Incident.__table__.c.id))).scalar() or 0)


def subtract_dataset(session: Session, dataset_id: int, tz: ZoneInfo | None = None) -> int:
    """Take the incidents of ``dataset_id`` out of the counts (before they are deleted)."""
    return _apply(session, Incident.__table__.c.dataset_id == int(dataset_id), -1, tz)


def subtract_where(session: Session, where: Any, tz: ZoneInfo | None = None) -> int:
    """Take the incidents matching ``where`` out of the counts (before a delete by rule,
    e.g. retention: ``Incident.occurred_at < cut``)."""
    return _apply(session, where, -1, tz)


def remove_before(session: Session, cutoff: datetime, tz: ZoneInfo | None = None) -> int:
    """Retention: take the incidents with ``occurred_at < cutoff`` out of the counts, before
    they are deleted (same transaction); returns the count rows deleted or changed.

    Buckets (months in the month roll-up, years in the year roll-up) that end before the cut
    go whole (one DELETE, no incident read: a dropped year's partition is never scanned);
    the bucket the cut falls in loses only its older incidents. Those are read once, from
    the start of the longest cut bucket (the year's), and each table takes away those of
    its own cut bucket (:func:`_apply`'s ``since``).
    """
    zone = _zone(tz)
    tables = present(session)
    starts = {r.column: r.start_of(cutoff.astimezone(zone).date()) for r in tables}
    cut = [r for r in tables if _local_midnight(starts[r.column], zone) < cutoff]
    touched = 0
    if cut:
        first = _local_midnight(min(starts[r.column] for r in cut), zone)
        c = Incident.__table__.c
        touched += _apply(
            session,
            and_(c.occurred_at >= first, c.occurred_at < cutoff),
            -1,
            zone,
            rollups=cut,
            since={r.column: (starts[r.column] - EPOCH).days for r in cut},
        )
    if session.get_bind().dialect.name == "postgresql":
        lock_counts(session)
    for rollup in tables:
        column = rollup.table.c[rollup.column]
        start = rollup.number(starts[rollup.column])
        gone = session.execute(delete(rollup.table).where(column < start))
        touched += int(gone.rowcount or 0)
    return touched


def rebuild(
    session: Session, tz: ZoneInfo | None = None, only: Sequence[Rollup] | None = None
) -> int:
    """Count every incident again from scratch into the kept count tables (``only`` these);
    returns the number of rows of the first of them (the 250 m counts, when rebuilt)."""
    from tryggkarta.store.engine import unbounded

    unbounded(session)
    targets = present(session) if only is None else tuple(only)
    if session.get_bind().dialect.name == "postgresql":
        lock_counts(session)  # no import adds to the counts between the delete and the count
    for rollup in targets:
        session.execute(delete(rollup.table))
    _apply(session, true(), +1, tz, rollups=targets)
    if not targets:
        return 0
    return int(session.execute(select(func.count()).select_from(targets[0].table)).scalar_one())


def _where(municipality_code: str | None) -> list[Any]:
    clauses = [TABLE.c.street == 1]
    if municipality_code is not None:
        clauses.append(TABLE.c.municipality_code == municipality_code)
    return clauses


def any_street(db: Database, municipality_code: str | None) -> bool:
    """Whether any street-level incident was ever counted (one index probe, no scan)."""
    stmt = select(literal(1)).where(and_(*_where(municipality_code))).limit(1)
    with db.engine.connect() as conn:
        return conn.execute(stmt).first() is not None


def street_extent(
    db: Database, municipality_code: str | None
) -> tuple[float, float, float, float] | None:
    """Bounds of the street-level cells ever counted (lower-left corners of the outermost
    cells): the release grid built on them equals the one built on the points' extent."""
    stmt = select(
        func.min(TABLE.c.cx), func.min(TABLE.c.cy), func.max(TABLE.c.cx), func.max(TABLE.c.cy)
    ).where(and_(*_where(municipality_code)))
    with db.engine.connect() as conn:
        row = conn.execute(stmt).one()
    if row[0] is None:
        return None
    return tuple(float(v) * CELL for v in row)  # type: ignore[return-value]


def street_counts(
    db: Database,
    municipality_code: str | None,
    start: datetime,
    end: datetime,
    tz: ZoneInfo | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(cx, cy, group, n) of street-level incidents with ``start <= occurred_at < end``;
    both ends must be bucket starts (:func:`is_boundary`)."""
    cx, cy, grp, n = street_counts_periods(db, municipality_code, [(start, end)], tz)
    keep = n[:, 0] > 0
    return cx[keep], cy[keep], grp[keep], n[keep, 0]


def street_counts_periods(
    db: Database,
    municipality_code: str | None,
    periods: Sequence[tuple[datetime, datetime]],
    tz: ZoneInfo | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(cx, cy, group, n) of street-level incidents per cell and group, ``n`` with one column
    per period ``[start, end)`` (bucket starts, :func:`is_boundary`): ONE pass over the
    buckets of all the periods (a release and the period before it, for trends), one row
    per occupied (cell, group)."""
    zone = _zone(tz)
    days = []
    for start, end in periods:
        if not (is_boundary(start, zone) and is_boundary(end, zone)):
            raise ValueError("cell counts answer periods that start and end on bucket starts only")
        days.append((day_number(start, zone), day_number(end, zone)))
    from tryggkarta.disclosure import CATEGORY_GROUPS

    c = TABLE.c
    names = [g for g in CATEGORY_GROUPS if g != "alla"]
    # the group as its number: every column an integer, one numpy array from the rows
    number = case({g: literal(i) for i, g in enumerate(names)}, value=c.grp, else_=literal(-1))
    sums = [
        func.sum(case((and_(c.day >= d0, c.day < d1), c.n), else_=literal(0))) for d0, d1 in days
    ]
    stmt = (
        select(c.cx, c.cy, number, *sums)
        .where(
            and_(
                *_where(municipality_code),
                c.day >= min(d0 for d0, _ in days),
                c.day < max(d1 for _, d1 in days),
            )
        )
        .group_by(c.cx, c.cy, c.grp)
    )
    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # the country's year is ~100k count rows: grouped in memory, not in a temp file
            conn.execute(text("SET LOCAL work_mem = '64MB'"))
        # plain tuples from the driver's cursor: no Row object per count row
        rows = conn.execute(stmt).cursor.fetchall()
    got = np.array(rows, dtype=np.int64).reshape(len(rows), 3 + len(days))
    grp = np.array([*names, "ovrigt"], dtype=object)[got[:, 2]]  # -1: an unknown group
    return got[:, 0], got[:, 1], grp, got[:, 3:]


# --------------------------------------------------------------------------- coarse cells


def _unanswerable(filters: Any) -> bool:
    """Filters no kept count can answer: a place, weekdays, hours or datasets."""
    return (
        filters.bbox is not None
        or filters.polygon is not None
        or filters.weekdays is not None
        or filters.hours is not None
        or filters.dataset_ids is not None
    )


def _kind_clauses(table: Any, filters: Any) -> list[Any] | None:
    """The conditions on a count table's group, street flag and municipality that select
    what ``filters`` select, or None when the counts cannot tell."""
    from tryggkarta.disclosure import CATEGORY_GROUPS, GROUP_OF
    from tryggkarta.domain import PRECISIONS

    c = table.c
    clauses: list[Any] = []
    if filters.categories is not None:
        wanted = set(filters.categories)
        groups = [
            key
            for key, (_label, cats) in CATEGORY_GROUPS.items()
            if key != "alla" and set(cats) <= wanted
        ]
        covered = {cat for cat, grp in GROUP_OF.items() if grp in groups}
        if covered != wanted:
            return None  # a category without the rest of its group, or an unknown one
        clauses.append(c.grp.in_(groups))
    if filters.precisions is not None:
        wanted = set(filters.precisions)
        street = set(STREET_LEVEL_PRECISIONS)
        if not wanted <= set(PRECISIONS):
            return None
        if wanted == street:
            clauses.append(c.street == 1)
        elif wanted == set(PRECISIONS) - street:
            clauses.append(c.street == 0)
        elif wanted != set(PRECISIONS):
            return None
    if filters.municipality_code is not None:
        clauses.append(c.municipality_code == filters.municipality_code)
    if filters.municipality_codes is not None:
        clauses.append(c.municipality_code.in_(filters.municipality_codes))
    return clauses


def coarse_where(filters: Any, tz: ZoneInfo | None = None) -> list[Any] | None:
    """The conditions on the counts that select exactly the incidents ``filters`` select,
    or None when the counts cannot tell (then the caller scans the incidents).

    The counts hold a 250 m cell, a bucket, a category group, street level or not and the
    municipality; so they answer filters of whole buckets (:func:`is_boundary` ends, or
    none), whole category groups, street level or not, and municipalities — not a bbox or
    polygon, weekdays, hours or datasets.
    """
    if _unanswerable(filters):
        return None
    zone = _zone(tz)
    c = TABLE.c
    clauses: list[Any] = []
    for moment in (filters.start, filters.end):
        if moment is not None and not is_boundary(moment, zone):
            return None
    if filters.start is not None and filters.end is not None:
        # the bucket days themselves: one index descent per bucket on (day, cx, cy) reads
        # only the tile's cells, where a day range would read the whole country's
        d0, d1 = day_number(filters.start, zone), day_number(filters.end, zone)
        if d1 <= d0:
            clauses.append(false())
        else:
            _epochs, days = buckets(filters.start.timestamp(), filters.end.timestamp() - 1, zone)
            clauses.append(c.day.in_([d for d in days if d0 <= d < d1]))
    elif filters.start is not None:
        clauses.append(c.day >= day_number(filters.start, zone))
    elif filters.end is not None:
        clauses.append(c.day < day_number(filters.end, zone))
    kinds = _kind_clauses(TABLE, filters)
    return None if kinds is None else clauses + kinds


def month_where(filters: Any, tz: ZoneInfo | None = None) -> list[Any] | None:
    """As :func:`coarse_where`, on the month roll-up: the period must be whole local
    calendar months (:func:`is_month_start` ends, or none); None otherwise."""
    if _unanswerable(filters):
        return None
    zone = _zone(tz)
    c = MONTH_TABLE.c
    clauses: list[Any] = []
    for moment in (filters.start, filters.end):
        if moment is not None and not is_month_start(moment, zone):
            return None

    def number(moment: datetime) -> int:
        return month_number(moment.astimezone(zone).date())

    if filters.start is not None and filters.end is not None:
        m0, m1 = number(filters.start), number(filters.end)
        # the months themselves: one index descent per month on (month, cx, cy)
        clauses.append(c.month.in_(list(range(m0, m1))) if m1 > m0 else false())
    elif filters.start is not None:
        clauses.append(c.month >= number(filters.start))
    elif filters.end is not None:
        clauses.append(c.month < number(filters.end))
    kinds = _kind_clauses(MONTH_TABLE, filters)
    return None if kinds is None else clauses + kinds


def year_where(filters: Any, tz: ZoneInfo | None = None) -> list[Any] | None:
    """As :func:`coarse_where`, on the year roll-up: the period must be whole local
    calendar years (:func:`is_year_start` ends, or none); None otherwise."""
    if _unanswerable(filters):
        return None
    zone = _zone(tz)
    c = YEAR_TABLE.c
    clauses: list[Any] = []
    for moment in (filters.start, filters.end):
        if moment is not None and not is_year_start(moment, zone):
            return None

    def number(moment: datetime) -> int:
        return moment.astimezone(zone).year

    if filters.start is not None and filters.end is not None:
        y0, y1 = number(filters.start), number(filters.end)
        clauses.append(c.year.in_(list(range(y0, y1))) if y1 > y0 else false())
    elif filters.start is not None:
        clauses.append(c.year >= number(filters.start))
    elif filters.end is not None:
        clauses.append(c.year < number(filters.end))
    kinds = _kind_clauses(YEAR_TABLE, filters)
    return None if kinds is None else clauses + kinds


def year_cells(size: float, where: list[Any], box: tuple[int, int, int, int] | None = None) -> Any:
    """``SELECT ix, iy, n``: incidents per ``size``-metre cell (a whole multiple of 5 km)
    from the year roll-up under ``where`` (:func:`year_where`), for the cells of ``box`` as
    in :func:`coarse_cells`."""
    return _cells_of(YEAR_TABLE, YEAR_CELL, size, where, box)


def month_cells(size: float, where: list[Any], box: tuple[int, int, int, int] | None = None) -> Any:
    """``SELECT ix, iy, n``: incidents per ``size``-metre cell (a whole multiple of 1 km:
    1 km or 5 km) from the month roll-up under ``where`` (:func:`month_where`), for the
    cells of ``box`` as in :func:`coarse_cells`."""
    return _cells_of(MONTH_TABLE, MONTH_CELL, size, where, box)


def month_extent(
    db: Database, codes: Sequence[str] | None = None
) -> tuple[float, float, float, float] | None:
    """Bounds of every incident ever counted in the municipalities ``codes`` (all when
    None), to the 1 km cell: (min x, min y, max x, max y) of the outermost cells' outer
    edges, read from the month roll-up (the ``cx``/``cy`` indexes), never the incidents."""
    c = MONTH_TABLE.c
    stmt = select(func.min(c.cx), func.min(c.cy), func.max(c.cx), func.max(c.cy))
    if codes is not None:
        stmt = stmt.where(c.municipality_code.in_(list(codes)))
    with db.engine.connect() as conn:
        row = conn.execute(stmt).one()
    if row[0] is None:
        return None
    return (
        float(row[0]) * MONTH_CELL,
        float(row[1]) * MONTH_CELL,
        (float(row[2]) + 1) * MONTH_CELL,
        (float(row[3]) + 1) * MONTH_CELL,
    )


def coarse_cells(
    size: float, where: list[Any], box: tuple[int, int, int, int] | None = None
) -> Any:
    """``SELECT ix, iy, n``: incidents per ``size``-metre cell (a multiple of the 250 m
    :data:`CELL`, e.g. 1 km or 5 km) from the counts, under ``where`` (from
    :func:`coarse_where`), for the cells ``ix0 <= ix <= ix1, iy0 <= iy <= iy1`` of ``box``.

    A 1 km cell is exactly four by four 250 m cells, so its count equals a scan's.
    """
    return _cells_of(TABLE, CELL, size, where, box)


def _cells_of(
    table: Any, unit: float, size: float, where: list[Any], box: tuple[int, int, int, int] | None
) -> Any:
    k = size / unit
    if k < 1 or k != int(k):
        raise ValueError(f"a coarse cell must be a whole multiple of {unit:.0f} m")
    c = table.c
    k = int(k)
    clauses = list(where)
    if box is not None:
        ix0, iy0, ix1, iy1 = box
        clauses += [c.cx >= ix0 * k, c.cx < (ix1 + 1) * k, c.cy >= iy0 * k, c.cy < (iy1 + 1) * k]
    ix = cell_floor(c.cx / literal(float(k))).label("ix")
    iy = cell_floor(c.cy / literal(float(k))).label("iy")
    return (
        select(ix, iy, func.sum(c.n).label("n"))
        .where(and_(true(), *clauses))
        .group_by(literal_column("ix"), literal_column("iy"))
    )
