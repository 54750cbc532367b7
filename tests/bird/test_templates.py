"""Template projects and versions of the Bird face (CONVENTIONS §10, seed 003 "Send a message with a template")."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.channel import service as channel_service
from roost.errors import Invalid
from roost.kit.clock import utcnow
from roost.models import ChannelMessage
from roost.template import service as template_service
from tests.helpers import Bird, Tenant

RFC3339_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")

WELCOME: dict[str, Any] = {
    "defaultLocale": "en",
    "contents": [
        {
            "locale": "en",
            "subject": "Welcome, {{firstName}}",
            "html": "<p>Hello {{ firstName }}, your code is {{code}}.</p>",
            "text": "Hello {{firstName}}, your code is {{code}}.",
        },
        {"locale": "pt", "subject": "Bem-vindo, {{firstName}}", "html": "<p>Olá {{firstName}} ({{code}})</p>"},
        {
            "locale": "pt-BR",
            "subject": "Bem-vindo ao Brasil, {{firstName}}",
            "html": "<p>Oi {{firstName}} {{code}}</p>",
        },
    ],
    "variables": [{"key": "firstName", "default": "there"}, {"key": "code"}],
}


async def _project(bird: Bird, name: str = "Welcome") -> dict[str, Any]:
    return await bird.ok("POST", "/projects", {"name": name}, status=201)


async def _published(bird: Bird, body: dict[str, Any] = WELCOME) -> tuple[str, dict[str, Any]]:
    project = await _project(bird)
    version = await bird.ok("POST", f"/projects/{project['id']}/versions", body, status=201)
    return project["id"], version


def _version_body(**changes: Any) -> dict[str, Any]:
    return {**WELCOME, **changes}


# Projects -----------------------------------------------------------------------


async def test_create_get_list_rename_and_delete_a_project(bird: Bird) -> None:
    created = await _project(bird, "  Receipts  ")
    uuid.UUID(created["id"])
    assert created["name"] == "Receipts"
    assert created["latestVersion"] is None
    assert RFC3339_MS.match(created["createdAt"])
    assert RFC3339_MS.match(created["updatedAt"])

    assert await bird.ok("GET", f"/projects/{created['id']}") == created
    other = await _project(bird, "Newsletter")
    listed = await bird.ok("GET", "/projects")
    assert [p["id"] for p in listed["results"]] == [created["id"], other["id"]]

    renamed = await bird.ok("PATCH", f"/projects/{created['id']}", {"name": "Invoices"})
    assert renamed["name"] == "Invoices"
    assert renamed["createdAt"] == created["createdAt"]
    assert (await bird.ok("GET", f"/projects/{created['id']}"))["name"] == "Invoices"
    unchanged = await bird.ok("PATCH", f"/projects/{created['id']}", {})
    assert unchanged["name"] == "Invoices"

    deleted = await bird.delete(f"/projects/{created['id']}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    gone = await bird.get(f"/projects/{created['id']}")
    assert gone.status_code == 404
    assert gone.json() == {"code": "NotFound", "message": "Not Found."}
    assert (await bird.delete(f"/projects/{created['id']}")).status_code == 404
    assert [p["id"] for p in (await bird.ok("GET", "/projects"))["results"]] == [other["id"]]


async def test_project_names_are_required_and_bounded(bird: Bird) -> None:
    for body, path in (({}, "name"), ({"name": "   "}, "name"), ({"name": "x" * 201}, "name")):
        response = await bird.post("/projects", body)
        assert response.status_code == 422, body
        assert response.json()["code"] == "InvalidPayload"
        assert set(response.json()["details"]) == {path}
    project = await _project(bird)
    response = await bird.patch(f"/projects/{project['id']}", {"name": ""})
    assert response.status_code == 422
    assert set(response.json()["details"]) == {"name"}
    assert (await bird.get(f"/projects/{uuid.uuid4()}")).status_code == 404
    assert (await bird.get("/projects/not-a-uuid")).status_code == 404


# Versions -----------------------------------------------------------------------


async def test_publishing_numbers_versions_and_the_project_points_at_the_newest(bird: Bird) -> None:
    project_id, first = await _published(bird)
    uuid.UUID(first["id"])
    assert first["projectId"] == project_id
    assert first["number"] == 1
    assert first["defaultLocale"] == "en"
    assert RFC3339_MS.match(first["createdAt"])
    assert first["variables"] == [{"key": "firstName", "default": "there"}, {"key": "code", "default": None}]
    assert [c["locale"] for c in first["contents"]] == ["en", "pt", "pt-BR"]
    assert first["contents"][0] == WELCOME["contents"][0]
    assert first["contents"][1]["text"] is None
    assert (await bird.ok("GET", f"/projects/{project_id}"))["latestVersion"] == first["id"]

    second = await bird.ok(
        "POST",
        f"/projects/{project_id}/versions",
        {"defaultLocale": "EN", "contents": [{"locale": "en", "subject": "Hi", "html": "<p>Hi</p>"}]},
        status=201,
    )
    assert second["number"] == 2
    assert second["defaultLocale"] == "en"  # as the contents spell it
    assert second["variables"] == []
    assert (await bird.ok("GET", f"/projects/{project_id}"))["latestVersion"] == second["id"]
    listed = await bird.ok("GET", "/projects")
    assert listed["results"][0]["latestVersion"] == second["id"]

    versions = await bird.ok("GET", f"/projects/{project_id}/versions")
    assert [v["number"] for v in versions["results"]] == [2, 1]
    assert versions["results"][1] == first
    assert await bird.ok("GET", f"/projects/{project_id}/versions/{first['id']}") == first
    assert (await bird.get(f"/projects/{project_id}/versions/{uuid.uuid4()}")).status_code == 404
    assert (await bird.get(f"/projects/{project_id}/versions/nope")).status_code == 404
    # A version is reached through its own project only.
    other = await _project(bird, "Other")
    assert (await bird.get(f"/projects/{other['id']}/versions/{first['id']}")).status_code == 404
    assert (await bird.ok("GET", f"/projects/{other['id']}/versions"))["results"] == []


async def test_versions_are_immutable(bird: Bird) -> None:
    project_id, version = await _published(bird)
    path = f"/projects/{project_id}/versions/{version['id']}"
    for method in ("PATCH", "PUT", "DELETE"):
        response = await bird.client.request(
            method, bird.base + path, json={"defaultLocale": "pt"}, headers=bird.headers
        )
        assert response.status_code == 405, method
        assert response.json()["code"] == "MethodNotAllowed"
    assert await bird.ok("GET", path) == version


async def test_concurrent_publishes_take_distinct_numbers(bird: Bird) -> None:
    project = await _project(bird)
    body = {"defaultLocale": "en", "contents": [{"locale": "en", "subject": "s", "html": "h"}]}
    responses = await asyncio.gather(*(bird.post(f"/projects/{project['id']}/versions", body) for _ in range(5)))
    assert [r.status_code for r in responses] == [201] * 5
    assert sorted(r.json()["number"] for r in responses) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("body", "path", "fragment"),
    [
        (_version_body(contents=[]), "contents", "at least 1"),
        (_version_body(defaultLocale="de"), "defaultLocale", "one of the contents"),
        (
            _version_body(contents=[WELCOME["contents"][0], {**WELCOME["contents"][1], "locale": "EN"}]),
            "contents.1.locale",
            "twice",
        ),
        (_version_body(contents=[{**WELCOME["contents"][0], "locale": "english!"}]), "contents.0.locale", "tag"),
        (_version_body(contents=[{**WELCOME["contents"][0], "locale": "e"}]), "contents.0.locale", "tag"),
        (_version_body(contents=[{**WELCOME["contents"][0], "subject": "Hi\r\nBcc: x"}]), "contents.0.subject", "line"),
        (_version_body(contents=[{**WELCOME["contents"][0], "subject": "x" * 999}]), "contents.0.subject", "998"),
        (_version_body(contents=[{**WELCOME["contents"][0], "subject": " "}]), "contents.0.subject", "required"),
        (
            _version_body(contents=[{**WELCOME["contents"][0], "html": "x" * (512 * 1024 + 1)}]),
            "contents.0.html",
            "512",
        ),
        (_version_body(contents=[{"locale": "en", "subject": "s"}]), "contents.0.html", "required"),
        (_version_body(variables=[{"key": "code"}, {"key": "code"}]), "variables.1.key", "twice"),
        (_version_body(variables=[{"key": "9lives"}]), "variables.0.key", "letter"),
        (
            _version_body(
                contents=[
                    WELCOME["contents"][0],
                    {"locale": "de", "subject": "Hallo", "html": "<p>{{ nickname }}</p>"},
                ]
            ),
            "contents.1.html",
            '"nickname" in the html of locale "de" is not declared',
        ),
        (
            _version_body(contents=[{**WELCOME["contents"][0], "text": "{{firstName}} {{surname}}"}]),
            "contents.0.text",
            '"surname"',
        ),
        (_version_body(variables=[{"key": "code"}]), "contents.0.subject", '"firstName"'),
    ],
)
async def test_an_invalid_version_is_refused_and_nothing_is_published(
    bird: Bird, body: dict[str, Any], path: str, fragment: str
) -> None:
    project = await _project(bird)
    response = await bird.post(f"/projects/{project['id']}/versions", body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == "InvalidPayload"
    assert path in error["details"], error
    assert any(fragment in message for message in error["details"][path]), error
    assert (await bird.ok("GET", f"/projects/{project['id']}/versions"))["results"] == []
    assert (await bird.ok("GET", f"/projects/{project['id']}"))["latestVersion"] is None


async def test_publishing_to_an_unknown_project_is_404(bird: Bird) -> None:
    response = await bird.post(f"/projects/{uuid.uuid4()}/versions", WELCOME)
    assert response.status_code == 404
    assert response.json()["code"] == "NotFound"


# Rendering ----------------------------------------------------------------------


async def _render(bird: Bird, project_id: str, version_id: str, body: dict[str, Any]) -> httpx.Response:
    return await bird.post(f"/projects/{project_id}/versions/{version_id}/render", body)


async def test_render_substitutes_variables_and_escapes_them_in_html_only(bird: Bird) -> None:
    project_id, version = await _published(bird)
    rendered = await bird.ok(
        "POST",
        f"/projects/{project_id}/versions/{version['id']}/render",
        {"variables": {"firstName": '<Ann & "Bo">', "code": 42}},
    )
    assert rendered == {
        "subject": 'Welcome, <Ann & "Bo">',
        "html": "<p>Hello &lt;Ann &amp; &quot;Bo&quot;&gt;, your code is 42.</p>",
        "text": 'Hello <Ann & "Bo">, your code is 42.',
    }


async def test_render_takes_parameters_defaults_and_json_text_of_non_strings(bird: Bird) -> None:
    project_id, version = await _published(bird)
    rendered = await bird.ok(
        "POST",
        f"/projects/{project_id}/versions/{version['id']}/render",
        {"parameters": [{"type": "string", "key": "code", "value": True}, {"type": "string", "key": "extra"}]},
    )
    assert rendered["subject"] == "Welcome, there"
    assert rendered["text"] == "Hello there, your code is true."

    both = await bird.ok(
        "POST",
        f"/projects/{project_id}/versions/{version['id']}/render",
        {
            "variables": {"code": 2.5, "unused": "ignored"},
            "parameters": [{"type": "string", "key": "code", "value": "lost"}, {"key": "firstName", "value": "Ann"}],
        },
    )
    assert both["text"] == "Hello Ann, your code is 2.5."


async def test_render_without_a_required_value_is_422_naming_it(bird: Bird) -> None:
    project_id, version = await _published(bird)
    response = await _render(bird, project_id, version["id"], {"variables": {"firstName": "Ann", "code": None}})
    assert response.status_code == 422
    assert response.json()["code"] == "InvalidPayload"
    assert set(response.json()["details"]) == {"variables.code"}


async def test_line_breaks_in_a_value_never_break_the_subject(bird: Bird) -> None:
    project_id, version = await _published(bird)
    rendered = await bird.ok(
        "POST",
        f"/projects/{project_id}/versions/{version['id']}/render",
        {"variables": {"firstName": "Ann\r\nBcc: victim@example.com", "code": "1\n2"}},
    )
    assert rendered["subject"] == "Welcome, Ann Bcc: victim@example.com"
    assert rendered["text"] == "Hello Ann\r\nBcc: victim@example.com, your code is 1\n2."

    too_long = await _render(bird, project_id, version["id"], {"variables": {"firstName": "x" * 990, "code": 1}})
    assert too_long.status_code == 422
    assert set(too_long.json()["details"]) == {"variables"}


@pytest.mark.parametrize(
    ("locale", "subject"),
    [
        (None, "Welcome, Ann"),
        ("en", "Welcome, Ann"),
        ("pt-BR", "Bem-vindo ao Brasil, Ann"),
        ("PT-br", "Bem-vindo ao Brasil, Ann"),
        ("pt-PT", "Bem-vindo, Ann"),
        ("pt", "Bem-vindo, Ann"),
        ("de-DE", "Welcome, Ann"),
        ("fr", "Welcome, Ann"),
    ],
)
async def test_render_falls_back_from_region_to_language_to_the_default_locale(
    bird: Bird, locale: str | None, subject: str
) -> None:
    project_id, version = await _published(bird)
    body: dict[str, Any] = {"variables": {"firstName": "Ann", "code": 7}}
    if locale is not None:
        body["locale"] = locale
    rendered = await bird.ok("POST", f"/projects/{project_id}/versions/{version['id']}/render", body)
    assert rendered["subject"] == subject
    # Only the English content has a text part; the others leave it to the mail composer.
    assert (rendered["text"] is None) == subject.startswith("Bem")


async def test_text_that_looks_like_a_template_language_is_left_as_written(bird: Bird) -> None:
    body = {
        "defaultLocale": "en",
        "contents": [
            {
                "locale": "en",
                "subject": "{{#if x}}{x}{{ }}",
                "html": "{{7*7}} {{name|upper}} {{{name}}} {{ name }}",
                "text": "%contact.email% {{name}}",
            }
        ],
        "variables": [{"key": "name"}],
    }
    project_id, version = await _published(bird, body)
    rendered = await bird.ok(
        "POST", f"/projects/{project_id}/versions/{version['id']}/render", {"variables": {"name": "{{name}}"}}
    )
    assert rendered == {
        "subject": "{{#if x}}{x}{{ }}",
        "html": "{{7*7}} {{name|upper}} {{{name}}} {{name}}",
        "text": "%contact.email% {{name}}",
    }


# The service the message-send path calls -----------------------------------------


async def test_service_render_resolves_latest_and_reports_template_paths(
    sessionmaker: async_sessionmaker[AsyncSession], bird: Bird, account: Tenant, other_account: Tenant
) -> None:
    project_id, first = await _published(bird)
    second = await bird.ok(
        "POST",
        f"/projects/{project_id}/versions",
        {
            "defaultLocale": "en",
            "contents": [{"locale": "en", "subject": "v2 {{a}}", "html": "<b>{{a}}</b>"}],
            "variables": [{"key": "a"}],
        },
        status=201,
    )
    empty = await _project(bird, "Empty")

    async def render(account_id: int = account.id, **kwargs: Any) -> template_service.RenderedTemplate:
        args: dict[str, Any] = {"project_id": project_id, "version": None, "locale": None, "variables": {"a": "x"}}
        async with sessionmaker() as session:
            return await template_service.render(session, account_id=account_id, **{**args, **kwargs})

    for version in (None, "latest", second["id"]):
        rendered = await render(version=version)
        assert (rendered.subject, rendered.html, rendered.text) == ("v2 x", "<b>x</b>", None)
    older = await render(version=first["id"], locale="pt-BR", variables={"code": "9"})
    assert older.subject == "Bem-vindo ao Brasil, there"
    assert older.version_id != rendered.version_id

    async def invalid(**kwargs: Any) -> dict[str, list[str]]:
        with pytest.raises(Invalid) as raised:
            await render(**kwargs)
        return raised.value.errors

    assert set(await invalid(project_id=str(uuid.uuid4()))) == {"template.projectId"}
    assert set(await invalid(project_id="nope")) == {"template.projectId"}
    # Another workspace's project reads exactly as a missing one.
    assert await invalid(account_id=other_account.id) == await invalid(project_id=str(uuid.uuid4()))
    assert set(await invalid(version=str(uuid.uuid4()))) == {"template.version"}
    assert set(await invalid(version="v1")) == {"template.version"}
    assert set(await invalid(project_id=empty["id"])) == {"template.version"}
    assert set(await invalid(variables={})) == {"template.variables.a"}


async def test_deleting_a_project_keeps_the_messages_already_accepted(
    sessionmaker: async_sessionmaker[AsyncSession], bird: Bird, account: Tenant, channel: dict[str, str]
) -> None:
    project_id, version = await _published(bird)
    async with sessionmaker() as session:
        rendered = await template_service.render(
            session,
            account_id=account.id,
            project_id=project_id,
            version=version["id"],
            locale=None,
            variables={"code": 5},
        )
        channel_row = await channel_service.get(session, account_id=account.id, channel_id=channel["id"])
        message = ChannelMessage(
            account_id=account.id,
            channel_id=channel_row.id,
            status="accepted",
            subject=rendered.subject,
            from_email="shop@example.com",
            html=rendered.html,
            text=rendered.text,
            content={"template": {"projectId": project_id}},
            template_version_id=rendered.version_id,
            expires_at=utcnow() + timedelta(days=1),
        )
        session.add(message)
        await session.commit()
        message_id = message.id

    assert (await bird.delete(f"/projects/{project_id}")).status_code == 204

    async with sessionmaker() as session:
        kept = await session.get(ChannelMessage, message_id)
        assert kept is not None
        assert kept.template_version_id is None
        assert (kept.subject, kept.html) == ("Welcome, there", "<p>Hello there, your code is 5.</p>")


# Tenancy --------------------------------------------------------------------------

SAMPLE_BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/projects/{project_id}"): {"name": "renamed"},
    ("POST", "/projects/{project_id}/versions"): WELCOME,
    ("POST", "/projects/{project_id}/versions/{version_id}/render"): {"variables": {"code": 1}},
}


async def test_every_template_route_answers_404_to_another_workspace(
    app: FastAPI, client: httpx.AsyncClient, bird: Bird, other_bird: Bird, account: Tenant, other_account: Tenant
) -> None:
    project_id, version = await _published(bird)
    ids = {"project_id": project_id, "version_id": version["id"]}
    before = await bird.ok("GET", f"/projects/{project_id}/versions")
    intruder_in_victims_workspace = Bird(client, other_account, workspace_id=account.workspace_id)
    walked = 0
    for path, operations in app.openapi()["paths"].items():
        if not path.startswith("/workspaces/{workspace_id}/projects"):
            continue
        local = path.removeprefix("/workspaces/{workspace_id}")
        for method in operations:
            upper = method.upper()
            body = SAMPLE_BODIES.get((upper, local), {"name": "x"} if upper == "POST" else None)
            for intruder in (other_bird, intruder_in_victims_workspace):
                url = local.format(**ids)
                response = await intruder.client.request(
                    upper, intruder.base + url, json=body, headers=intruder.headers
                )
                if "{" in local:
                    assert response.status_code == 404, f"{upper} {local} answered {response.status_code}"
                    assert response.json() == {"code": "NotFound", "message": "Not Found."}
                elif intruder is intruder_in_victims_workspace:
                    assert response.status_code == 404, f"{upper} {local} answered {response.status_code}"
            walked += 1
    assert walked == 9
    assert project_id not in {p["id"] for p in (await other_bird.ok("GET", "/projects"))["results"]}
    assert [p["id"] for p in (await bird.ok("GET", "/projects"))["results"]] == [project_id]
    assert await bird.ok("GET", f"/projects/{project_id}/versions") == before
    assert (await bird.ok("GET", f"/projects/{project_id}"))["name"] == "Welcome"


async def test_template_routes_are_documented(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    documented = {(m, p) for p, ops in paths.items() if "/projects" in p for m in ops}
    assert len(documented) == 9
    for method, path in documented:
        operation = paths[path][method]
        assert operation.get("summary"), f"{method} {path}"
        codes = set(operation["responses"])
        assert {"401", "403", "404", "422", "429"} <= codes, f"{method} {path}: {codes}"
        if method in {"post", "patch"}:
            assert {"400", "413"} <= codes, f"{method} {path}"
        assert len({c for c in codes if c.startswith("2")}) == 1, f"{method} {path}"
