"""SQLAlchemy 2 models: one schema for SQLite and PostgreSQL/PostGIS.

Geometries are kept as WKB (``geom_wkb``) in the working CRS on both engines, with plain
numeric columns for fast filtering and SQL grid counting: ``x``/``y`` for point layers and
``minx..maxy`` for polygon layers. On PostGIS the migration adds a generated
``geom geometry(Geometry, <srid>)`` column with a GiST index, used by spatial predicates.

Each layer row has a ``dedup_key`` (unique): ``<source>:<source_id>`` when the source has ids
(Polisen event id, case number), otherwise a hash of the row's content. Imports insert with
"on conflict do nothing", so the same file or overlapping dumps add nothing twice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from tryggkarta.store.types import UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


#: The dedup key of the point layers: compared byte by byte on PostgreSQL (collation "C").
DedupKey = String(128).with_variant(String(128, collation="C"), "postgresql")


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict: JSON, list: JSON}


class Setting(Base):
    """Installation facts fixed at ``db upgrade`` time (e.g. the working CRS)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40), default="municipality")
    municipality_code: Mapped[str | None] = mapped_column(String(4))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EstGroup(Base):
    """An EST group: municipalities that run EST together and see each other's data.

    A user's organisation belongs to one municipality (``Organisation.municipality_code``); its
    members see the records of every municipality that shares a group with it, each at their
    role's detail. A municipality may be in several groups (a joint group and a police region).
    """

    __tablename__ = "est_groups"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list[EstGroupMember]] = relationship(
        cascade="all, delete-orphan", order_by="EstGroupMember.municipality_code"
    )


class EstGroupMember(Base):
    __tablename__ = "est_group_members"
    group_id: Mapped[int] = mapped_column(
        ForeignKey("est_groups.id", ondelete="CASCADE"), primary_key=True
    )
    municipality_code: Mapped[str] = mapped_column(String(4), primary_key=True, index=True)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(2), default="sv")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    organisation: Mapped[Organisation | None] = relationship()


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class UserSession(Base):
    """One login (a browser session): the cookie holds its random id, the table its hash.

    Logging out deletes the row, a password change deletes all of the user's rows: a copied
    cookie stops working at once (the cookie alone proves nothing without its row).
    """

    __tablename__ = "user_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(String(64))


class Dataset(Base):
    """One import: where it came from, who brought it, what it held."""

    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(primary_key=True)
    layer: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(300), default="")
    licence: Mapped[str] = mapped_column(String(200), default="")
    sensitivity: Mapped[str] = mapped_column(String(20), default="internal")
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    imported_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    checksum: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(300), default="")
    format: Mapped[str] = mapped_column(String(40), default="")
    crs: Mapped[str] = mapped_column(String(40), default="")
    encoding: Mapped[str] = mapped_column(String(40), default="")
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_imported: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    rows_duplicate: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict | None]
    municipality_code: Mapped[str | None] = mapped_column(String(4))
    retention_until: Mapped[datetime | None]


class Incident(Base):
    """An EST report or police situational report."""

    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    dedup_key: Mapped[str] = mapped_column(DedupKey, unique=True, index=True)  # see migration 0003
    source_id: Mapped[str | None] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    occurred_to: Mapped[datetime | None]
    t_epoch: Mapped[int] = mapped_column(BigInteger)
    hour_local: Mapped[int] = mapped_column(SmallInteger)
    weekday_local: Mapped[int] = mapped_column(SmallInteger)
    category: Mapped[str] = mapped_column(String(40))
    subcategory: Mapped[str | None] = mapped_column(String(200))
    source_type: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(300))
    reporter_org: Mapped[str | None] = mapped_column(String(200))
    precision: Mapped[str] = mapped_column(String(20), default="exact")
    municipality_code: Mapped[str | None] = mapped_column(String(4))
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    geom_wkb: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        Index("ix_incidents_xy", "x", "y"),
        # a user's municipalities and a time window: every query of a regional installation
        Index("ix_incidents_municipality_time", "municipality_code", "occurred_at"),
    )


class IncidentCellCount(Base):
    """Incidents per 250 m cell, local-time bucket and category group, kept current on import.

    Maintained by :mod:`tryggkarta.store.cellcounts` in the transaction that inserts or deletes
    the incidents, so releases and the start page read these rows instead of all history.
    ``day`` is the local start date of the bucket (days since 1970-01-01): a bucket is a week
    (Monday) cut at the first of each month, so every release period (52 weeks to a Monday,
    a year, a quarter) is a whole number of buckets. ``street`` is 1 for street-level
    precision. ``municipality_code`` is ``''`` where the incidents have none.
    """

    __tablename__ = "incident_cell_counts"
    #: Tiles read a period's buckets in a box of cells: (day, cx, cy), the rest included so
    #: that the read never visits the table (migration 0015).
    __table_args__ = (
        Index(
            "ix_incident_cell_counts_day_cell",
            "day",
            "cx",
            "cy",
            postgresql_include=["n", "street", "grp", "municipality_code"],
        ),
    )
    municipality_code: Mapped[str] = mapped_column(String(4), primary_key=True)
    street: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    grp: Mapped[str] = mapped_column(String(20), primary_key=True)
    cx: Mapped[int] = mapped_column(Integer, primary_key=True)
    cy: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class IncidentMonthCount(Base):
    """Incidents per 1 km cell, local calendar month and category group: the coarse roll-up.

    Kept current with :class:`IncidentCellCount` by the same write paths
    (:mod:`tryggkarta.store.cellcounts`), for maps of a region or the country: a tile at
    zoom 9 or less (1 km and 5 km cells) and the page's extent read these rows, about one
    per occupied square kilometre and month instead of one per incident. ``month`` is the
    local month as months since 1970-01 (``(year - 1970) * 12 + month - 1``); ``cx``/``cy``
    are ``floor(x / 1000)``/``floor(y / 1000)``. Migration 0017.
    """

    __tablename__ = "incident_month_counts"
    __table_args__ = (
        Index(
            "ix_incident_month_counts_month_cell",
            "month",
            "cx",
            "cy",
            postgresql_include=["n", "street", "grp", "municipality_code"],
        ),
        Index("ix_incident_month_counts_cx", "cx"),
        Index("ix_incident_month_counts_cy", "cy"),
    )
    municipality_code: Mapped[str] = mapped_column(String(4), primary_key=True)
    street: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    month: Mapped[int] = mapped_column(Integer, primary_key=True)
    grp: Mapped[str] = mapped_column(String(20), primary_key=True)
    cx: Mapped[int] = mapped_column(Integer, primary_key=True)
    cy: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class IncidentYearCount(Base):
    """Incidents per 5 km cell, local calendar year and category group: the region roll-up.

    Kept current with :class:`IncidentCellCount` and :class:`IncidentMonthCount` by the same
    write paths (:mod:`tryggkarta.store.cellcounts`), for tiles of a region or the country
    (5 km cells, zoom 7 or less) over whole years or all history, which would otherwise sum
    every month of the 1 km roll-up. ``year`` is the local calendar year (e.g. 2025);
    ``cx``/``cy`` are ``floor(x / 5000)``/``floor(y / 5000)``. Migration 0019.
    """

    __tablename__ = "incident_year_counts"
    #: a period's years in a box of cells, and a box of cells over all history
    __table_args__ = (
        Index(
            "ix_incident_year_counts_year_cell",
            "year",
            "cx",
            "cy",
            postgresql_include=["n", "street", "grp", "municipality_code"],
        ),
        Index(
            "ix_incident_year_counts_cell",
            "cx",
            "cy",
            postgresql_include=["n", "year", "street", "grp", "municipality_code"],
        ),
    )
    municipality_code: Mapped[str] = mapped_column(String(4), primary_key=True)
    street: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    grp: Mapped[str] = mapped_column(String(20), primary_key=True)
    cx: Mapped[int] = mapped_column(Integer, primary_key=True)
    cy: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class SurveyCampaign(Base):
    """A survey: imported answers name one, and a form campaign (``slug`` set) collects them.

    A form campaign has a public link ``/enkat/<slug>``, a period (local calendar days), an
    area (the municipality, the districts in ``area_ids`` or a drawn polygon ``area_wkb``), the optional questions it asks
    (``questions``) and a status (``draft`` → ``open`` → ``closed``; it closes itself after
    ``ends_on``). Its answers are stored in ``dataset_id`` (one dataset per campaign).
    """

    __tablename__ = "survey_campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    year: Mapped[int | None]
    municipality_code: Mapped[str | None] = mapped_column(String(4), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    slug: Mapped[str | None] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    area_ids: Mapped[list | None]
    #: A polygon drawn on the campaign form (WKB, working CRS); used instead of the districts
    #: or the municipality when set.
    area_wkb: Mapped[bytes | None] = mapped_column(LargeBinary)
    questions: Mapped[dict | None]
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime | None] = mapped_column(default=utcnow)


class SurveyResponse(Base):
    __tablename__ = "survey_responses"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("survey_campaigns.id"))
    dedup_key: Mapped[str] = mapped_column(DedupKey, unique=True, index=True)  # see migration 0003
    source_id: Mapped[str | None] = mapped_column(String(100))
    survey: Mapped[str | None] = mapped_column(String(200))
    answered_at: Mapped[datetime | None] = mapped_column(index=True)
    t_epoch: Mapped[int | None] = mapped_column(BigInteger)
    rating: Mapped[int] = mapped_column(SmallInteger, index=True)
    reasons: Mapped[str] = mapped_column(String(300), default="")  # comma-separated keys
    time_of_day: Mapped[str | None] = mapped_column(String(10))
    weekday: Mapped[str | None] = mapped_column(String(10))  # form answers: vardag / helg
    comment: Mapped[str | None] = mapped_column(Text)
    age_band: Mapped[str | None] = mapped_column(String(20))
    gender: Mapped[str | None] = mapped_column(String(20))
    municipality_code: Mapped[str | None] = mapped_column(String(4), index=True)
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    geom_wkb: Mapped[bytes] = mapped_column(LargeBinary)
    #: Form answers: ``review`` while a comment that may hold personal data waits in
    #: ``held_comment`` (``comment`` stays empty), ``approved``/``rejected`` after review.
    review_status: Mapped[str | None] = mapped_column(String(10), index=True)
    held_comment: Mapped[str | None] = mapped_column(Text)
    #: Form answers: the browser had sent an answer to this campaign before (flagged, kept).
    repeat_answer: Mapped[bool | None] = mapped_column(Boolean)
    #: Form answers: the walking route the resident drew (a line, WKB, working CRS), on the
    #: answer's first pin only. Staff only; never in a public output.
    route_wkb: Mapped[bytes | None] = mapped_column(LargeBinary)

    __table_args__ = (Index("ix_survey_responses_xy", "x", "y"),)


class _PolygonLayer:
    """Columns shared by polygon layers (bbox for index filtering, WKB geometry)."""

    minx: Mapped[float] = mapped_column(Float)
    miny: Mapped[float] = mapped_column(Float)
    maxx: Mapped[float] = mapped_column(Float)
    maxy: Mapped[float] = mapped_column(Float)
    geom_wkb: Mapped[bytes] = mapped_column(LargeBinary)


class Project(_PolygonLayer, Base):
    """A planning or design project (detaljplan, gestaltning, park, gata …)."""

    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    dedup_key: Mapped[str] = mapped_column(String(128), unique=True)
    source_id: Mapped[str | None] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(300))
    case_number: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40), default="ovrigt")
    status: Mapped[str] = mapped_column(String(20), default="pagaende")
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(Text)
    municipality_code: Mapped[str | None] = mapped_column(String(4), index=True)

    measures: Mapped[list[ProjectMeasure]] = relationship(
        back_populates="project", cascade="all, delete-orphan"
    )

    __table_args__ = (Index("ix_projects_bbox", "minx", "miny", "maxx", "maxy"),)


class ProjectMeasure(Base):
    """A safety measure a project includes (ticked by the planner), with the evidence."""

    __tablename__ = "project_measures"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    measure: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="included")
    evidence: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)

    project: Mapped[Project] = relationship(back_populates="measures")


class Area(_PolygonLayer, Base):
    """Municipality boundaries, districts (stadsdelar), patrol areas."""

    __tablename__ = "areas"
    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    dedup_key: Mapped[str] = mapped_column(String(128), unique=True)
    source_id: Mapped[str | None] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20), default="district", index=True)
    code: Mapped[str | None] = mapped_column(String(40))
    municipality_code: Mapped[str | None] = mapped_column(String(4), index=True)

    __table_args__ = (Index("ix_areas_bbox", "minx", "miny", "maxx", "maxy"),)


class AnalysisRun(Base):
    """A hotspot computation: method, parameters, filters, data versions and results."""

    __tablename__ = "analysis_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    method: Mapped[str] = mapped_column(String(40), index=True)
    cache_key: Mapped[str] = mapped_column(String(64), unique=True)
    params: Mapped[dict]
    filters: Mapped[dict]
    dataset_versions: Mapped[dict]
    summary: Mapped[dict | None]
    result_geojson: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    duration_ms: Mapped[float | None]


class PublishedRelease(Base):
    """A public release as it was published: kept once per data version (migration 0020).

    Written by :mod:`tryggkarta.store.releases` when a release below raw detail is first
    computed for a data version (or ahead of visitors by ``tryggkarta releases refresh``),
    read by every worker process and after restarts, and a record of what was published
    when. ``payload`` holds published values only (suppressed cells as −1, never a count
    below k, never a row). ``version`` is the SHA-256 of the layer's data version.
    """

    __tablename__ = "published_releases"
    __table_args__ = (
        UniqueConstraint(
            "layer",
            "scope",
            "period_key",
            "period_start",
            "rule_k",
            "rule_base",
            "with_trend",
            "version",
            name="uq_published_releases_key",
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    layer: Mapped[str] = mapped_column(String(20))
    #: The installation's municipality, ``''`` for a group, a region or the country.
    scope: Mapped[str] = mapped_column(String(4))
    period_key: Mapped[str] = mapped_column(String(20))
    period_start: Mapped[str] = mapped_column(String(40))
    period_end: Mapped[str] = mapped_column(String(40))
    rule_k: Mapped[int] = mapped_column(Integer)
    rule_base: Mapped[int] = mapped_column(Integer)
    with_trend: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[str] = mapped_column(String(64))
    n_cells: Mapped[int] = mapped_column(Integer)
    compute_ms: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class Decision(Base):
    """A note in the weekly picture (lägesbild): the action decided for a hotspot."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    week: Mapped[str] = mapped_column(String(10), index=True)  # ISO week, e.g. 2026-W47
    hotspot_key: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300), default="")
    text: Mapped[str] = mapped_column(Text)
    x: Mapped[float | None]
    y: Mapped[float | None]
    #: The municipality the decision's hot spot lies in (its EST group sees it; 0018).
    municipality_code: Mapped[str | None] = mapped_column(String(4), index=True)
    analysis_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("analysis_runs.id", ondelete="SET NULL")
    )
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Intervention(Base):
    """A measure carried out somewhere (lighting fixed, patrol, cleaning …)."""

    __tablename__ = "interventions"
    id: Mapped[int] = mapped_column(primary_key=True)
    measure: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="planerad")
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"))
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id", ondelete="SET NULL"))
    x: Mapped[float | None]
    y: Mapped[float | None]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The register of measures (migration 0006): ``measure`` is a MEASURE_KINDS key.
    #: Place as WKB in the working CRS (point, line or polygon); x/y is its representative point.
    geom_wkb: Mapped[bytes | None] = mapped_column(LargeBinary)
    hotspot_key: Mapped[str | None] = mapped_column(String(100))
    owner_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    due_date: Mapped[date | None] = mapped_column(Date)
    origin: Mapped[str] = mapped_column(String(20), default="manual")
    promise_id: Mapped[int | None] = mapped_column(ForeignKey("promises.id", ondelete="SET NULL"))
    #: The citizen-promise activity this measure carries out (migration 0009).
    activity_id: Mapped[int | None] = mapped_column(
        ForeignKey("promise_activities.id", ondelete="SET NULL")
    )
    #: Incident categories its effect is evaluated on (comma-separated; empty = all).
    categories: Mapped[str] = mapped_column(String(300), default="")
    updated_at: Mapped[datetime | None]
    #: The municipality the measure lies in (its place; else its owner's), migration 0014:
    #: a user sees and changes measures of their EST group's municipalities only.
    municipality_code: Mapped[str | None] = mapped_column(String(4), index=True)

    owner_org: Mapped[Organisation | None] = relationship()


class Promise(Base):
    """A citizen promise (medborgarlöfte) of a year: commitments, each with activities."""

    __tablename__ = "promises"
    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int]
    municipality_code: Mapped[str | None] = mapped_column(String(4))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    status: Mapped[str] = mapped_column(String(20), default="pagaende")

    commitments: Mapped[list[PromiseCommitment]] = relationship(
        back_populates="promise",
        cascade="all, delete-orphan",
        order_by="PromiseCommitment.position",
    )


class PromiseCommitment(Base):
    """One commitment of a promise: who promises (``party``: kommunen/polisen/tillsammans)
    and what (migration 0009)."""

    __tablename__ = "promise_commitments"
    id: Mapped[int] = mapped_column(primary_key=True)
    promise_id: Mapped[int] = mapped_column(
        ForeignKey("promises.id", ondelete="CASCADE"), index=True
    )
    party: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)

    promise: Mapped[Promise] = relationship(back_populates="commitments")
    activities: Mapped[list[PromiseActivity]] = relationship(
        back_populates="commitment",
        cascade="all, delete-orphan",
        order_by="PromiseActivity.id",
    )


class PromiseActivity(Base):
    """An activity of a commitment: owner, due date, status; measures carry it out."""

    __tablename__ = "promise_activities"
    id: Mapped[int] = mapped_column(primary_key=True)
    commitment_id: Mapped[int] = mapped_column(
        ForeignKey("promise_commitments.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    owner_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    due_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="planerad")
    note: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime | None]

    commitment: Mapped[PromiseCommitment] = relationship(back_populates="activities")
    owner_org: Mapped[Organisation | None] = relationship()


class SharedMap(Base):
    """A saved map (layers, filters, extent) shared with organisations/roles or by link."""

    __tablename__ = "shared_maps"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    config: Mapped[dict]
    shared_roles: Mapped[list] = mapped_column(default=list)
    shared_orgs: Mapped[list] = mapped_column(default=list)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    link_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Place(Base):
    """A named place or a street address for the map's place search (``tryggkarta places
    import``): a point in the working CRS; ``name_key`` is the name folded for search."""

    __tablename__ = "places"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="place")  # place | address
    name: Mapped[str] = mapped_column(String(300))
    name_key: Mapped[str] = mapped_column(String(300), index=True)
    category: Mapped[str | None] = mapped_column(String(100))
    municipality_code: Mapped[str | None] = mapped_column(String(4), index=True)
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExportSchedule(Base):
    __tablename__ = "export_schedules"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    layer: Mapped[str] = mapped_column(String(40))
    format: Mapped[str] = mapped_column(String(20), default="geojson")
    audience: Mapped[str] = mapped_column(String(20), default="public")
    params: Mapped[dict] = mapped_column(default=dict)
    schedule: Mapped[str] = mapped_column(String(40), default="MON 06:00")
    target_dir: Mapped[str] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_run_at: Mapped[datetime | None]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ExportRun(Base):
    __tablename__ = "export_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int | None] = mapped_column(
        ForeignKey("export_schedules.id", ondelete="CASCADE")
    )
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="running")
    path: Mapped[str | None] = mapped_column(String(500))
    checksum: Mapped[str | None] = mapped_column(String(64))
    feature_count: Mapped[int | None]
    changed: Mapped[bool | None]
    message: Mapped[str] = mapped_column(Text, default="")


class AuditLog(Base):
    """Who saw or exported what, when."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(String(80), default="")
    role: Mapped[str] = mapped_column(String(20), default="public")
    action: Mapped[str] = mapped_column(String(40), index=True)
    layer: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(String(20))
    feature_count: Mapped[int | None]
    ip: Mapped[str | None] = mapped_column(String(64))
    extra: Mapped[dict | None]


#: Layer name -> model of its feature table.
LAYER_MODELS: dict[str, type[Base]] = {
    "incidents": Incident,
    "survey": SurveyResponse,
    "projects": Project,
    "areas": Area,
}
POINT_LAYERS = ("incidents", "survey")
