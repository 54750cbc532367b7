"""Templates of the Bird face (CONVENTIONS §10, seed 003 "Send a message with a template").

A project is a sequence of immutable versions. A version holds, per locale, a subject, an html
part and an optional text part that reference declared variables as `{{name}}`; rendering
substitutes values with the merge-tag engine of `roost.mail.merge` (plain substitution: no
template language ever runs on user input).
"""

from __future__ import annotations

import html as html_lib
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from roost.errors import Invalid, NotFound
from roost.kit.clock import utcnow
from roost.kit.ids import parse_uuid
from roost.mail.merge import VARIABLE_NAME, parse_variables
from roost.models import TemplateProject, TemplateVersion
from roost.template.repository import TemplateProjectRepository, TemplateVersionRepository
from roost.template.types import (
    LocaleContent,
    ProjectView,
    RenderedTemplate,
    VariableSpec,
    VersionView,
)

__all__ = [
    "LocaleContent",
    "ProjectView",
    "RenderedTemplate",
    "VariableSpec",
    "VersionView",
    "create_project",
    "delete_project",
    "get_project",
    "get_version",
    "list_projects",
    "list_versions",
    "preview",
    "publish",
    "render",
    "request_values",
    "update_project",
]

LATEST = "latest"
# BCP 47-ish: a language, then subtags (`en`, `pt-BR`, `zh-Hant-TW`); the column holds 35 characters.
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*\Z")
LOCALE_MAX = 35
VARIABLE_KEY = re.compile(VARIABLE_NAME + r"\Z")
SUBJECT_MAX = 998  # RFC 5322's line limit, and the width of channel_messages.subject
BODY_MAX_BYTES = 512 * 1024
_LINE_BREAKS = re.compile(r"[\r\n]+")
_FIELDS = ("subject", "html", "text")


# Projects ----------------------------------------------------------------------


async def list_projects(session: AsyncSession, *, account_id: int) -> list[ProjectView]:
    """The workspace's template projects, oldest first, each with its newest version's id."""
    projects = await TemplateProjectRepository(session, account_id).all()
    latest = await TemplateVersionRepository(session, account_id).newest_uuids([p.id for p in projects])
    return [ProjectView(project, latest.get(project.id)) for project in projects]


async def _project(session: AsyncSession, account_id: int, project_id: str, *, lock: bool = False) -> TemplateProject:
    public_id = parse_uuid(project_id)
    repo = TemplateProjectRepository(session, account_id)
    project = await repo.by_uuid(public_id, lock=lock) if public_id else None
    if project is None:
        raise NotFound()
    return project


async def _view(session: AsyncSession, account_id: int, project: TemplateProject) -> ProjectView:
    latest = await TemplateVersionRepository(session, account_id).newest_uuids([project.id])
    return ProjectView(project, latest.get(project.id))


async def get_project(session: AsyncSession, *, account_id: int, project_id: str) -> ProjectView:
    """One project of the workspace by its public id, or NotFound."""
    return await _view(session, account_id, await _project(session, account_id, project_id))


async def create_project(session: AsyncSession, *, account_id: int, name: str) -> ProjectView:
    """Create a template project, with no version yet."""
    project = TemplateProjectRepository(session, account_id).add(
        TemplateProject(account_id=account_id, uuid=uuid.uuid4(), name=name)
    )
    await session.flush()
    return ProjectView(project, None)


async def update_project(session: AsyncSession, *, account_id: int, project_id: str, name: str | None) -> ProjectView:
    """Rename a project (its versions are immutable and stay as they are)."""
    project = await _project(session, account_id, project_id)
    if name is not None and name != project.name:
        project.name = name
        project.updated_at = utcnow()
        await session.flush()
    return await _view(session, account_id, project)


async def delete_project(session: AsyncSession, *, account_id: int, project_id: str) -> None:
    """Delete a project and its versions.

    Messages already accepted keep the content rendered when they were accepted; the database
    clears their link to the version (ON DELETE SET NULL).
    """
    project = await _project(session, account_id, project_id)
    await TemplateProjectRepository(session, account_id).delete(project)
    await session.flush()


# Versions ----------------------------------------------------------------------


def _check_version(
    default_locale: str, contents: Sequence[LocaleContent], variables: Sequence[VariableSpec]
) -> dict[str, list[str]]:
    """Every reason the version cannot be published, keyed by the wire path of the offending field."""
    errors: dict[str, list[str]] = {}

    def fail(path: str, message: str) -> None:
        errors.setdefault(path, []).append(message)

    declared: set[str] = set()
    for i, variable in enumerate(variables):
        if not VARIABLE_KEY.match(variable.key):
            fail(
                f"variables.{i}.key",
                "The variable key must start with a letter or _ and hold at most 64 letters, digits, _ . or -.",
            )
        elif variable.key in declared:
            fail(f"variables.{i}.key", f'The variable "{variable.key}" is declared twice.')
        declared.add(variable.key)

    if not contents:
        fail("contents", "The contents must have at least 1 items.")
    locales: set[str] = set()
    for i, content in enumerate(contents):
        if len(content.locale) > LOCALE_MAX or not _LOCALE.match(content.locale):
            fail(f"contents.{i}.locale", "The locale must be a language tag such as en or pt-BR.")
        elif content.locale.lower() in locales:
            fail(f"contents.{i}.locale", f'The locale "{content.locale}" appears twice.')
        locales.add(content.locale.lower())
        if not content.subject.strip():
            fail(f"contents.{i}.subject", "The subject field is required.")
        elif len(content.subject) > SUBJECT_MAX:
            fail(f"contents.{i}.subject", f"The subject may not be greater than {SUBJECT_MAX} characters.")
        if "\r" in content.subject or "\n" in content.subject:
            fail(f"contents.{i}.subject", "The subject must be a single line.")
        if not content.html.strip():
            fail(f"contents.{i}.html", "The html field is required.")
        for field in ("html", "text"):
            value = getattr(content, field)
            if value is not None and len(value.encode()) > BODY_MAX_BYTES:
                fail(f"contents.{i}.{field}", f"The {field} may not be larger than {BODY_MAX_BYTES // 1024} KB.")
        for field in _FIELDS:
            value = getattr(content, field)
            if value is None:
                continue
            # Every variable a content uses must be declared, so a render can always fill it.
            for name in sorted(parse_variables(value).keys - declared):
                fail(
                    f"contents.{i}.{field}",
                    f'The variable "{name}" in the {field} of locale "{content.locale}" is not declared.',
                )
    if contents and default_locale.lower() not in locales:
        fail("defaultLocale", "The default locale must be one of the contents' locales.")
    return errors


async def publish(
    session: AsyncSession,
    *,
    account_id: int,
    project_id: str,
    default_locale: str,
    contents: Sequence[LocaleContent],
    variables: Sequence[VariableSpec],
) -> VersionView:
    """Publish the project's next version (numbered 1, 2, …); versions never change afterwards."""
    errors = _check_version(default_locale, contents, variables)
    # The project row is locked (PostgreSQL; SQLite has one writer) so that two publishes at once
    # take numbers one after the other instead of clashing on unique (project_id, number).
    project = await _project(session, account_id, project_id, lock=True)
    if errors:
        raise Invalid(errors)
    versions = TemplateVersionRepository(session, account_id)
    # The default locale as the contents spell it, so that it always names a key of `contents`.
    default = next(c.locale for c in contents if c.locale.lower() == default_locale.lower())
    now = utcnow()
    version = versions.add(
        TemplateVersion(
            account_id=account_id,
            uuid=uuid.uuid4(),
            project_id=project.id,
            number=await versions.last_number(project.id) + 1,
            default_locale=default,
            contents={
                c.locale: {"subject": c.subject, "html": c.html, "text": c.text or None}
                for c in sorted(contents, key=lambda c: c.locale.lower())
            },
            variables=[
                {"key": v.key} if v.default is None else {"key": v.key, "default": v.default} for v in variables
            ],
            created_at=now,
        )
    )
    project.updated_at = now
    await session.flush()
    return VersionView(version, project.uuid)


async def list_versions(session: AsyncSession, *, account_id: int, project_id: str) -> list[VersionView]:
    """A project's versions, newest first."""
    project = await _project(session, account_id, project_id)
    versions = await TemplateVersionRepository(session, account_id).of_project(project.id)
    return [VersionView(version, project.uuid) for version in versions]


async def _version(
    session: AsyncSession, account_id: int, project: TemplateProject, version_id: str
) -> TemplateVersion:
    public_id = parse_uuid(version_id)
    version = await TemplateVersionRepository(session, account_id).by_uuid(project.id, public_id) if public_id else None
    if version is None:
        raise NotFound()
    return version


async def get_version(session: AsyncSession, *, account_id: int, project_id: str, version_id: str) -> VersionView:
    """One version of a project, or NotFound."""
    project = await _project(session, account_id, project_id)
    return VersionView(await _version(session, account_id, project, version_id), project.uuid)


# Rendering ---------------------------------------------------------------------


def request_values(
    variables: Mapping[str, object] | None, parameters: Iterable[tuple[str, object]] = ()
) -> dict[str, object]:
    """The values a request gives: its `variables` object, then its `parameters` list for keys not in it.

    Seeds 003/004 allow both `"variables": {"firstName": "Ann"}` and
    `"parameters": [{"type": "string", "key": "firstName", "value": "Ann"}]`.
    """
    values: dict[str, object] = {}
    for key, value in parameters:
        if value is not None:
            values[key] = value
    for key, value in (variables or {}).items():
        if value is not None:
            values[key] = value
    return values


def _text_of(value: object) -> str:
    # Numbers, booleans (and anything else JSON can hold) read as their JSON text: 3, true, 2.5.
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def pick_locale(available: Iterable[str], requested: str | None, default: str) -> str:
    """The locale a render uses: the requested one, else its shorter forms (`pt-BR` then `pt`), else the default.

    Matching ignores case, as BCP 47 does.
    """
    by_lower = {locale.lower(): locale for locale in available}
    if requested:
        tag = requested.strip().lower()
        while tag:
            if tag in by_lower:
                return by_lower[tag]
            tag = tag.rpartition("-")[0]
    return default


def _render_version(
    version: TemplateVersion, *, locale: str | None, values: Mapping[str, object], path: str
) -> RenderedTemplate:
    texts: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for variable in version.variables:
        key = str(variable["key"])
        if values.get(key) is not None:
            texts[key] = _text_of(values[key])
        elif variable.get("default") is not None:
            texts[key] = str(variable["default"])
        else:
            errors[f"{path}.{key}"] = [f'The variable "{key}" has no value and no default.']
    if errors:
        raise Invalid(errors)
    declared = frozenset(texts)
    content: dict[str, Any] = version.contents[pick_locale(version.contents, locale, version.default_locale)]

    def fill(field: str, escape: Any) -> str:
        template = parse_variables(content[field], declared.__contains__)
        return template.render({key: escape(value) for key, value in texts.items() if key in template.keys})

    # A value in the subject cannot break the header: line breaks fold to a space.
    subject = fill("subject", lambda value: _LINE_BREAKS.sub(" ", value))
    if len(subject) > SUBJECT_MAX:
        raise Invalid.field(path, f"With these variables the subject is longer than {SUBJECT_MAX} characters.")
    return RenderedTemplate(
        version_id=version.id,
        subject=subject,
        html=fill("html", lambda value: html_lib.escape(value, quote=True)),
        text=fill("text", str) if content.get("text") else None,
    )


async def render(
    session: AsyncSession,
    *,
    account_id: int,
    project_id: str,
    version: str | None,
    locale: str | None,
    variables: Mapping[str, object],
) -> RenderedTemplate:
    """A message's `template`: the version (None or "latest": the newest) rendered in a locale with `variables`.

    `locale` None means the version's default locale; a locale the version lacks falls back to
    its language (`pt-BR` to `pt`), then to the default locale. Values are HTML-escaped in the
    html, and inserted as they are in the subject (line breaks folded) and the text. Problems are
    Invalid at `template.projectId`, `template.version` or `template.variables.<key>`; another
    workspace's project reads exactly as a missing one.
    """
    public_id = parse_uuid(project_id)
    project = await TemplateProjectRepository(session, account_id).by_uuid(public_id) if public_id else None
    if project is None:
        raise Invalid.field("template.projectId", "The selected template project does not exist.")
    versions = TemplateVersionRepository(session, account_id)
    if version is None or version.strip().lower() == LATEST:
        row = await versions.newest(project.id)
        if row is None:
            raise Invalid.field("template.version", "The template project has no published version yet.")
    else:
        version_uuid = parse_uuid(version)
        row = await versions.by_uuid(project.id, version_uuid) if version_uuid else None
        if row is None:
            raise Invalid.field("template.version", "The selected template version does not exist in this project.")
    return _render_version(row, locale=locale, values=variables, path="template.variables")


async def preview(
    session: AsyncSession,
    *,
    account_id: int,
    project_id: str,
    version_id: str,
    locale: str | None,
    variables: Mapping[str, object],
) -> RenderedTemplate:
    """A version rendered as `render` would send it; an unknown project or version is NotFound here."""
    project = await _project(session, account_id, project_id)
    version = await _version(session, account_id, project, version_id)
    return _render_version(version, locale=locale, values=variables, path="variables")
