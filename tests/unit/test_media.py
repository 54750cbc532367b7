"""Pure parts of media: the signed upload policy, file names, content types, which URLs are this Roost's media."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from roost.api.public.media import content_disposition
from roost.config import Settings
from roost.kit.signing import Signer
from roost.media import policy
from roost.media.config import MediaConfig
from roost.media.fetch import content_type_of
from roost.media.service import allowed_type, clean_filename, own_media_id
from roost.media.types import UploadDenied, UploadGrant

SIGNER = Signer("unit-secret", policy.PURPOSE)
NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
GRANT = UploadGrant(
    media_id=uuid.UUID("0b6c3c53-77e3-4bb3-9b57-8b1f2c1f0a11"),
    content_type="image/png",
    max_bytes=1000,
    expires_at=NOW + timedelta(minutes=15),
)


def test_a_form_verifies_to_its_grant() -> None:
    fields = policy.form_data(SIGNER, GRANT)
    assert policy.verify(SIGNER, fields, now=NOW) == GRANT.__class__(
        media_id=GRANT.media_id, content_type="image/png", max_bytes=1000, expires_at=GRANT.expires_at
    )


def test_expiry() -> None:
    fields = policy.form_data(SIGNER, GRANT)
    policy.verify(SIGNER, fields, now=GRANT.expires_at - timedelta(seconds=1))
    with pytest.raises(UploadDenied, match="expired"):
        policy.verify(SIGNER, fields, now=GRANT.expires_at)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"key": str(uuid.uuid4())}, "key field"),
        ({"Content-Type": "text/plain"}, "Content-Type field"),
        ({"signature": "f" * 24}, "signature"),
        ({"policy": "e30"}, "signature"),  # `{}`, unsigned
        ({"policy": ""}, "lacks policy"),
    ],
)
def test_tampering(change: dict[str, str], reason: str) -> None:
    with pytest.raises(UploadDenied, match=reason):
        policy.verify(SIGNER, {**policy.form_data(SIGNER, GRANT), **change}, now=NOW)


def test_another_key_or_purpose_does_not_verify() -> None:
    fields = policy.form_data(SIGNER, GRANT)
    for signer in (Signer("other-secret", policy.PURPOSE), Signer("unit-secret", "unsubscribe")):
        with pytest.raises(UploadDenied):
            policy.verify(signer, fields, now=NOW)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("logo.png", "logo.png"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ada\\report.pdf", "report.pdf"),
        ("bad\r\nname\x00.txt", "badname.txt"),
        ("..", ""),
        ("a" * 300, "a" * 255),
        ("résumé.pdf", "résumé.pdf"),
    ],
)
def test_clean_filename(given: str, kept: str) -> None:
    assert clean_filename(given) == kept


def test_content_disposition_escapes() -> None:
    assert (
        content_disposition('a"b\\ü.txt') == "attachment; filename=\"a_b__.txt\"; filename*=UTF-8''a%22b%5C%C3%BC.txt"
    )


@pytest.mark.parametrize(
    ("header", "bare"),
    [
        ("image/PNG; name=x", "image/png"),
        (None, "application/octet-stream"),
        ("", "application/octet-stream"),
        ("garbage", "application/octet-stream"),
        ("image/*", "application/octet-stream"),
        ("image/p\u00e9ng", "application/octet-stream"),
        ("image/" + "x" * 200, "application/octet-stream"),
    ],
)
def test_content_type_of(header: str | None, bare: str) -> None:
    assert content_type_of(header) == bare


def test_allowlist_wildcards() -> None:
    allowed = frozenset({"image/*", "application/pdf"})
    assert allowed_type("image/x-anything", allowed)
    assert allowed_type("application/pdf", allowed)
    assert not allowed_type("application/zip", allowed)


def test_default_allowlist_leaves_out_what_browsers_run() -> None:
    types = Settings().media_types
    assert {"image/png", "application/pdf", "text/plain", "text/csv", "text/calendar", "application/zip"} <= types
    assert not types & {"text/html", "image/svg+xml", "application/xhtml+xml", "text/javascript", "application/xml"}
    with pytest.raises(ValueError, match="not a content type"):
        Settings(media_content_types="image/png,nonsense")


def test_own_media_id(tmp_path: Path) -> None:
    config = MediaConfig.from_settings(Settings(base_url="https://mail.example.com/roost/", data_dir=tmp_path))
    media_id = uuid.uuid4()
    assert own_media_id(f"https://mail.example.com/roost/media/{media_id}", config=config) == media_id
    assert own_media_id(f"HTTPS://Mail.Example.com/roost/media/{media_id}?x=1", config=config) == media_id
    for other in (
        f"https://mail.example.com/media/{media_id}",
        f"http://mail.example.com/roost/media/{media_id}",
        f"https://cdn.example.com/roost/media/{media_id}",
        "https://mail.example.com/roost/media/not-a-uuid",
        "https://mail.example.com/roost/media/upload",
        "not a url at all",
    ):
        assert own_media_id(other, config=config) is None
