"""Routing by the start of the path: a request is matched only against the routes that can match it.

Starlette and FastAPI match a request against every route in order until one fits: a regular
expression and a few calls for each. With the API's hundred-odd routes, the routes ahead of a
request's own cost it more than its database read. Here the routes are put in buckets by the first
two segments of the paths each can match (the literal start of its path, `/v1/contacts/` for
`/v1/contacts/{contact_id}`), and a request is handed to the router's own matching over its
bucket only. A bucket keeps the routes in their order and holds every route that could match the
path or the path with its trailing slash toggled, so the first match, the 405 of a path served
for other methods and the redirect of a trailing slash are the router's, as before.
"""

from __future__ import annotations

import copy

from fastapi.routing import APIRouter
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

# How many leading segments key a bucket: enough to tell /v1/contacts from /v1/tags.
KEY_SEGMENTS = 2

Key = tuple[str, ...]


def literal_segments(route: BaseRoute) -> Key:
    """The leading path segments of every path this route matches, at most KEY_SEGMENTS of them.

    Empty for a route of another kind, which then sits in every bucket.
    """
    if not isinstance(route, Route | Mount):
        return ()
    # A mount's path_format ends with its "{path}".
    fixed, parameter, _ = route.path_format.partition("{")
    segments = fixed.split("/")[1:]
    if parameter:
        # A parameter may continue the last segment ("/t/{token}.gif"): only those before it are sure.
        segments = segments[:-1]
    return tuple(segments[:KEY_SEGMENTS])


def request_key(path: str) -> Key:
    """The first KEY_SEGMENTS segments of a request's path, the last one possibly empty."""
    return tuple(path.split("/", KEY_SEGMENTS + 1)[1 : KEY_SEGMENTS + 1])


class RouteIndex:
    """The ASGI app of an APIRouter (its `middleware_stack`) that matches each request in its bucket.

    The buckets are made from the router's routes at the first request, and made again when a
    route is added (one added after the first request is matched as soon as it is there).
    """

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self._made_for: tuple[int, int] | None = None  # the routes list and its length
        self._buckets: dict[Key, APIRouter] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.router.app(scope, receive, send)
            return
        # `url_for` looks up routes in scope["router"]: every route, not the bucket's.
        scope.setdefault("router", self.router)
        await self._bucket(get_route_path(scope)).app(scope, receive, send)

    def _bucket(self, path: str) -> APIRouter:
        routes = self.router.routes
        if self._made_for != (id(routes), len(routes)):
            self._make_buckets()
        key = request_key(path)
        # The longest key that has a bucket: (v1, contacts), else (v1,), else the routes every
        # path may match.
        for length in range(len(key), -1, -1):
            bucket = self._buckets.get(key[:length])
            if bucket is not None:
                return bucket
        raise AssertionError("the empty key always has a bucket")

    def _make_buckets(self) -> None:
        routes = self.router.routes
        keyed = [(literal_segments(route), route) for route in routes]
        keys = {segments[:length] for segments, _ in keyed for length in range(len(segments) + 1)}
        keys.add(())
        self._buckets = {
            key: self._subset([route for segments, route in keyed if key[: len(segments)] == segments]) for key in keys
        }
        self._made_for = (id(routes), len(routes))

    def _subset(self, routes: list[BaseRoute]) -> APIRouter:
        # The router itself with fewer routes: its matching, redirects, 404 and 405 as they are.
        bucket = copy.copy(self.router)
        bucket.routes = routes
        return bucket
