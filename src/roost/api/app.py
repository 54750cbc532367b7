"""The ASGI application: both API faces, public pages, health checks."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from roost.api import errors, outbox
from roost.api.auth import token_lookups
from roost.api.bird.routes import channels, media, messages, templates
from roost.api.middleware import BodyLimit, RateHeaders
from roost.api.public import confirm, pixel, tracking, unsubscribe
from roost.api.public import media as public_media
from roost.api.ratelimit import RateLimiter
from roost.api.routeindex import RouteIndex
from roost.api.state import AppState
from roost.api.v1.routes import (
    account,
    broadcasts,
    contacts,
    conversions,
    fields,
    forms,
    pixels,
    records,
    rules,
    segments,
    sequences,
    tags,
    webhooks,
)
from roost.background import ElectedBackground
from roost.bounce.listener import bounce_listener
from roost.channel.intake import intake
from roost.config import Settings, get_settings
from roost.contact import service as contact_service
from roost.db import WriteGate, create_engine, create_read_engine, create_read_sessionmaker, create_sessionmaker
from roost.delivery.addressing import Addressing
from roost.kit import heap
from roost.media import config as media_config
from roost.media import service as media_service

UPLOAD_FORM_OVERHEAD = 64 * 1024

DESCRIPTION = """\
Roost serves two APIs from one process:

* **/v1**: BirdSend API v1 compatible. JSON in and out, `Authorization: Bearer <token>`,
  scopes `read` (GET) and `write` (everything else), 5 requests/second per account
  (`X-RateLimit-Limit`, `X-RateLimit-Remaining`; 429 with `Retry-After` beyond it).
  Errors: `{"message": …}`; validation 422 adds `errors` keyed by dotted field path.
  Lists take `per_page` (1–100, default 15), `page`, `keyword`, `search_by`, `order_by`,
  `sort` and answer `{data, links, meta}`. Timestamps are UTC `YYYY-MM-DD HH:MM:SS`.

The **public** routes (`/t/…`, `/u/…`, `/confirm/…`) are what links in sent mail point at: no
Authorization header, the signed part of the URL names the message. They answer images,
redirects and HTML pages. `/pixel/script` and `/pixel/collect` are the tracking pixel that
sites embed (`GET /v1/pixels/code`): its script, and where it reports page views and conversions.
`/media/upload` and `/media/{media_id}` are where the Bird face's presigned uploads go and its
`mediaUrl`s point: no Authorization header either (the signed form, the random id), Bird errors.
"""


def create_app(settings: Settings | None = None, *, run_worker: bool = False) -> FastAPI:
    settings = settings or get_settings()
    engine = create_engine(settings.effective_database_url, pool_size=settings.db_pool_size)
    media_settings = media_config.MediaConfig.from_settings(settings)
    # The delivery engine's calls into roost.media use the process's configuration: this app's.
    media_config.configure(media_settings)
    limiter = RateLimiter(settings.rate_limit, redis_url=settings.redis_url) if settings.rate_limit_enabled else None
    sessionmaker, write_gate = create_sessionmaker(engine), WriteGate(engine)
    read_sessionmaker, read_engine = create_read_sessionmaker(engine), create_read_engine(engine)
    state = AppState(
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker,
        read_sessionmaker=read_sessionmaker,
        read_engine=read_engine,
        write_gate=write_gate,
        limiter=limiter,
        addressing=Addressing.from_settings(settings),
        media=media_settings,
        principals=token_lookups(read_engine),
        intake=intake(sessionmaker, write_gate),
        contact_creates=contact_service.creates(sessionmaker, write_gate),
        pixel_limiter=(
            RateLimiter(settings.pixel_rate_limit, redis_url=settings.redis_url, namespace="roost-pixel")
            if settings.pixel_rate_limit_enabled
            else None
        ),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        background, listener = None, None
        if run_worker:
            # Every process listens for bounces (the port is shared); one runs the background worker.
            background = ElectedBackground.from_settings(settings, state.sessionmaker, state.write_gate)
            listener = bounce_listener(settings, state.sessionmaker, state.write_gate)
        if background:
            background.start()
        try:
            if listener is not None:
                await listener.start()
            heap.settle()
            yield
        finally:
            if listener is not None:
                await listener.stop()
            if background:
                background.stop()
                await background.wait()
            await state.dispose()

    app = FastAPI(
        title="Roost",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.roost = state
    errors.install(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:  # any failure to reach the database means "not ready"
            return JSONResponse({"status": "database unreachable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    v1_modules = (
        account,
        tags,
        fields,
        contacts,
        records,
        sequences,
        forms,
        segments,
        broadcasts,
        rules,
        conversions,
        pixels,
        webhooks,
    )
    bird_modules = (channels, messages, templates, media)
    public_modules = (tracking, pixel, unsubscribe, confirm, public_media)
    for module in (*public_modules, *bird_modules, *v1_modules):
        add_routes(app, module.router)
    webhooks.document_payloads(app)

    if not settings.smtp_url:
        add_routes(app, outbox.router)

    # A request is matched against the routes that can match its path only, not against all of them.
    app.router.middleware_stack = RouteIndex(app.router)
    app.add_middleware(RateHeaders)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        # The file, plus room for the signed fields and the multipart framing.
        path_limits={media_service.UPLOAD_PATH: settings.media_max_bytes + UPLOAD_FORM_OVERHEAD},
    )
    return app


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """Put the router's routes on the app itself rather than `include_router` it.

    An included router is matched through a proxy that rescans every route it holds, twice per
    request (once to pick the router, once to pick the route): with every module included, routing
    alone cost more than a contact's database round trips. The modules' routers carry their own
    prefix, tags and error responses, so their routes are complete as they are.
    """
    app.router.routes.extend(router.routes)


def serving_app() -> FastAPI:
    """Factory for `roost serve`: settings from the environment, the background worker inside one of its processes."""
    return create_app(run_worker=True)
