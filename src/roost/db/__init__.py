"""Engine, sessions, the declarative base and column types."""

from roost.db.base import Base, UTCDateTime
from roost.db.engine import WriteGate, async_url, create_engine, create_read_sessionmaker, create_sessionmaker

__all__ = [
    "Base",
    "UTCDateTime",
    "WriteGate",
    "async_url",
    "create_engine",
    "create_read_sessionmaker",
    "create_sessionmaker",
]
