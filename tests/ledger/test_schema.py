"""The migrations create exactly what ``osmanthus.ledger.schema`` describes (SQLite and
PostgreSQL): tables, columns, types, keys and indexes, compared by Alembic."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from osmanthus.ledger import connect, migrate
from osmanthus.ledger.schema import metadata


def test_the_migrated_schema_is_the_described_one(db_url: str) -> None:
    engine = connect(db_url)
    try:
        migrate(engine)
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_the_head_revision_read_without_alembic_is_alembics() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from osmanthus.ledger.database import MIGRATIONS, head_revision

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    assert head_revision() == script.get_current_head()
    assert len(script.get_heads()) == 1  # a linear history, which head_revision relies on
