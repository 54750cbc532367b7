"""What the media service hands out, and the errors it raises."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from roost.config import MEDIA_TYPE
from roost.errors import Conflict, DomainError, Forbidden
from roost.media.storage import FileStream

# RFC 6838 §4.2 caps a type name and a subtype name at 127 characters each; no real type comes near
# that for the two together.
MAX_TYPE_LENGTH = 127


def bare_type(content_type: str) -> str:
    """`Text/Plain; charset=utf-8` -> `text/plain`."""
    return content_type.split(";", 1)[0].strip().lower()


def concrete_type(content_type: str) -> str | None:
    """The bare type when it names one type a Content-Type header can carry (not `image/*`), else None."""
    bare = bare_type(content_type)
    well_formed = MEDIA_TYPE.fullmatch(bare) is not None and len(bare) <= MAX_TYPE_LENGTH
    return bare if well_formed and not bare.endswith("/*") else None


@dataclass(frozen=True, slots=True)
class MediaContent:
    """A file to attach: its bytes and its content type (`image/png`, no parameters)."""

    content: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class StoredMedia:
    """An uploaded file as its mediaUrl serves it: opened, to be streamed."""

    id: uuid.UUID
    file: FileStream
    content_type: str
    filename: str


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    """Seed 004's answer: where the media will be, and the form that uploads it."""

    media_url: str
    upload_url: str
    upload_method: str
    upload_form_data: dict[str, str]


@dataclass(frozen=True, slots=True)
class UploadGrant:
    """What a verified upload form allows: this file, of this type, at most this large, until then."""

    media_id: uuid.UUID
    content_type: str
    max_bytes: int
    expires_at: datetime


class MediaUnavailable(DomainError):
    """An attachment's media cannot be had; the message says why (for the message's failure description)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UploadDenied(Forbidden):
    """The upload form is incomplete, tampered with or expired (S3 answers these 403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UploadConflict(Conflict):
    """The media was uploaded already: a presigned upload is good for one file."""


class UploadTooLarge(DomainError):
    """The file is larger than the upload allows; nothing was kept."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"The file is larger than {max_bytes} bytes.")
        self.max_bytes = max_bytes


class UploadTypeMismatch(DomainError):
    """The file declares a content type other than the one the upload was presigned for."""
