"""Engine, sessions, the declarative base and column types."""

from roost.db.base import Base, UTCDateTime
from roost.db.engine import (
    Gate,
    WriteGate,
    async_url,
    create_engine,
    create_read_engine,
    create_read_sessionmaker,
    create_sessionmaker,
    create_statement_sessionmaker,
    is_reading,
    no_gate,
)

__all__ = [
    "Base",
    "Gate",
    "UTCDateTime",
    "WriteGate",
    "async_url",
    "create_engine",
    "create_read_engine",
    "create_read_sessionmaker",
    "create_sessionmaker",
    "create_statement_sessionmaker",
    "is_reading",
    "no_gate",
]
