"""Programmatic Alembic: used by `roost migrate`, the test suite and `alembic check` in CI."""

from __future__ import annotations

from alembic import command
from alembic.config import Config


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "roost:migrations")
    config.set_main_option("roost.database_url", database_url)
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def check(database_url: str) -> None:
    """Raise when the models and the migrations disagree."""
    command.check(alembic_config(database_url))
