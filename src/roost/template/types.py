"""Values the template service takes and gives (CONVENTIONS §10: the templates behind `template.projectId`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from roost.models import TemplateProject, TemplateVersion


@dataclass(frozen=True, slots=True)
class LocaleContent:
    """One locale of a version: its subject, html and optional text part, with `{{name}}` variables."""

    locale: str
    subject: str
    html: str
    text: str | None = None


@dataclass(frozen=True, slots=True)
class VariableSpec:
    """A variable a version declares; `default` stands in when a render gives no value."""

    key: str
    default: str | None = None


@dataclass(frozen=True, slots=True)
class ProjectView:
    """A template project with the public id of its newest version (None before the first publish)."""

    row: TemplateProject
    latest_version: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class VersionView:
    """A published version with its project's public id."""

    row: TemplateVersion
    project_uuid: uuid.UUID


@dataclass(frozen=True, slots=True)
class RenderedTemplate:
    """A version's locale with the variables substituted: what a message sends."""

    version_id: int  # TemplateVersion.id (internal)
    subject: str
    html: str
    text: str | None  # None when the locale has no text part (the mail composer then derives one from html)
