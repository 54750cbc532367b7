"""A streaming reader of multipart/form-data for uploads: the fields first, then the file, never all in memory.

Starlette's `request.form()` spools a whole file before the handler sees any field; an upload
form wants the opposite order: read the small fields, check what they grant (a signature, a
size), and only then take the file's bytes, chunk by chunk, stopping as soon as they are too many.
As with S3's POST uploads, the file is the last part that counts: fields after it are ignored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

if TYPE_CHECKING:  # a typing-only name in python-multipart
    from python_multipart.multipart import MultipartCallbacks

MAX_FIELDS = 32
MAX_FIELD_BYTES = 16 * 1024


class BadForm(Exception):
    """The body is not a multipart form this reader takes; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(slots=True)
class _Part:
    headers: dict[bytes, bytes]
    name: str = ""
    filename: str | None = None
    content_type: str = ""


class FilePart:
    """The file of the form: its name and declared type, and its bytes as they arrive."""

    def __init__(self, part: _Part, events: AsyncIterator[tuple[str, bytes]]) -> None:
        self.filename = part.filename or ""
        self.content_type = part.content_type
        self._events = events

    async def chunks(self) -> AsyncIterator[bytes]:
        async for kind, data in self._events:
            if kind == "data":
                if data:
                    yield data
            elif kind == "end":
                return
        raise BadForm("The request body ended inside the file.")


class FormStream:
    """`fields, file = await FormStream(request, file_field="file").read()`."""

    def __init__(self, request: Request, *, file_field: str) -> None:
        self.request = request
        self.file_field = file_field

    def _boundary(self) -> bytes:
        content_type, params = parse_options_header(self.request.headers.get("content-type"))
        if content_type != b"multipart/form-data" or not params.get(b"boundary"):
            raise BadForm("The upload must be a multipart/form-data POST (the form data and a file field).")
        return params[b"boundary"]

    async def _events(self, boundary: bytes) -> AsyncIterator[tuple[str, bytes]]:
        # The parser's callbacks are synchronous: they note what happened, and the events are handed
        # on after each chunk, so that whoever reads the file can await between chunks.
        events: list[tuple[str, bytes]] = []
        header_field = bytearray()
        header_value = bytearray()

        def on_header_field(data: bytes, start: int, end: int) -> None:
            header_field.extend(data[start:end])

        def on_header_value(data: bytes, start: int, end: int) -> None:
            header_value.extend(data[start:end])

        def on_header_end() -> None:
            events.append(("header", bytes(header_field).lower() + b"\0" + bytes(header_value)))
            header_field.clear()
            header_value.clear()

        callbacks: MultipartCallbacks = {
            "on_part_begin": lambda: events.append(("begin", b"")),
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": lambda: events.append(("headers", b"")),
            "on_part_data": lambda data, start, end: events.append(("data", data[start:end])),
            "on_part_end": lambda: events.append(("end", b"")),
        }
        parser = MultipartParser(boundary, callbacks)
        try:
            async for chunk in self.request.stream():
                parser.write(chunk)
                for event in events:
                    yield event
                events.clear()
            parser.finalize()
        except MultipartParseError as exc:
            raise BadForm(f"The multipart body is malformed: {exc}") from None
        for event in events:
            yield event

    async def read(self) -> tuple[dict[str, str], FilePart | None]:
        """The fields before the file (each name once), and the file; None when the body has no file."""
        events = self._events(self._boundary())
        fields: dict[str, str] = {}
        part: _Part | None = None
        value = bytearray()
        async for kind, data in events:
            if kind == "begin":
                part, value = _Part(headers={}), bytearray()
            elif part is None:
                continue
            elif kind == "header":
                name, _, header = data.partition(b"\0")
                part.headers[name] = header
            elif kind == "headers":
                _describe(part)
                if part.name == self.file_field:
                    return fields, FilePart(part, events)
            elif kind == "data":
                value.extend(data)
                if len(value) > MAX_FIELD_BYTES:
                    raise BadForm(f"The form field {part.name!r} is longer than {MAX_FIELD_BYTES} bytes.")
            elif kind == "end":
                if part.name in fields:
                    raise BadForm(f"The form field {part.name!r} is given twice.")
                if len(fields) >= MAX_FIELDS:
                    raise BadForm(f"The form has more than {MAX_FIELDS} fields.")
                try:
                    fields[part.name] = value.decode()
                except UnicodeDecodeError:
                    raise BadForm(f"The form field {part.name!r} is not UTF-8 text.") from None
                part = None
        return fields, None


def _describe(part: _Part) -> None:
    disposition, options = parse_options_header(part.headers.get(b"content-disposition"))
    if disposition != b"form-data" or b"name" not in options:
        raise BadForm("Each part of the form needs a Content-Disposition: form-data header with a name.")
    try:
        part.name = options[b"name"].decode()
        filename = options.get(b"filename")
        part.filename = None if filename is None else filename.decode()
        part.content_type = part.headers.get(b"content-type", b"").decode().strip()
    except UnicodeDecodeError:
        raise BadForm("The part headers of the form are not UTF-8 text.") from None
