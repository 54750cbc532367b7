"""Wire schemas of the contact records: notes, tasks, appointments (CONVENTIONS §7)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from roost.api.v1.wire import Name, V1Time, V1TimeIn, WireIn
from roost.models import Appointment, Note, Task

Body = Annotated[str, Field(min_length=1, max_length=65535)]
Description = Annotated[str, Field(max_length=65535)]
Location = Annotated[str, Field(max_length=500)]
TaskStatus = Literal["open", "completed"]
AppointmentStatus = Literal["scheduled", "completed", "cancelled"]


class NoteIn(WireIn):
    body: Body


class NotePatch(WireIn):
    body: Body | None = None


class NoteOut(BaseModel):
    note_id: int
    contact_id: int
    body: str
    created_at: V1Time
    updated_at: V1Time

    @classmethod
    def of(cls, note: Note) -> NoteOut:
        return cls(
            note_id=note.id,
            contact_id=note.contact_id,
            body=note.body,
            created_at=note.created_at,
            updated_at=note.updated_at,
        )


class TaskIn(WireIn):
    title: Name
    description: Description = ""
    status: TaskStatus = "open"
    due_at: V1TimeIn | None = None


class TaskPatch(WireIn):
    title: Name | None = None
    description: Description | None = None
    status: TaskStatus | None = None
    due_at: V1TimeIn | None = None


class TaskOut(BaseModel):
    task_id: int
    contact_id: int
    title: str
    description: str
    status: str
    due_at: V1Time
    completed_at: V1Time
    created_at: V1Time
    updated_at: V1Time

    @classmethod
    def of(cls, task: Task) -> TaskOut:
        return cls(
            task_id=task.id,
            contact_id=task.contact_id,
            title=task.title,
            description=task.description,
            status=task.status,
            due_at=task.due_at,
            completed_at=task.completed_at,
            created_at=task.created_at,
            updated_at=task.updated_at,
        )


class AppointmentIn(WireIn):
    title: Name
    starts_at: V1TimeIn
    ends_at: V1TimeIn | None = None
    location: Location = ""
    status: AppointmentStatus = "scheduled"


class AppointmentPatch(WireIn):
    title: Name | None = None
    starts_at: V1TimeIn | None = None
    ends_at: V1TimeIn | None = None
    location: Location | None = None
    status: AppointmentStatus | None = None


class AppointmentOut(BaseModel):
    appointment_id: int
    contact_id: int
    title: str
    starts_at: V1Time
    ends_at: V1Time
    location: str
    status: str
    created_at: V1Time
    updated_at: V1Time

    @classmethod
    def of(cls, appointment: Appointment) -> AppointmentOut:
        return cls(
            appointment_id=appointment.id,
            contact_id=appointment.contact_id,
            title=appointment.title,
            starts_at=appointment.starts_at,
            ends_at=appointment.ends_at,
            location=appointment.location,
            status=appointment.status,
            created_at=appointment.created_at,
            updated_at=appointment.updated_at,
        )


def patch_values(body: BaseModel, *, nullable: frozenset[str] = frozenset()) -> dict[str, Any]:
    """What a PATCH changes: the properties given; null only where the field may be empty."""
    given = body.model_dump(exclude_unset=True)
    return {key: value for key, value in given.items() if value is not None or key in nullable}
