"""The signed form of a presigned upload, like S3's POST policy (seed 004).

The form carries the media's `key`, its `Content-Type`, a `policy` (base64url JSON of the key,
the content type, the largest size allowed and the expiry) and the policy's `signature`, an HMAC
with a key derived from the app's secret key for this purpose only. A client passes all four back
verbatim with the file. Nothing else is trusted: the key and type fields must say what the signed
policy says, so a form cannot be pointed at another media or type.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from roost.kit.signing import Signer
from roost.media.types import UploadDenied, UploadGrant

PURPOSE = "media-upload"
KEY = "key"
CONTENT_TYPE = "Content-Type"
POLICY = "policy"
SIGNATURE = "signature"
FIELDS = (KEY, CONTENT_TYPE, POLICY, SIGNATURE)


def _encode(document: dict[str, object]) -> str:
    raw = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(policy: str) -> dict[str, object]:
    try:
        raw = base64.urlsafe_b64decode(policy + "=" * (-len(policy) % 4))
        document = json.loads(raw)
    except (binascii.Error, ValueError):
        raise UploadDenied("The upload policy is malformed.") from None
    if not isinstance(document, dict):
        raise UploadDenied("The upload policy is malformed.")
    return document


def form_data(signer: Signer, grant: UploadGrant) -> dict[str, str]:
    """The fields a client sends back with the file."""
    policy = _encode(
        {
            "key": str(grant.media_id),
            "contentType": grant.content_type,
            "maxBytes": grant.max_bytes,
            "expires": int(grant.expires_at.timestamp()),
        }
    )
    return {
        KEY: str(grant.media_id),
        CONTENT_TYPE: grant.content_type,
        POLICY: policy,
        SIGNATURE: signer.signature(policy),
    }


def verify(signer: Signer, fields: Mapping[str, str], *, now: datetime) -> UploadGrant:
    """What a submitted form grants; UploadDenied when it is incomplete, tampered with or expired."""
    missing = [name for name in FIELDS if not fields.get(name)]
    if missing:
        raise UploadDenied(
            f"The upload form lacks {', '.join(missing)}: send every field of uploadFormData, before the file."
        )
    if not signer.verify(fields[POLICY], fields[SIGNATURE]):
        raise UploadDenied("The upload's signature does not match its policy.")
    document = _decode(fields[POLICY])
    key, content_type = document.get("key"), document.get("contentType")
    max_bytes, expires = document.get("maxBytes"), document.get("expires")
    if not (
        isinstance(key, str)
        and isinstance(content_type, str)
        and isinstance(max_bytes, int)
        and isinstance(expires, int)
    ):
        raise UploadDenied("The upload policy is malformed.")
    if fields[KEY] != key:
        raise UploadDenied("The key field does not match the upload policy.")
    if fields[CONTENT_TYPE].strip().lower() != content_type:
        raise UploadDenied("The Content-Type field does not match the upload policy.")
    expires_at = datetime.fromtimestamp(expires, UTC)
    if now >= expires_at:
        raise UploadDenied("The upload link has expired: ask for a new presigned upload.")
    try:
        media_id = uuid.UUID(key)
    except ValueError:
        raise UploadDenied("The upload policy is malformed.") from None
    return UploadGrant(media_id=media_id, content_type=content_type, max_bytes=max_bytes, expires_at=expires_at)
