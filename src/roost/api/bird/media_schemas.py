"""Wire schemas of presigned media uploads (seed 004)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from roost.api.bird.wire import BirdIn, BirdOut
from roost.media.types import PresignedUpload


class PresignIn(BirdIn):
    content_type: Annotated[str, Field(min_length=1, max_length=255)] = Field(
        description="The content type of the file to upload, e.g. `image/png`; it must be one the server allows."
    )


class PresignOut(BirdOut):
    media_url: str = Field(description="Where the file will be: the URL to use in attachments once uploaded.")
    upload_url: str = Field(description="Where to POST the form.")
    upload_method: str = Field(description="Always `POST`.")
    upload_form_data: dict[str, str] = Field(
        description="The form fields to send back verbatim, with the file as one more field named `file` (last)."
    )

    @classmethod
    def of(cls, upload: PresignedUpload) -> PresignOut:
        return cls(
            media_url=upload.media_url,
            upload_url=upload.upload_url,
            upload_method=upload.upload_method,
            upload_form_data=upload.upload_form_data,
        )
