"""Routing by the start of the path (roost.api.routeindex): the same route as a scan of every route."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match, Mount, Route

from roost.api.app import create_app
from roost.api.routeindex import RouteIndex, literal_segments, request_key
from roost.config import Settings
from tests.conftest import client_for
from tests.helpers import Tenant

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _first_match(routes: list[BaseRoute], path: str, method: str) -> tuple[Match, BaseRoute | None]:
    """What the router does: the first full match, else the first partial one (a 405)."""
    scope = {"type": "http", "path": path, "root_path": "", "method": method, "headers": [], "query_string": b""}
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return match, route
        if match == Match.PARTIAL and partial is None:
            partial = route
    return (Match.PARTIAL, partial) if partial else (Match.NONE, None)


def _sample_paths(route: BaseRoute) -> list[str]:
    """A path the route serves, the same with its trailing slash toggled, and near misses."""
    if not isinstance(route, Route | Mount):
        return []
    path = re.sub(r"\{[^}]+\}", "12", route.path_format)
    toggled = path[:-1] if path.endswith("/") else path + "/"
    return [path, toggled, path + "/extra", path + "x", path.rsplit("/", 1)[0] or "/"]


def test_every_path_gets_the_route_a_scan_of_all_routes_gives(app: FastAPI) -> None:
    index = app.router.middleware_stack
    assert isinstance(index, RouteIndex)
    routes = app.router.routes
    paths = {sample for route in routes for sample in _sample_paths(route)}
    paths |= {"/", "/nothing", "/v1", "/v1/", "/v1/nothing/1", "/workspaces", "//", "/v1//contacts"}
    assert len(paths) > 200
    for path in sorted(paths):
        bucket = index._bucket(path).routes
        assert len(bucket) <= 30  # the largest: the 30 routes under /v1/contacts
        for method in METHODS:
            assert _first_match(bucket, path, method) == _first_match(routes, path, method), (path, method)


def test_a_route_is_keyed_by_the_segments_before_its_first_parameter() -> None:
    def endpoint() -> None:
        return None

    assert literal_segments(APIRoute("/v1/contacts/{contact_id}/notes", endpoint)) == ("v1", "contacts")
    assert literal_segments(APIRoute("/v1/contacts", endpoint)) == ("v1", "contacts")
    assert literal_segments(APIRoute("/t/{token}.gif", endpoint)) == ("t",)
    assert literal_segments(APIRoute("/healthz", endpoint)) == ("healthz",)
    assert literal_segments(APIRoute("/x{name}", endpoint)) == ()
    assert literal_segments(Mount("/static", routes=[])) == ("static",)
    assert request_key("/v1/contacts/5/notes") == ("v1", "contacts")
    assert request_key("/v1/") == ("v1", "")


async def test_a_trailing_slash_redirects(client: httpx.AsyncClient, account: Tenant) -> None:
    # (404 and 405 with every allowed method: tests/api/test_bad_input.py.)
    redirected = await client.get("/v1/contacts/", headers=account.headers)
    assert redirected.status_code == 307
    assert redirected.headers["location"] == "http://roost.test/v1/contacts"


async def test_a_route_added_after_the_first_request_is_served(settings: Settings) -> None:
    application = create_app(settings)
    try:
        async with client_for(application) as http:
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/v1/late")).status_code == 404

            @application.get("/v1/late")
            async def late() -> dict[str, bool]:
                return {"late": True}

            answer = await http.get("/v1/late")
            assert answer.status_code == 200
            assert answer.json() == {"late": True}
    finally:
        await application.state.roost.dispose()
