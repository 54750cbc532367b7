"""Where media files live: the `MediaStorage` protocol and its local-disk implementation (CONVENTIONS §10).

A file is named by its media's UUID and nothing else: no name a client chose ever becomes a
path. Writes are atomic: the bytes go to a staging file in the same directory, which is renamed
into place only once complete, so a reader sees the whole file or none.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

STAGING_SUFFIX = ".part"


class TooLarge(Exception):
    """More bytes arrived than allowed; the staged file is gone."""


@dataclass(frozen=True, slots=True)
class Staged:
    """A complete file not yet published under a media id."""

    token: str
    size: int


class MediaStorage(Protocol):
    async def stage(self, chunks: AsyncIterable[bytes], *, max_bytes: int) -> Staged:
        """Keep the bytes aside; TooLarge (keeping nothing) past `max_bytes`."""
        ...

    async def publish(self, staged: Staged, media_id: uuid.UUID) -> None:
        """Make the staged file the media's, at once."""
        ...

    async def discard(self, staged: Staged) -> None: ...

    async def read(self, media_id: uuid.UUID) -> bytes | None:
        """The media's bytes, or None when it has none."""
        ...

    async def open(self, media_id: uuid.UUID) -> FileStream | None:
        """The media's bytes to stream (a download), or None when it has none."""
        ...


CHUNK_BYTES = 64 * 1024


@dataclass(slots=True)
class FileStream:
    """An open file read in chunks, closed once read through (or when the reader stops)."""

    size: int
    handle: BinaryIO

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            while chunk := await asyncio.to_thread(self.handle.read, CHUNK_BYTES):
                yield chunk
        finally:
            await asyncio.to_thread(self.handle.close)


class LocalMediaStorage:
    """Files in one directory (`<data dir>/media`), created on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, media_id: uuid.UUID) -> Path:
        return self.root / str(uuid.UUID(str(media_id)))

    def _staging(self, token: str) -> Path:
        if not token.isalnum():
            raise ValueError("not a staging token")
        return self.root / f".{token}{STAGING_SUFFIX}"

    def _open_staging(self) -> tuple[str, BinaryIO]:
        self.root.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(16)
        # "xb": never an existing file; the token is random, so two uploads never share one.
        return token, self._staging(token).open("xb")

    async def stage(self, chunks: AsyncIterable[bytes], *, max_bytes: int) -> Staged:
        token, handle = await asyncio.to_thread(self._open_staging)
        size = 0
        try:
            try:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge()
                    await asyncio.to_thread(handle.write, chunk)
                await asyncio.to_thread(_flush, handle)
            finally:
                await asyncio.to_thread(handle.close)
        except BaseException:
            await asyncio.to_thread(self._staging(token).unlink, missing_ok=True)
            raise
        return Staged(token=token, size=size)

    async def publish(self, staged: Staged, media_id: uuid.UUID) -> None:
        await asyncio.to_thread(os.replace, self._staging(staged.token), self._path(media_id))

    async def discard(self, staged: Staged) -> None:
        await asyncio.to_thread(self._staging(staged.token).unlink, missing_ok=True)

    async def read(self, media_id: uuid.UUID) -> bytes | None:
        try:
            return await asyncio.to_thread(self._path(media_id).read_bytes)
        except FileNotFoundError:
            return None

    async def open(self, media_id: uuid.UUID) -> FileStream | None:
        try:
            return await asyncio.to_thread(self._open, media_id)
        except FileNotFoundError:
            return None

    def _open(self, media_id: uuid.UUID) -> FileStream:
        handle = self._path(media_id).open("rb")
        return FileStream(size=os.fstat(handle.fileno()).st_size, handle=handle)


def _flush(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())
