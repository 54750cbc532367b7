"""The media package's configuration, from the settings: one per app, and one for the process.

The routes pass their app's configuration explicitly. The functions the delivery engine calls
(`service.load`, `service.own_media_id`, `service.check_attachment_url`) take it as an optional
keyword and otherwise use the process's: the one `configure` last installed (create_app and the
background worker do, from their settings), else the one the environment's settings describe.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from roost.config import Settings, get_settings
from roost.kit.signing import Signer
from roost.media import policy
from roost.media.storage import LocalMediaStorage, MediaStorage

FETCH_TIMEOUT = 10.0  # seconds for a whole remote fetch, redirects included
MAX_REDIRECTS = 3


@dataclass(frozen=True, slots=True)
class MediaConfig:
    base_url: str
    storage: MediaStorage
    signer: Signer
    max_bytes: int
    upload_ttl: timedelta
    content_types: frozenset[str]
    allow_private: bool
    fetch_timeout: float = FETCH_TIMEOUT
    max_redirects: int = MAX_REDIRECTS

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaConfig:
        return cls(
            base_url=settings.base_url,
            # Local disk by default (CONVENTIONS §10).
            storage=LocalMediaStorage(settings.data_dir / "media"),
            signer=Signer(settings.effective_secret_key, policy.PURPOSE),
            max_bytes=settings.media_max_bytes,
            upload_ttl=timedelta(seconds=settings.media_upload_ttl),
            content_types=settings.media_types,
            allow_private=settings.media_allow_private,
        )


_process: MediaConfig | None = None


def configure(config: MediaConfig) -> None:
    """Make `config` the process's media configuration."""
    global _process
    _process = config


def current() -> MediaConfig:
    """The process's media configuration."""
    global _process
    if _process is None:
        _process = MediaConfig.from_settings(get_settings())
    return _process
