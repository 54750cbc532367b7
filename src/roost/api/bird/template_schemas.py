"""Wire schemas of template projects and their versions (CONVENTIONS §10, seed 003 "Send a message with a template").

Shapes are checked here; the rules of a version (locales, declared variables, sizes) are the
template service's, so that every caller gets them.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from roost.api.bird.wire import BirdIn, BirdOut, BirdTime
from roost.template.service import (
    LocaleContent,
    ProjectView,
    RenderedTemplate,
    VariableSpec,
    VersionView,
    request_values,
)

_strip = BeforeValidator(lambda v: v.strip() if isinstance(v, str) else v)
ProjectName = Annotated[str, _strip, Field(min_length=1, max_length=200)]
Locale = Annotated[str, _strip, Field(min_length=1, max_length=35)]
# Generous caps: the service holds the exact limits (998 characters of subject, 512 KB of html).
Subject = Annotated[str, Field(max_length=2000)]
Body = Annotated[str, Field(max_length=1024 * 1024)]
VariableKey = Annotated[str, _strip, Field(min_length=1, max_length=64)]


class ProjectIn(BirdIn):
    name: ProjectName


class ProjectPatch(BirdIn):
    name: ProjectName | None = None


class ProjectOut(BirdOut):
    id: uuid.UUID
    name: str
    latest_version: uuid.UUID | None = Field(description="The id of the newest version, or null before the first.")
    created_at: BirdTime
    updated_at: BirdTime

    @classmethod
    def of(cls, view: ProjectView) -> ProjectOut:
        project = view.row
        return cls(
            id=project.uuid,
            name=project.name,
            latest_version=view.latest_version,
            created_at=project.created_at,
            updated_at=project.updated_at,
        )


class ProjectListOut(BirdOut):
    results: list[ProjectOut]


class ContentIn(BirdIn):
    locale: Locale
    subject: Subject
    html: Body
    text: Body | None = None


class VariableIn(BirdIn):
    key: VariableKey
    default: str | None = None


class VersionIn(BirdIn):
    default_locale: Locale
    contents: list[ContentIn] = Field(min_length=1, max_length=100)
    variables: list[VariableIn] = Field(default_factory=list, max_length=200)

    def locale_contents(self) -> list[LocaleContent]:
        return [LocaleContent(c.locale, c.subject, c.html, c.text) for c in self.contents]

    def variable_specs(self) -> list[VariableSpec]:
        return [VariableSpec(v.key, v.default) for v in self.variables]


class ContentOut(BirdOut):
    locale: str
    subject: str
    html: str
    text: str | None


class VariableOut(BirdOut):
    key: str
    default: str | None = None


class VersionOut(BirdOut):
    id: uuid.UUID
    project_id: uuid.UUID
    number: int
    default_locale: str
    contents: list[ContentOut]
    variables: list[VariableOut]
    created_at: BirdTime

    @classmethod
    def of(cls, view: VersionView) -> VersionOut:
        version = view.row
        contents: dict[str, dict[str, Any]] = version.contents
        return cls(
            id=version.uuid,
            project_id=view.project_uuid,
            number=version.number,
            default_locale=version.default_locale,
            contents=[
                ContentOut(locale=locale, subject=c["subject"], html=c["html"], text=c.get("text"))
                for locale, c in sorted(contents.items(), key=lambda item: item[0].lower())
            ],
            variables=[VariableOut(key=v["key"], default=v.get("default")) for v in version.variables],
            created_at=version.created_at,
        )


class VersionListOut(BirdOut):
    results: list[VersionOut]


class TemplateParameterIn(BirdIn):
    """One of a message's `template.parameters` (seed 004): `{"type": "string", "key", "value"}`."""

    type: str = Field(default="string", max_length=32)
    key: VariableKey
    value: Any = None


class TemplateValuesIn(BirdIn):
    """The values of a render: a `variables` object and/or a `parameters` list (seeds 003/004).

    A key in both takes the `variables` value; numbers and booleans render as their JSON text.
    """

    variables: dict[str, Any] = Field(default_factory=dict)
    parameters: list[TemplateParameterIn] = Field(default_factory=list, max_length=200)

    def values(self) -> dict[str, object]:
        return request_values(self.variables, [(p.key, p.value) for p in self.parameters])


class RenderIn(TemplateValuesIn):
    locale: Locale | None = None


class RenderedOut(BirdOut):
    subject: str
    html: str
    text: str | None = Field(description="Null when the locale has no text part (mail then derives one from html).")

    @classmethod
    def of(cls, rendered: RenderedTemplate) -> RenderedOut:
        return cls(subject=rendered.subject, html=rendered.html, text=rendered.text)
