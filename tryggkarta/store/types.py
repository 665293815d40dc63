"""Column types and SQL helpers that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Integer
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Timestamps stored as UTC, returned as timezone-aware UTC ``datetime``.

    PostgreSQL keeps ``timestamptz``; SQLite keeps naive UTC text. Naive input is refused
    (ambiguous local times are a classic source of one-hour errors around DST).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a timezone first")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class cell_floor(FunctionElement):
    """``floor(expr)`` as an integer on every engine (SQLite may lack ``floor``)."""

    type = Integer()
    inherit_cache = True


@compiles(cell_floor)
def _cell_floor_default(element: cell_floor, compiler: Any, **kw: Any) -> str:
    (arg,) = list(element.clauses)
    return f"CAST(floor({compiler.process(arg, **kw)}) AS BIGINT)"


@compiles(cell_floor, "sqlite")
def _cell_floor_sqlite(element: cell_floor, compiler: Any, **kw: Any) -> str:
    # CAST truncates towards zero; callers only pass non-negative values (they filter to the
    # grid's extent first), where truncation equals floor.
    (arg,) = list(element.clauses)
    return f"CAST({compiler.process(arg, **kw)} AS INTEGER)"
