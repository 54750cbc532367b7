from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func
from sqlalchemy.orm import QueryableAttribute

from roost.db.repository import ScopedRepository
from roost.models import Appointment, Note, Task


class NoteRepository(ScopedRepository[Note]):
    model = Note

    def search_filter(self, search_by: str, pattern: str) -> ColumnElement[bool] | None:
        return func.lower(Note.body).like(pattern, escape="\\")

    def order_column(self, order_by: str) -> ColumnElement[Any] | QueryableAttribute[Any]:
        return {"created_at": Note.created_at, "updated_at": Note.updated_at}[order_by]


class TaskRepository(ScopedRepository[Task]):
    model = Task

    def search_filter(self, search_by: str, pattern: str) -> ColumnElement[bool] | None:
        if search_by == "status":
            return func.lower(Task.status).like(pattern, escape="\\")
        return func.lower(Task.title).like(pattern, escape="\\")

    def order_column(self, order_by: str) -> ColumnElement[Any] | QueryableAttribute[Any]:
        columns: dict[str, ColumnElement[Any] | QueryableAttribute[Any]] = {
            "due_at": Task.due_at,
            "created_at": Task.created_at,
            "title": func.lower(Task.title),
        }
        return columns[order_by]


class AppointmentRepository(ScopedRepository[Appointment]):
    model = Appointment

    def search_filter(self, search_by: str, pattern: str) -> ColumnElement[bool] | None:
        if search_by == "location":
            return func.lower(Appointment.location).like(pattern, escape="\\")
        return func.lower(Appointment.title).like(pattern, escape="\\")

    def order_column(self, order_by: str) -> ColumnElement[Any] | QueryableAttribute[Any]:
        return {"starts_at": Appointment.starts_at, "created_at": Appointment.created_at}[order_by]
