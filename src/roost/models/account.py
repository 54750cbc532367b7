"""Accounts (BirdSend) are workspaces (Bird): CONVENTIONS §2."""

from __future__ import annotations

import uuid

from sqlalchemy import String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from roost.db import Base
from roost.models._types import AccountFk, IdPk, MaybeTimestamp, Timestamp


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[IdPk]
    workspace_id: Mapped[uuid.UUID] = mapped_column(Uuid(), unique=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    avatar_url: Mapped[str] = mapped_column(String(500), default="")
    joined_at: Mapped[Timestamp]
    last_seen_at: Mapped[MaybeTimestamp]


class AccessToken(Base):
    """A Personal Access Token (or, later, an OAuth access token), stored only as a hash."""

    __tablename__ = "access_tokens"

    id: Mapped[IdPk]
    account_id: Mapped[AccountFk]
    name: Mapped[str] = mapped_column(String(100), default="")
    kind: Mapped[str] = mapped_column(String(16), default="pat")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[Timestamp]
    expires_at: Mapped[MaybeTimestamp]
    revoked_at: Mapped[MaybeTimestamp]
    last_used_at: Mapped[MaybeTimestamp]
