"""Where presigned uploads go and mediaUrls point (seed 004): no Authorization header, errors in the Bird format.

The upload is S3's POST form: the signed fields, then the file. The fields are checked before a
byte of the file is read, and the file streams to the storage, given up as soon as it is too large.
No session is held while it streams: on SQLite a writing session holds the one write gate, and
an upload may take a while; the row is read before and written after, each in a short transaction.

A mediaUrl needs no authentication: its random UUID is the capability, as a presigned GET's
signature is, so that mail clients and the sites a client hands it to can fetch it. Files are
served as downloads (`Content-Disposition: attachment`), with `nosniff` and a sandboxing CSP,
so that nothing uploaded runs as a page of Roost's origin.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect

from roost.api.bird.errors import BirdErrorOut, error_response
from roost.api.deps import SessionDep, StateDep, unit_of_work
from roost.api.multipart import BadForm, FormStream
from roost.errors import NotFound
from roost.media import policy
from roost.media import service as media_service
from roost.media.types import UploadConflict, UploadDenied, UploadTooLarge, UploadTypeMismatch

router = APIRouter(tags=["media"])

FILE_FIELD = "file"


def _doc(description: str) -> dict[str, Any]:
    return {"model": BirdErrorOut, "description": description}


UPLOAD_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [*policy.FIELDS, FILE_FIELD],
                    "properties": {
                        **{name: {"type": "string"} for name in policy.FIELDS},
                        FILE_FIELD: {"type": "string", "format": "binary", "description": "The file; the last field."},
                    },
                }
            }
        },
    }
}


@router.post(
    media_service.UPLOAD_PATH,
    status_code=204,
    summary="Upload a presigned media file",
    description=(
        "The `uploadUrl` of a presigned upload: multipart/form-data with every field of `uploadFormData`"
        " as given, then the file as `file` (fields after it are ignored). 204 when stored; the"
        " `mediaUrl` then serves it. The file's own part may declare the presigned content type or"
        " none (`application/octet-stream`), not another one."
    ),
    openapi_extra=UPLOAD_FORM,
    responses={
        400: _doc("Not a multipart form, or no `file` field."),
        403: _doc("A field is missing or altered, or the link has expired."),
        404: _doc("The media no longer exists."),
        409: _doc("The file was uploaded already: a presigned upload takes one file."),
        413: _doc("The file is larger than the upload allows; nothing is kept."),
        415: _doc("The file declares a content type other than the presigned one."),
    },
)
async def upload_media(request: Request, state: StateDep) -> Response:
    config = state.media
    try:
        fields, file = await FormStream(request, file_field=FILE_FIELD).read()
        grant = media_service.verify_upload(config=config, fields=fields)
        if file is None:
            raise BadForm(f"The form has no {FILE_FIELD!r} field: add the file as the last field.")
        async with unit_of_work(state, reading=True) as session:
            await media_service.check_pending(session, grant=grant)
        staged = await media_service.stage_upload(
            config=config, grant=grant, declared_type=file.content_type, chunks=file.chunks()
        )
        async with unit_of_work(state, reading=False) as session:
            await media_service.complete_upload(
                session, config=config, grant=grant, staged=staged, filename=file.filename
            )
    except BadForm as exc:
        return error_response(400, exc.message)
    except ClientDisconnect:
        return error_response(400, "The upload was interrupted.")  # nobody reads it; nothing was kept
    except UploadDenied as exc:
        return error_response(403, exc.message)
    except UploadConflict as exc:
        return error_response(409, str(exc))
    except UploadTooLarge as exc:
        return error_response(413, str(exc))
    except UploadTypeMismatch as exc:
        return error_response(415, str(exc))
    except NotFound:
        return error_response(404, "The media no longer exists.")
    return Response(status_code=204)


@router.get(
    media_service.MEDIA_PATH + "{media_id}",
    summary="Download an uploaded media file",
    description=(
        "A `mediaUrl`: the file with its content type, as an attachment named as uploaded. No"
        " Authorization header: the URL's random UUID is what grants access. 404 until the file is uploaded."
    ),
    response_class=Response,
    responses={
        200: {"description": "The file.", "content": {"application/octet-stream": {}}},
        404: _doc("No such media, or its file has not been uploaded."),
    },
)
async def download_media(
    session: SessionDep, state: StateDep, media_id: str = Path(max_length=64, description="The media's UUID.")
) -> Response:
    stored = await media_service.download(session, config=state.media, media_id=media_id)
    # Streamed: a file may be as large as the upload limit allows, and downloads run side by side.
    return StreamingResponse(
        stored.file.chunks(),
        media_type=stored.content_type,
        headers={
            "Content-Length": str(stored.file.size),
            "Content-Disposition": content_disposition(stored.filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=3600",
        },
    )


def content_disposition(filename: str) -> str:
    """`attachment` with the name: an ASCII fallback and the exact one in RFC 8187 form."""
    fallback = "".join(char if 32 <= ord(char) < 127 and char not in '"\\' else "_" for char in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
