from __future__ import annotations

from roost.db.migrate import check


def test_models_and_migrations_agree(database_url: str) -> None:
    # `alembic check`: autogenerate finds nothing to do against the migrated database.
    check(database_url)
