from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from roost.db import Base, UTCDateTime
from roost.models._types import IdPk, JsonObject, MaybeTimestamp, Timestamp

JOB_STATES = ("queued", "running", "done", "dead")


class Job(Base):
    """Background work, enqueued as a row in the caller's transaction (no extra broker)."""

    __tablename__ = "jobs"
    __table_args__ = (
        # The claim query: the oldest due job among the queued ones.
        Index("ix_jobs_state_run_at", "state", "run_at"),
    )

    id: Mapped[IdPk]
    kind: Mapped[str] = mapped_column(String(100))
    payload: Mapped[JsonObject]
    state: Mapped[str] = mapped_column(String(16), default="queued")
    run_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=10)
    locked_until: Mapped[MaybeTimestamp]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[Timestamp]
    finished_at: Mapped[MaybeTimestamp]
