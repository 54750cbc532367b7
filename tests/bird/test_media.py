"""Presigned media uploads (seed 004, CONVENTIONS §10): the form works as a plain multipart POST, then the mediaUrl.

Also what the delivery engine calls when it attaches a mediaUrl: `load` from the storage or
from a real HTTP server, with the SSRF guard, and `check_attachment_url` at acceptance.
"""

from __future__ import annotations

import dataclasses
import http.server
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.api.app import create_app
from roost.config import Settings
from roost.kit.clock import utcnow
from roost.media import config as media_config
from roost.media import policy
from roost.media import service as media_service
from roost.media.config import MediaConfig
from roost.media.types import MediaUnavailable, UploadGrant
from tests.conftest import client_for
from tests.helpers import Bird, Tenant

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PRESIGN = "/channel-media/presigned-upload"


async def presign(bird: Bird, content_type: str = "image/png") -> dict[str, Any]:
    return await bird.ok("POST", PRESIGN, {"contentType": content_type})


async def upload(
    client: httpx.AsyncClient,
    presigned: dict[str, Any],
    content: bytes = PNG,
    *,
    filename: str = "logo.png",
    file_type: str = "image/png",
    fields: dict[str, str] | None = None,
) -> httpx.Response:
    """What seed 004's curl example does: every field of uploadFormData, then `file`, to uploadUrl."""
    assert presigned["uploadMethod"] == "POST"
    return await client.post(
        presigned["uploadUrl"],
        data=presigned["uploadFormData"] if fields is None else fields,
        files={"file": (filename, content, file_type)},
    )


def stored_files(config: MediaConfig) -> list[str]:
    root: Path = config.storage.root  # type: ignore[attr-defined]
    return sorted(path.name for path in root.iterdir()) if root.exists() else []


# The seed's flow -------------------------------------------------------------------------------


async def test_presign_upload_then_download(app: FastAPI, client: httpx.AsyncClient, bird: Bird) -> None:
    presigned = await presign(bird)
    assert set(presigned) == {"mediaUrl", "uploadUrl", "uploadMethod", "uploadFormData"}
    assert presigned["uploadUrl"] == "http://roost.test/media/upload"
    assert presigned["mediaUrl"].startswith("http://roost.test/media/")
    assert set(presigned["uploadFormData"]) == {"key", "Content-Type", "policy", "signature"}
    assert presigned["uploadFormData"]["Content-Type"] == "image/png"

    # Not there until uploaded.
    assert (await client.get(presigned["mediaUrl"])).status_code == 404

    response = await upload(client, presigned)  # no Authorization header
    assert response.status_code == 204, response.text

    download = await client.get(presigned["mediaUrl"])
    assert download.status_code == 200
    assert download.content == PNG
    assert download.headers["content-type"] == "image/png"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"].startswith('attachment; filename="logo.png"')
    assert (app.state.roost.media.storage.root / presigned["uploadFormData"]["key"]).read_bytes() == PNG


async def test_the_form_as_curl_sends_it(client: httpx.AsyncClient, bird: Bird) -> None:
    """Raw multipart as `curl -F …` writes it; curl declares most files application/octet-stream."""
    presigned = await presign(bird, "text/csv")
    boundary = "------------------------d74496d66958873e"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in presigned["uploadFormData"].items()
    ]
    body = (
        b"".join(parts)
        + (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="report ü.csv"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + b"a,b\r\n1,2\r\n"
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = await client.post(
        presigned["uploadUrl"], content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 204, response.text
    download = await client.get(presigned["mediaUrl"])
    assert download.content == b"a,b\r\n1,2\r\n"
    assert download.headers["content-type"].startswith("text/csv")
    assert "filename*=UTF-8''report%20%C3%BC.csv" in download.headers["content-disposition"]


async def test_channel_presign(client: httpx.AsyncClient, bird: Bird, channel: dict[str, Any]) -> None:
    presigned = await bird.ok("POST", f"/channels/{channel['id']}/presigned-upload", {"contentType": "application/pdf"})
    assert presigned["uploadFormData"]["Content-Type"] == "application/pdf"
    response = await upload(client, presigned, b"%PDF-1.4 ...", filename="a.pdf", file_type="application/pdf")
    assert response.status_code == 204


async def test_channel_presign_needs_a_channel_of_the_workspace(
    bird: Bird, other_bird: Bird, channel: dict[str, Any]
) -> None:
    body = {"contentType": "image/png"}
    for path in (f"/channels/{uuid.uuid4()}", "/channels/not-a-uuid"):
        missing = await bird.post(f"{path}/presigned-upload", body)
        assert missing.status_code == 404
        assert missing.json()["code"] == "NotFound"
    assert (await other_bird.post(f"/channels/{channel['id']}/presigned-upload", body)).status_code == 404


async def test_another_workspace_cannot_presign(
    client: httpx.AsyncClient, account: Tenant, other_account: Tenant
) -> None:
    intruder = Bird(client, other_account, workspace_id=account.workspace_id)
    assert (await intruder.post(PRESIGN, {"contentType": "image/png"})).status_code == 404


@pytest.mark.parametrize("content_type", ["text/html", "image/svg+xml", "application/javascript", "nonsense", ""])
async def test_content_types_outside_the_allowlist_are_422(bird: Bird, content_type: str) -> None:
    response = await bird.post(PRESIGN, {"contentType": content_type})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "InvalidPayload"
    assert set(response.json()["details"]) == {"contentType"}


async def test_content_type_parameters_and_case_are_normalised(bird: Bird) -> None:
    presigned = await presign(bird, "Text/Plain; charset=utf-8")
    assert presigned["uploadFormData"]["Content-Type"] == "text/plain"


# Refusals of the upload ------------------------------------------------------------------------


async def test_tampered_forms_are_403(client: httpx.AsyncClient, bird: Bird) -> None:
    presigned = await presign(bird)
    form = presigned["uploadFormData"]
    other = (await presign(bird))["uploadFormData"]
    tampered = [
        {**form, "Content-Type": "text/plain"},
        {**form, "key": other["key"]},
        {**form, "signature": "0" * len(form["signature"])},
        {**form, "policy": other["policy"]},
        {name: value for name, value in form.items() if name != "policy"},
    ]
    for fields in tampered:
        response = await upload(client, presigned, fields=fields)
        assert response.status_code == 403, fields
        assert response.json()["code"] == "Forbidden"
    assert (await client.get(presigned["mediaUrl"])).status_code == 404
    assert (await upload(client, presigned)).status_code == 204


async def test_an_expired_link_is_403(app: FastAPI, client: httpx.AsyncClient, bird: Bird) -> None:
    presigned = await presign(bird)
    config: MediaConfig = app.state.roost.media
    # The same media, signed by the app's key, with an expiry just passed.
    grant = UploadGrant(
        media_id=uuid.UUID(presigned["uploadFormData"]["key"]),
        content_type="image/png",
        max_bytes=config.max_bytes,
        expires_at=utcnow() - timedelta(seconds=1),
    )
    response = await upload(client, presigned, fields=policy.form_data(config.signer, grant))
    assert response.status_code == 403
    assert "expired" in response.json()["message"]


async def test_a_file_of_another_type_is_refused(client: httpx.AsyncClient, bird: Bird) -> None:
    presigned = await presign(bird)
    response = await upload(client, presigned, b"<script>alert(1)</script>", filename="x.html", file_type="text/html")
    assert response.status_code == 415
    assert response.json()["code"] == "UnsupportedMediaType"
    assert (await client.get(presigned["mediaUrl"])).status_code == 404


async def test_one_file_per_presigned_upload(client: httpx.AsyncClient, bird: Bird) -> None:
    presigned = await presign(bird)
    assert (await upload(client, presigned)).status_code == 204
    again = await upload(client, presigned, b"other bytes")
    assert again.status_code == 409
    assert again.json()["code"] == "Conflict"
    assert (await client.get(presigned["mediaUrl"])).content == PNG


async def test_malformed_uploads_are_400(client: httpx.AsyncClient, bird: Bird) -> None:
    presigned = await presign(bird)
    no_file = await client.post(
        presigned["uploadUrl"], files={**{k: (None, v) for k, v in presigned["uploadFormData"].items()}}
    )
    assert no_file.status_code == 400
    assert no_file.json()["code"] == "BadRequest"
    not_a_form = await client.post(presigned["uploadUrl"], json=presigned["uploadFormData"])
    assert not_a_form.status_code == 400
    garbage = await client.post(
        presigned["uploadUrl"], content=b"\x00garbage", headers={"Content-Type": "multipart/form-data; boundary=x"}
    )
    assert garbage.status_code == 400, garbage.text
    assert (await upload(client, presigned)).status_code == 204


async def test_a_large_file_downloads_whole(client: httpx.AsyncClient, bird: Bird) -> None:
    # Several of the download's chunks, the last one partial.
    content = bytes(range(256)) * 1500 + b"end"
    presigned = await presign(bird, "application/pdf")
    assert (
        await upload(client, presigned, content, filename="report.pdf", file_type="application/pdf")
    ).status_code == 204
    download = await client.get(presigned["mediaUrl"])
    assert download.status_code == 200
    assert download.headers["content-length"] == str(len(content))
    assert download.content == content


async def test_downloads_of_unknown_media_are_404(client: httpx.AsyncClient) -> None:
    for path in (f"/media/{uuid.uuid4()}", "/media/not-a-uuid"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json() == {"code": "NotFound", "message": "Not Found."}


async def app_with(settings: Settings, tmp_path: Path, **changes: Any) -> AsyncIterator[FastAPI]:
    """An app with these settings changed, its media stored in a directory of its own."""
    shared = media_config.current()
    application = create_app(settings.model_copy(update={**changes, "data_dir": tmp_path}))
    yield application
    media_config.configure(shared)  # create_app made its config the process's; the other tests use the shared one
    await application.state.roost.dispose()


@pytest.fixture
async def small_app(settings: Settings, tmp_path: Path) -> AsyncIterator[FastAPI]:
    """An app whose media may be at most 1000 bytes."""
    async for application in app_with(settings, tmp_path, media_max_bytes=1000):
        yield application


@pytest.fixture
async def wildcard_app(settings: Settings, tmp_path: Path) -> AsyncIterator[FastAPI]:
    """An app that takes every image type."""
    async for application in app_with(settings, tmp_path, media_content_types="image/*"):
        yield application


async def test_a_wildcard_takes_only_well_formed_types(wildcard_app: FastAPI, account: Tenant) -> None:
    async with client_for(wildcard_app) as client:
        bird = Bird(client, account)
        for malformed in ("image/*", "image/p\u00e9ng", "image/png/x", "image/x y", "image/" + "x" * 200):
            response = await bird.post(PRESIGN, {"contentType": malformed})
            assert response.status_code == 422, malformed
            assert set(response.json()["details"]) == {"contentType"}
        presigned = await presign(bird, "image/x-icon")
        icon = await upload(client, presigned, b"\x00\x00\x01\x00", filename="favicon.ico", file_type="image/x-icon")
        assert icon.status_code == 204
        download = await client.get(presigned["mediaUrl"])
        assert download.status_code == 200
        assert download.headers["content-type"] == "image/x-icon"


async def test_an_oversize_file_is_413_and_nothing_is_kept(small_app: FastAPI, account: Tenant) -> None:
    config: MediaConfig = small_app.state.roost.media
    async with client_for(small_app) as client:
        bird = Bird(client, account)
        presigned = await presign(bird)
        over = await upload(client, presigned, b"x" * 1001)
        assert over.status_code == 413
        assert over.json()["code"] == "PayloadTooLarge"
        assert stored_files(config) == []
        # Far over: refused by the body limit before the form is read.
        far_over = await upload(client, presigned, b"x" * 200_000)
        assert far_over.status_code == 413
        assert far_over.json()["code"] == "PayloadTooLarge"
        assert stored_files(config) == []
        assert (await client.get(presigned["mediaUrl"])).status_code == 404
        # The link still works for a file within the limit.
        assert (await upload(client, presigned, b"x" * 1000)).status_code == 204
        assert stored_files(config) == [presigned["uploadFormData"]["key"]]


async def test_the_upload_path_takes_bodies_over_the_json_limit(client: httpx.AsyncClient, bird: Bird) -> None:
    presigned = await presign(bird)
    big = PNG * 1500  # ~1.5 MB: over max_body_bytes (1 MiB), within the media limit (10 MiB)
    assert (await upload(client, presigned, big)).status_code == 204
    assert (await client.get(presigned["mediaUrl"])).content == big


async def test_openapi_documents_the_media_routes(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "post" in paths["/workspaces/{workspace_id}/channel-media/presigned-upload"]
    assert "post" in paths["/workspaces/{workspace_id}/channels/{channel_id}/presigned-upload"]
    assert "multipart/form-data" in paths["/media/upload"]["post"]["requestBody"]["content"]
    assert "get" in paths["/media/{media_id}"]


# What delivery calls ---------------------------------------------------------------------------


async def uploaded(client: httpx.AsyncClient, bird: Bird, content: bytes = PNG) -> str:
    presigned = await presign(bird)
    assert (await upload(client, presigned, content)).status_code == 204
    url: str = presigned["mediaUrl"]
    return url


async def test_load_own_media(
    app: FastAPI, client: httpx.AsyncClient, bird: Bird, account: Tenant, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    url = await uploaded(client, bird)
    assert media_service.own_media_id(url) == uuid.UUID(url.rsplit("/", 1)[1])
    async with sessionmaker() as session:
        loaded = await media_service.load(session, account_id=account.id, url=url)
        assert loaded.content == PNG
        assert loaded.content_type == "image/png"
        assert await media_service.check_attachment_url(session, account_id=account.id, url=url) is None


async def test_another_accounts_media_looks_missing(
    client: httpx.AsyncClient,
    bird: Bird,
    other_account: Tenant,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    url = await uploaded(client, bird)
    async with sessionmaker() as session:
        with pytest.raises(MediaUnavailable, match="does not exist"):
            await media_service.load(session, account_id=other_account.id, url=url)
        reason = await media_service.check_attachment_url(session, account_id=other_account.id, url=url)
        assert reason is not None
        assert "does not exist" in reason


async def test_pending_and_unknown_own_media(
    bird: Bird, account: Tenant, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    pending = (await presign(bird))["mediaUrl"]
    unknown = f"http://roost.test/media/{uuid.uuid4()}"
    async with sessionmaker() as session:
        with pytest.raises(MediaUnavailable, match="not been uploaded"):
            await media_service.load(session, account_id=account.id, url=pending)
        assert "not been uploaded" in str(
            await media_service.check_attachment_url(session, account_id=account.id, url=pending)
        )
        with pytest.raises(MediaUnavailable, match="does not exist"):
            await media_service.load(session, account_id=account.id, url=unknown)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/file.png", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("example.com/file.png", "http or https"),
        ("http:///nohost", "host"),
        ("http://127.0.0.1/x.png", "loopback"),
        ("http://169.254.169.254/latest", "metadata"),
    ],
)
async def test_attachment_urls_checked_at_acceptance(
    app: FastAPI, account: Tenant, sessionmaker: async_sessionmaker[AsyncSession], url: str, reason: str
) -> None:
    strict = dataclasses.replace(app.state.roost.media, allow_private=False)
    async with sessionmaker() as session:
        found = await media_service.check_attachment_url(session, account_id=account.id, url=url, config=strict)
        assert found is not None
        assert reason in found
        assert (
            await media_service.check_attachment_url(
                session, account_id=account.id, url="https://cdn.example.com/logo.png", config=strict
            )
            is None
        )


class Files(http.server.BaseHTTPRequestHandler):
    """A real HTTP server's answers: a file, redirects, a large body with and without Content-Length."""

    def do_GET(self) -> None:
        path = self.path
        if path == "/logo.png":
            self._answer(200, PNG, {"Content-Type": "image/png; name=logo"})
        elif path == "/untyped":
            self._answer(200, b"raw", {})
        elif path.startswith("/hop/"):
            left = int(path.rsplit("/", 1)[1])
            self._answer(302, b"", {"Location": "/logo.png" if left == 0 else f"/hop/{left - 1}"})
        elif path == "/big":
            self._answer(200, b"x" * 5000, {"Content-Type": "application/pdf"})
        elif path == "/big-unannounced":
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
            self.end_headers()
            self.wfile.write(b"x" * 5000)  # HTTP/1.0 without Content-Length: the body ends with the connection
        else:
            self._answer(404, b"nope", {})

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def files_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


async def test_load_remote_media(
    app: FastAPI, files_server: str, account: Tenant, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    config: MediaConfig = app.state.roost.media
    assert config.allow_private  # the test settings let media come from this machine
    async with sessionmaker() as session:
        loaded = await media_service.load(session, account_id=account.id, url=f"{files_server}/logo.png")
        assert loaded.content == PNG
        assert loaded.content_type == "image/png"
        untyped = await media_service.load(session, account_id=account.id, url=f"{files_server}/untyped")
        assert untyped.content_type == "application/octet-stream"
        # Three redirects are followed, a fourth is not.
        assert (await media_service.load(session, account_id=account.id, url=f"{files_server}/hop/2")).content == PNG
        with pytest.raises(MediaUnavailable, match="redirects more than 3 times"):
            await media_service.load(session, account_id=account.id, url=f"{files_server}/hop/3")
        with pytest.raises(MediaUnavailable, match="answered 404"):
            await media_service.load(session, account_id=account.id, url=f"{files_server}/missing")


async def test_remote_media_on_a_private_address_is_refused(
    app: FastAPI, files_server: str, account: Tenant, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    strict = dataclasses.replace(app.state.roost.media, allow_private=False)
    async with sessionmaker() as session:
        # `localhost` resolves to 127.0.0.1: the name passes acceptance, the connection is refused.
        url = f"{files_server}/logo.png"
        assert await media_service.check_attachment_url(session, account_id=account.id, url=url, config=strict) is None
        with pytest.raises(MediaUnavailable, match="loopback address"):
            await media_service.load(session, account_id=account.id, url=url, config=strict)


async def test_remote_media_too_large_is_refused(
    app: FastAPI, files_server: str, account: Tenant, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    small = dataclasses.replace(app.state.roost.media, max_bytes=4096)
    async with sessionmaker() as session:
        for path in ("/big", "/big-unannounced"):
            with pytest.raises(MediaUnavailable, match="larger than 4096 bytes"):
                await media_service.load(session, account_id=account.id, url=f"{files_server}{path}", config=small)


async def test_remote_media_that_is_unreachable(
    account: Tenant, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as session:
        with pytest.raises(MediaUnavailable, match="could not be fetched"):
            # Port 9 (discard) on this machine: nothing listens there.
            await media_service.load(session, account_id=account.id, url="http://127.0.0.1:9/x.png")
