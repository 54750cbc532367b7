"""One typed settings object; the only place that reads the environment (ROOST_ prefix)."""

from __future__ import annotations

import re
import secrets
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from roost.kit.rates import parse_domain_rates, parse_rate

# type/subtype, or type/* (RFC 9110's token characters).
MEDIA_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/(\*|[a-z0-9!#$&^_.+-]+)")


# What presigned uploads accept by default (CONVENTIONS §10): what email attachments usually are.
# Not text/html, image/svg+xml, XML or JavaScript: media is served from Roost's own origin, and a
# type a browser renders as a document could run script there.
DEFAULT_MEDIA_CONTENT_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/bmp",
    "image/tiff",
    "image/heic",
    "image/avif",
    "application/pdf",
    "text/plain",
    "text/csv",
    "text/calendar",
    "application/zip",
    "application/gzip",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/rtf",
    "audio/mpeg",
    "audio/mp4",
    "audio/ogg",
    "audio/wav",
    "audio/webm",
    "video/mp4",
    "video/mpeg",
    "video/quicktime",
    "video/webm",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROOST_", extra="ignore")

    data_dir: Path = Field(default=Path("."), description="Where the SQLite file and generated secrets live.")
    database_url: str = Field(default="", description="sqlite:///file.db or postgresql://user@host:port/db")
    base_url: str = Field(default="http://localhost:8000", description="Public URL used in links and emails.")
    smtp_url: str | None = Field(
        default=None,
        description=(
            "The relay: smtp://user:password@host:port (plain, port 25), smtp://…?starttls=1 (STARTTLS"
            " required, port 587) or smtps://… (implicit TLS, port 465); user and password percent-encoded,"
            " both optional. Unset captures mail in the database."
        ),
    )
    smtp_concurrency: int = Field(default=8, ge=1, le=200, description="SMTP connections used at once (pooled).")
    smtp_timeout: float = Field(default=30.0, gt=0, le=600, description="Seconds to wait for each SMTP reply.")
    smtp_rate: str = Field(
        default="0",
        description=(
            "Most messages sent per period by all senders together, in `limits` notation (e.g. 100/second);"
            " 0 for no limit. Shared by every process through redis_url when it is set."
        ),
    )
    smtp_domain_rates: str = Field(
        default="",
        description=(
            "Most messages per period to each recipient domain: gmail.com=20/second,*=10/second"
            " (`*`: every other domain, each on its own). Empty for no limit."
        ),
    )
    delivery_lease: float = Field(
        default=60.0,
        ge=1,
        le=3600,
        description=(
            "Seconds a sender holds the messages it claimed before another may take them over; renewed"
            " while it works, so only a sender that died loses its messages, this long after."
        ),
    )
    event_retention_days: int = Field(
        default=30,
        ge=0,
        le=3650,
        description=(
            "Days an event is kept after rules and webhooks have handled it (nothing reads it again);"
            " 0 keeps every event."
        ),
    )
    rule_run_retention_days: int = Field(
        default=90,
        ge=0,
        le=3650,
        description="Days a rule's run stays in its run log (GET /v1/rules/{id}/runs); 0 keeps every run.",
    )
    bounce_domain: str = Field(
        default="",
        description=(
            "Domain of the VERP return paths (bounces+…@) and of Message-IDs; its MX should reach the"
            " bounce listener. Empty: the host of base_url."
        ),
    )
    bounce_smtp_host: str = Field(
        default="127.0.0.1", description="Address the bounce listener binds; 0.0.0.0 to take mail from other hosts."
    )
    bounce_smtp_port: int = Field(default=2525, ge=0, le=65535, description="Port of the bounce listener; 0 off.")
    redis_url: str | None = Field(default=None, description="Shares rate limits across processes when set.")
    rate_limit: str = Field(
        default="5/second", description="Per-account API limit in `limits` notation; 0 turns it off."
    )
    secret_key: str = Field(
        default="", description="Signs links and tokens; generated and stored in data_dir when unset."
    )
    pixel_identifier: bool = Field(
        default=True,
        description=(
            "Tracked clicks in marketing mail add a signed identifier (`_bsc`) to the link they lead to, so"
            " that the pixel on that site ties the browser to the contact. False: links land as written, and"
            " only browsers that kept an identifier before are still tied to their contact."
        ),
    )
    pixel_rate_limit: str = Field(
        default="60/minute",
        description="Most pixel hits per client IP address and workspace, in `limits` notation; 0 turns it off.",
    )
    webhooks_allow_private: bool = Field(
        default=False,
        description=(
            "Let webhooks reach private, loopback, link-local and other non-public addresses (a receiver on"
            " this machine or the local network). Off: such destinations are refused (CONVENTIONS §7)."
        ),
    )
    media_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1,
        le=1024 * 1024 * 1024,
        description="Largest media file, uploaded (413 beyond it) or fetched from a remote mediaUrl at send time.",
    )
    media_upload_ttl: int = Field(
        default=900, ge=10, le=7 * 24 * 3600, description="Seconds a presigned media upload link stays valid."
    )
    media_content_types: str = Field(
        default=",".join(DEFAULT_MEDIA_CONTENT_TYPES),
        description=(
            "Comma-separated content types a presigned upload may declare (`image/*` allows a whole type)."
            " The default suits email attachments and leaves out anything a browser would run (HTML, SVG)."
        ),
    )
    media_allow_private: bool = Field(
        default=False,
        description=(
            "Let remote mediaUrls be fetched from private, loopback, link-local and other non-public addresses."
            " Off: such URLs are refused (the same check as webhooks')."
        ),
    )
    db_pool_size: int = Field(
        # Twice 10 per process: `roost serve --workers 2` and `roost worker` stay at 60 connections,
        # under PostgreSQL's default max_connections of 100.
        default=10,
        ge=1,
        le=200,
        description=(
            "Database connections a process opens, and as many again at busy moments; every connection"
            " opened is kept for the next requests."
        ),
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Larger request bodies answer 413.")

    @field_validator("smtp_rate")
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        if value.strip() not in ("", "0"):
            parse_rate(value)
        return value

    @field_validator("smtp_domain_rates")
    @classmethod
    def _valid_domain_rates(cls, value: str) -> str:
        parse_domain_rates(value)
        return value

    @field_validator("media_content_types")
    @classmethod
    def _valid_content_types(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip() and not MEDIA_TYPE.fullmatch(item.strip().lower()):
                raise ValueError(f"{item.strip()!r} is not a content type (type/subtype or type/*)")
        return value

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'roost.db').resolve()}"

    @property
    def effective_bounce_domain(self) -> str:
        return self.bounce_domain or (urlsplit(self.base_url).hostname or "localhost")

    @property
    def rate_limit_enabled(self) -> bool:
        return self.rate_limit.strip() not in ("", "0")

    @property
    def pixel_rate_limit_enabled(self) -> bool:
        return self.pixel_rate_limit.strip() not in ("", "0")

    @property
    def smtp_rate_enabled(self) -> bool:
        return self.smtp_rate.strip() not in ("", "0")

    @property
    def media_types(self) -> frozenset[str]:
        """The allowed upload content types, lower-cased (`type/*` stands for every subtype)."""
        return frozenset(item.strip().lower() for item in self.media_content_types.split(",") if item.strip())

    @property
    def effective_secret_key(self) -> str:
        """The configured key, else one generated once and kept in the data directory."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / ".roost-secret-key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
