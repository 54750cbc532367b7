"""Engine, sessions, the declarative base and column types."""

from roost.db.base import Base, UTCDateTime
from roost.db.engine import async_url, create_engine, create_read_sessionmaker, create_sessionmaker

__all__ = ["Base", "UTCDateTime", "async_url", "create_engine", "create_read_sessionmaker", "create_sessionmaker"]
