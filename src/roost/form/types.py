from __future__ import annotations

from dataclasses import dataclass, field

from roost.models import Form, Tag


@dataclass(frozen=True, slots=True)
class FormView:
    """A form with the tags it applies (tags deleted since the form was saved are left out)."""

    form: Form
    tags: list[Tag] = field(default_factory=list)
