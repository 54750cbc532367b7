"""Media of a workspace (seed 004, CONVENTIONS §10): presigned uploads, downloads, and attachments' files.

A presigned upload makes a `pending` media row and a signed form (see `policy`); the upload
checks the form, stores the file and makes the row `uploaded`. Its `mediaUrl`
(`{base_url}/media/{uuid}`) then serves the file and works in attachments. Other mediaUrls
are fetched at send time (see `fetch`).
"""

from __future__ import annotations

import mimetypes
import unicodedata
import uuid
from collections.abc import AsyncIterable
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from roost.channel import service as channel_service
from roost.errors import Invalid, NotFound
from roost.kit.clock import utcnow
from roost.kit.ids import parse_uuid
from roost.media import fetch, policy
from roost.media.config import MediaConfig, current
from roost.media.repository import MediaRepository, media_named
from roost.media.storage import Staged, TooLarge
from roost.media.types import (
    MediaContent,
    MediaUnavailable,
    PresignedUpload,
    StoredMedia,
    UploadConflict,
    UploadGrant,
    UploadTooLarge,
    UploadTypeMismatch,
    bare_type,
    concrete_type,
)
from roost.models import Media
from roost.net import guard

MEDIA_PATH = "/media/"
UPLOAD_PATH = "/media/upload"
MAX_FILENAME = 255
# What a client sends when it does not know the file's type (curl does for most extensions):
# the signed Content-Type field then says what the file is.
UNDECLARED_TYPES = frozenset({"", "application/octet-stream"})


def allowed_type(content_type: str, allowed: frozenset[str]) -> bool:
    major = content_type.split("/", 1)[0]
    return content_type in allowed or f"{major}/*" in allowed


def media_url(config: MediaConfig, media_id: uuid.UUID) -> str:
    return f"{config.base_url}{MEDIA_PATH}{media_id}"


def upload_url(config: MediaConfig) -> str:
    return f"{config.base_url}{UPLOAD_PATH}"


async def presign(
    session: AsyncSession,
    *,
    config: MediaConfig,
    account_id: int,
    content_type: str,
    channel_id: str | None = None,
) -> PresignedUpload:
    """A pending media and the form that uploads its file; for one channel when `channel_id` is given (seed 004)."""
    # The syntax first: with `image/*` allowed, `image/<anything>` would otherwise be stored and
    # later fail as the download's Content-Type header.
    wanted = concrete_type(content_type)
    if wanted is None or not allowed_type(wanted, config.content_types):
        shown = bare_type(content_type) or content_type
        raise Invalid.field("contentType", f"The contentType {shown!r} may not be uploaded.")
    channel = await channel_service.get(session, account_id=account_id, channel_id=channel_id) if channel_id else None
    now = utcnow()
    media = MediaRepository(session, account_id).add(
        Media(
            account_id=account_id,
            uuid=uuid.uuid4(),
            channel_id=channel.id if channel else None,
            status="pending",
            content_type=wanted,
            filename="",
            upload_expires_at=now + config.upload_ttl,
            created_at=now,
        )
    )
    await session.flush()
    grant = UploadGrant(
        media_id=media.uuid, content_type=wanted, max_bytes=config.max_bytes, expires_at=media.upload_expires_at
    )
    return PresignedUpload(
        media_url=media_url(config, media.uuid),
        upload_url=upload_url(config),
        upload_method="POST",
        upload_form_data=policy.form_data(config.signer, grant),
    )


def verify_upload(*, config: MediaConfig, fields: dict[str, str]) -> UploadGrant:
    """What an upload form allows; UploadDenied when it is incomplete, tampered with or expired."""
    return policy.verify(config.signer, fields, now=utcnow())


async def check_pending(session: AsyncSession, *, grant: UploadGrant) -> None:
    """NotFound when the granted media is gone, UploadConflict when its file arrived already."""
    media = await media_named(session, grant.media_id)
    if media is None:
        raise NotFound()
    if media.status != "pending":
        raise UploadConflict("The media was uploaded already: a presigned upload takes one file.")


async def stage_upload(
    *, config: MediaConfig, grant: UploadGrant, declared_type: str, chunks: AsyncIterable[bytes]
) -> Staged:
    """Keep the file aside; UploadTypeMismatch for a file of another type, UploadTooLarge past the limit.

    A file too large is given up as soon as it is: nothing of it is kept.
    """
    declared = bare_type(declared_type)
    if declared not in UNDECLARED_TYPES and declared != grant.content_type:
        raise UploadTypeMismatch(f"The file is {declared}, but the upload was presigned for {grant.content_type}.")
    limit = min(grant.max_bytes, config.max_bytes)
    try:
        return await config.storage.stage(chunks, max_bytes=limit)
    except TooLarge:
        raise UploadTooLarge(limit) from None


async def complete_upload(
    session: AsyncSession, *, config: MediaConfig, grant: UploadGrant, staged: Staged, filename: str
) -> Media:
    """Publish the staged file as the media's and mark it uploaded; UploadConflict when it was already."""
    media = await media_named(session, grant.media_id)
    if media is None:
        await config.storage.discard(staged)
        raise NotFound()
    repo = MediaRepository(session, media.account_id)
    name = clean_filename(filename)
    if not await repo.mark_uploaded(media.id, size=staged.size, filename=name, at=utcnow()):
        await config.storage.discard(staged)
        raise UploadConflict("The media was uploaded already: a presigned upload takes one file.")
    # Published before the transaction commits: were the commit to fail, the row stays pending and
    # a new upload replaces the file, while the other order could leave an uploaded row without a file.
    await config.storage.publish(staged, media.uuid)
    await session.refresh(media)
    return media


async def download(session: AsyncSession, *, config: MediaConfig, media_id: str) -> StoredMedia:
    """An uploaded media's file by the UUID of its mediaUrl, whatever its account (the UUID is the capability)."""
    public_id = parse_uuid(media_id)
    media = await media_named(session, public_id) if public_id else None
    if media is None or media.status != "uploaded":
        raise NotFound()
    file = await config.storage.open(media.uuid)
    if file is None:
        raise NotFound()
    return StoredMedia(
        id=media.uuid,
        file=file,
        content_type=media.content_type,
        filename=media.filename or default_filename(media.uuid, media.content_type),
    )


def own_media_id(url: str, *, config: MediaConfig | None = None) -> uuid.UUID | None:
    """The media UUID when `url` is one of this Roost's mediaUrls, else None."""
    config = config or current()
    try:
        parts, base = urlsplit(url.strip()), urlsplit(config.base_url)
    except ValueError:
        return None
    if (parts.scheme.lower(), parts.netloc.lower()) != (base.scheme.lower(), base.netloc.lower()):
        return None
    prefix = base.path.rstrip("/") + MEDIA_PATH
    if not parts.path.startswith(prefix):
        return None
    return parse_uuid(parts.path[len(prefix) :])


async def load(session: AsyncSession, *, account_id: int, url: str, config: MediaConfig | None = None) -> MediaContent:
    """An attachment's file: this account's uploaded media from storage, any other http(s) URL fetched.

    MediaUnavailable says why when it cannot be had. Another account's media looks missing.
    """
    config = config or current()
    media_id = own_media_id(url, config=config)
    if media_id is None:
        return await fetch.fetch(
            url,
            allow_private=config.allow_private,
            max_bytes=config.max_bytes,
            within=config.fetch_timeout,
            max_redirects=config.max_redirects,
        )
    media = await MediaRepository(session, account_id).by_uuid(media_id)
    reason = _unusable(media, url)
    if reason is not None:
        raise MediaUnavailable(reason)
    assert media is not None
    content = await config.storage.read(media.uuid)
    if content is None:
        raise MediaUnavailable(f"The media {url} has no file any more.")
    return MediaContent(content=content, content_type=media.content_type)


async def check_attachment_url(
    session: AsyncSession, *, account_id: int, url: str, config: MediaConfig | None = None
) -> str | None:
    """At send acceptance: None when the URL can be attached, else why not.

    This account's mediaUrls must name an uploaded media; other URLs must be http(s) with a host,
    not written as a non-public IP address (unless allowed). Names are resolved only at send time.
    """
    config = config or current()
    media_id = own_media_id(url, config=config)
    if media_id is not None:
        return _unusable(await MediaRepository(session, account_id).by_uuid(media_id), url)
    try:
        parts = guard.parse(url)
    except guard.Refused as refused:
        return f"The mediaUrl {url!r} cannot be fetched: {refused.message}"
    if not config.allow_private:
        refusal = guard.literal_refusal(parts, rule=fetch.RULE)
        if refusal is not None:
            return f"The mediaUrl {url} may not be fetched: {refusal}"
    return None


def _unusable(media: Media | None, url: str) -> str | None:
    if media is None:
        return f"The media {url} does not exist in this workspace."
    if media.status != "uploaded":
        return f"The media {url} has not been uploaded."
    return None


def clean_filename(filename: str) -> str:
    """The last path segment of a client's file name, without control characters, at most 255 characters.

    It is only ever shown (Content-Disposition), never used as a path.
    """
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if unicodedata.category(char)[0] != "C").strip()
    return "" if name in (".", "..") else name[:MAX_FILENAME]


def default_filename(media_id: uuid.UUID, content_type: str) -> str:
    return f"{media_id}{mimetypes.guess_extension(content_type) or ''}"
