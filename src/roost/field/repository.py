from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, text

from roost.db.repository import ScopedRepository
from roost.models import CustomField


class FieldRepository(ScopedRepository[CustomField]):
    model = CustomField
    newest_first = False  # custom fields list oldest first (CONVENTIONS §6)

    def search_filter(self, search_by: str, pattern: str) -> ColumnElement[bool] | None:
        return func.lower(CustomField.label).like(pattern, escape="\\")

    def order_column(self, order_by: str) -> ColumnElement[Any]:
        return func.lower(CustomField.label)

    async def by_key(self, key: str) -> CustomField | None:
        row: CustomField | None = await self.session.scalar(self.scoped().where(CustomField.key == key))
        return row

    async def all(self) -> list[CustomField]:
        return list((await self.session.scalars(self.scoped().order_by(CustomField.id))).all())

    async def move_contact_values(self, *, old: str, new: str | None) -> None:
        """Rename (or with new=None drop) one key in every contact's `fields` document, set-based.

        Keys are checked against KEY_PATTERN before they get here; they still travel as binds.
        """
        params = {"account_id": self.account_id, "old": old, "new": new}
        if self.session.get_bind().dialect.name == "postgresql":
            moved = "fields - :old" if new is None else "jsonb_set(fields - :old, ARRAY[:new], fields -> :old)"
            sql = f"UPDATE contacts SET fields = {moved} WHERE account_id = :account_id AND fields ? :old"  # noqa: S608 (constant fragments; values are binds)
        else:
            params |= {"old": f"$.{old}", "new": f"$.{new}"}
            moved = (
                "json_remove(fields, :old)"
                if new is None
                else "json_set(json_remove(fields, :old), :new, json_extract(fields, :old))"
            )
            sql = (
                f"UPDATE contacts SET fields = {moved} "  # noqa: S608 (constant fragments; values are binds)
                "WHERE account_id = :account_id AND json_type(fields, :old) IS NOT NULL"
            )
        await self.session.execute(text(sql), params)
