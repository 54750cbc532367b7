"""Column shorthands shared by the models."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Annotated, Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import mapped_column

from roost.db import UTCDateTime
from roost.kit.clock import utcnow_seconds

# BIGINT on PostgreSQL; plain INTEGER on SQLite so that it stays the rowid alias.
BigId = BigInteger().with_variant(Integer(), "sqlite")
JsonDoc = JSON().with_variant(JSONB(), "postgresql")

IdPk = Annotated[int, mapped_column(BigId, primary_key=True, autoincrement=True)]
AccountFk = Annotated[int, mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"), index=True)]
# The same without an index of its own, for a table whose composite index starts with account_id
# already: a second index would only be one more to write on every insert.
AccountFkLeading = Annotated[int, mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"))]
Timestamp = Annotated[datetime, mapped_column(UTCDateTime(), default=utcnow_seconds)]
MaybeTimestamp = Annotated[datetime | None, mapped_column(UTCDateTime(), nullable=True)]
JsonObject = Annotated[dict[str, Any], mapped_column(JsonDoc, default=dict)]
# How many contacts are linked to a tag or sequence: kept by triggers on the link table (migration
# 0015) in the same transaction as the link. The ORM neither writes it nor loads it unless asked:
# only the database changes it, and only a search reads it.
LinkCount = Annotated[int, mapped_column(BigInteger, server_default="0", deferred=True)]
# The mapper arguments of a model with a LinkCount: an INSERT does not read the count back either.
LINK_COUNTED: Mapping[str, Any] = MappingProxyType({"eager_defaults": False})
