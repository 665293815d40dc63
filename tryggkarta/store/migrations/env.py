"""Alembic environment: the engine and SRID come from tryggkarta (see store.engine.upgrade)."""

from alembic import context

from tryggkarta.store.models import Base
from tryggkarta.store.partitions import include_name

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes["engine"]
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("Offline migrations are not supported; run 'tryggkarta db upgrade'.")
run_migrations_online()
