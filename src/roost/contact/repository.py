from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Collection, Iterable
from collections.abc import Sequence as Seq
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    Table,
    Text,
    asc,
    bindparam,
    delete,
    desc,
    func,
    insert,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import QueryableAttribute

from roost.contact.types import MessagedContact, TagLink
from roost.db.driver import DriverRead
from roost.db.repository import ScopedRepository
from roost.kit.clock import utcnow_seconds
from roost.kit.paging import ListParams, Page, like_pattern
from roost.models import Contact, ContactSequence, ContactTag, Sequence, Tag

CONTACTS = cast(Table, Contact.__table__)
# Built once: the Bird API looks its receivers up on every send.
_BY_EMAILS = select(Contact.id, Contact.email, Contact.status).where(
    Contact.account_id == bindparam("account_id"), func.lower(Contact.email).in_(bindparam("emails", expanding=True))
)


def _full_name() -> ColumnElement[str]:
    return func.lower(func.coalesce(Contact.first_name, "") + " " + func.coalesce(Contact.last_name, ""))


# search_by tag | sequence: contacts linked to a tag or sequence whose name matches (CONVENTIONS §7).
_NAMED_LINKS: dict[str, tuple[QueryableAttribute[int], QueryableAttribute[int], type[Tag] | type[Sequence]]] = {
    "tag": (ContactTag.contact_id, ContactTag.tag_id, Tag),
    "sequence": (ContactSequence.contact_id, ContactSequence.sequence_id, Sequence),
}


class ContactRepository(ScopedRepository[Contact]):
    model = Contact

    def search_filter(self, search_by: str, pattern: str) -> ColumnElement[bool] | None:
        if search_by == "email":
            return func.lower(Contact.email).like(pattern, escape="\\")
        if search_by in _NAMED_LINKS:
            contact_id, target_id, target = _NAMED_LINKS[search_by]
            # One set of ids, computed once; a correlated EXISTS would probe the link index per contact.
            linked = (
                select(contact_id)
                .join(target, target.id == target_id)
                .where(target.account_id == self.account_id, func.lower(target.name).like(pattern, escape="\\"))
            )
            return Contact.id.in_(linked)
        return _full_name().like(pattern, escape="\\")

    def order_column(self, order_by: str) -> ColumnElement[Any] | QueryableAttribute[Any]:
        columns: dict[str, ColumnElement[Any] | QueryableAttribute[Any]] = {
            "name": _full_name(),
            "email": func.lower(Contact.email),
            "confirmed_at": Contact.confirmed_at,
            "subscribed_at": Contact.subscribed_at,
        }
        return columns[order_by]

    async def exists(self, contact_id: int) -> bool:
        found = await self.session.scalar(
            select(Contact.id).where(Contact.account_id == self.account_id, Contact.id == contact_id)
        )
        return found is not None

    async def summaries(self, contact_ids: Seq[int]) -> dict[int, dict[str, Any]]:
        """Plain values of these contacts (no ORM objects: callers only read them); the deleted are absent."""
        if not contact_ids:
            return {}
        rows = await self.session.execute(
            select(
                Contact.id, Contact.email, Contact.status, Contact.first_name, Contact.last_name, Contact.fields
            ).where(Contact.account_id == self.account_id, Contact.id.in_(contact_ids))
        )
        return {
            row.id: {
                "contact_id": row.id,
                "email": row.email,
                "status": row.status,
                "fields": {"first_name": row.first_name, "last_name": row.last_name, **(row.fields or {})},
            }
            for row in rows
        }

    async def by_emails(self, emails: Iterable[str]) -> dict[str, MessagedContact]:
        """The contacts with these addresses (any case), keyed by lower-cased address."""
        lowered = {email.lower() for email in emails}
        if not lowered:
            return {}
        rows = await self.session.execute(_BY_EMAILS, {"account_id": self.account_id, "emails": sorted(lowered)})
        return {row.email.lower(): MessagedContact(row.id, row.email, row.status) for row in rows}

    async def by_ids(self, ids: Iterable[int]) -> dict[int, MessagedContact]:
        wanted = set(ids)
        if not wanted:
            return {}
        rows = await self.session.execute(
            select(Contact.id, Contact.email, Contact.status).where(
                Contact.account_id == self.account_id, Contact.id.in_(wanted)
            )
        )
        return {row.id: MessagedContact(row.id, row.email, row.status) for row in rows}

    async def insert_missing(self, emails: Seq[str], *, status: str) -> list[MessagedContact]:
        """Insert contacts for these addresses with `status`, skipping any that exist by then; the inserted.

        ON CONFLICT DO NOTHING: two requests naming the same new address at once both succeed.
        """
        if not emails:
            return []
        now = utcnow_seconds()
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table = CONTACTS
        # Core, with the rows as parameters: one statement whatever the addresses, compiled once and cached.
        statement = insert(table).on_conflict_do_nothing().returning(table.c.id, table.c.email, table.c.status)
        rows = await self.session.execute(
            statement,
            [
                {
                    "account_id": self.account_id,
                    "email": email,
                    "fields": {},
                    "status": status,
                    "created_at": now,
                    "updated_at": now,
                }
                for email in emails
            ],
        )
        return [MessagedContact(row.id, row.email, row.status) for row in rows]

    async def insert_many(self, rows: Seq[dict[str, Any]]) -> list[Contact]:
        """Insert new contacts of this account; the rows, in order, as loaded contacts.

        An ORM bulk INSERT … RETURNING: one statement, without a unit-of-work flush per contact.
        """
        if not rows:
            return []
        contacts = await self.session.scalars(
            insert(Contact).returning(Contact, sort_by_parameter_order=True),
            [{**row, "account_id": self.account_id} for row in rows],
        )
        return list(contacts)

    async def by_email(self, email: str) -> Contact | None:
        row: Contact | None = await self.session.scalar(self.scoped().where(func.lower(Contact.email) == email.lower()))
        return row

    async def _flushed_connection(self) -> AsyncConnection:
        """The session's connection for a Core read, once this unit of work's changes are in the
        database: the read does not see the session (an unsubscribe before the page that shows it)."""
        if self.session.new or self.session.dirty or self.session.deleted:
            await self.session.flush()
        return await self.session.connection()

    async def wires(self, contact_ids: Seq[int]) -> dict[int, str]:
        """The wire JSON of each of these contacts the account has, by id."""
        if not contact_ids:
            return {}
        connection = await self._flushed_connection()
        statement = _wire_many(_is_postgres(connection))
        rows = await connection.execute(statement, {"account_id": self.account_id, "contact_ids": list(contact_ids)})
        return {contact_id: text for text, contact_id in rows}

    async def tags_of(self, contact_ids: Seq[int]) -> dict[int, list[TagLink]]:
        """Tag links of several contacts in one query, in the order they were applied."""
        if not contact_ids:
            return {}
        rows = await self.session.execute(
            select(ContactTag.contact_id, Tag.id, Tag.name, ContactTag.tagged_at)
            .join(Tag, Tag.id == ContactTag.tag_id)
            # Tenancy through the tag row: with ContactTag.account_id here, SQLite (no statistics)
            # picks the account index and scans every tag link of the account instead of the PK.
            .where(Tag.account_id == self.account_id, ContactTag.contact_id.in_(contact_ids))
            .order_by(ContactTag.contact_id, ContactTag.tagged_at, Tag.id)
        )
        links: dict[int, list[TagLink]] = defaultdict(list)
        for contact_id, tag_id, name, tagged_at in rows:
            links[contact_id].append(TagLink(tag_id=tag_id, name=name, tagged_at=tagged_at))
        return links

    async def tag_ids_of(self, contact_id: int) -> set[int]:
        rows = await self.session.scalars(
            select(ContactTag.tag_id)
            .join(Tag, Tag.id == ContactTag.tag_id)
            .where(Tag.account_id == self.account_id, ContactTag.contact_id == contact_id)
        )
        return set(rows)

    async def lock_tags(self, tag_ids: Collection[int]) -> None:
        """Lock these tags' rows in id order until the transaction ends, before linking or unlinking
        them (PostgreSQL; SQLite has one writer at a time).

        Each link or unlink locks its tag's row anyway, through the trigger that keeps the tag's
        count: taken as the statements come, two requests changing the same tags in other orders
        (a PUT removes before it adds) would deadlock.
        """
        if len(tag_ids) < 2 or self.session.get_bind().dialect.name != "postgresql":
            return
        await self.session.execute(
            select(Tag.id).where(Tag.id.in_(sorted(tag_ids))).order_by(Tag.id).with_for_update(key_share=True)
        )

    def link_tag(self, link: ContactTag) -> None:
        self.session.add(link)

    async def unlink_tag(self, contact_id: int, tag_id: int) -> bool:
        """Remove one tag from one contact; True when it was applied."""
        result = await self.session.execute(
            delete(ContactTag).where(
                ContactTag.account_id == self.account_id,
                ContactTag.contact_id == contact_id,
                ContactTag.tag_id == tag_id,
            )
        )
        return bool(getattr(result, "rowcount", 0))


async def contact_wire(connection: AsyncConnection, *, account_id: int, contact_id: int) -> str | None:
    """One contact's wire JSON (`_wire_json`), None when the account has no such contact."""
    rows = await _wire_one(_is_postgres(connection)).rows(
        connection, {"account_id": account_id, "contact_id": contact_id}
    )
    return str(rows[0][0]) if rows else None


def searches_links(params: ListParams) -> bool:
    """Whether the list is a search by tag or sequence name in id order, which `linked_page` reads."""
    return bool(params.keyword) and params.search_by in _NAMED_LINKS and not params.order_by


async def linked_page(connection: AsyncConnection, *, account_id: int, params: ListParams) -> Page[str]:
    """A page of a search by tag or sequence name in id order (`searches_links`), as the
    contacts' wire JSON (`_wire_json`).

    The total is the count the tag or sequence keeps of its contacts (`contacts_count`; the
    links, when several match). The page is a slice of the links' (tag or sequence, contact)
    index, which holds the contact ids in order; a link exists only while its contact does (ON
    DELETE CASCADE) and belongs to the tag's account. For a tag on 15,000 of 100,000 contacts,
    counting its links took about 1 ms, visiting its contacts 8 ms (SQLite) to 20 ms
    (PostgreSQL), and gathering all 15,000 ids before taking 15, 2.8 ms (SQLite).
    """
    search_by = params.search_by
    pattern = like_pattern(params.keyword or "")
    matching = await _matching_names(search_by).rows(connection, {"account_id": account_id, "pattern": pattern})
    if not matching:
        return Page(items=[], total=0, page=params.page, per_page=params.per_page)
    several = len(matching) > 1
    if several:
        # A contact linked to two of them counts once: only the links can tell.
        linked: dict[str, Any] = {"target_ids": [target_id for target_id, _ in matching]}
        total = await connection.scalar(_linked_count(search_by), linked) or 0
    else:
        ((target_id, total),) = matching
        linked = {"target_id": target_id}
    newest = ContactRepository.newest_first if params.sort is None else params.sort == "desc"
    page = _linked_page(search_by, several, newest, _is_postgres(connection))
    paging = {"account_id": account_id, "limit": params.per_page, "offset": params.offset}
    items = [text for (text,) in await page.rows(connection, {**linked, **paging})]
    return Page(items=items, total=total, page=params.page, per_page=params.per_page)


# The statements of `linked_page`, built once for each kind of link: building
# them cost as much as running them.


@functools.cache
def _matching_names(search_by: str) -> DriverRead:
    """The account's tags or sequences whose lower-cased name is LIKE the pattern: id, contacts_count."""
    target = _NAMED_LINKS[search_by][2]
    return DriverRead(
        select(target.id, target.contacts_count).where(
            target.account_id == bindparam("account_id"),
            func.lower(target.name).like(bindparam("pattern"), escape="\\"),
        )
    )


def _links_to(search_by: str, several: bool) -> ColumnElement[bool]:
    target_id = _NAMED_LINKS[search_by][1]
    return target_id.in_(bindparam("target_ids", expanding=True)) if several else target_id == bindparam("target_id")


@functools.cache
def _linked_count(search_by: str) -> Select[Any]:
    """How many contacts are linked to any of several tags or sequences (one answers its own
    `contacts_count`)."""
    contact_id = _NAMED_LINKS[search_by][0]
    return select(func.count(contact_id.distinct())).where(_links_to(search_by, several=True))


@functools.cache
def _linked_page(search_by: str, several: bool, newest: bool, postgres: bool) -> DriverRead:
    """A page of the linked contacts, with their links, in id order: a slice of the link index."""
    contact_id = _NAMED_LINKS[search_by][0]
    direction = desc if newest else asc
    ids = select(contact_id).where(_links_to(search_by, several)).order_by(direction(contact_id))
    if several:
        ids = ids.distinct()
    # LIMIT and OFFSET written into the statement: with them as parameters PostgreSQL's generic plan
    # assumes a tenth of the table and it plans the statement afresh on every execution (about
    # half of its CPU for a search); with them known, the prepared statement keeps one plan.
    limit = bindparam("limit", type_=Integer, literal_execute=True)
    ids = ids.limit(limit).offset(bindparam("offset", type_=Integer, literal_execute=True))
    return DriverRead(
        select(_wire_json(postgres))
        .where(Contact.account_id == bindparam("account_id"), Contact.id.in_(ids))
        .order_by(direction(Contact.id))
    )


def _is_postgres(connection: AsyncConnection) -> bool:
    return connection.dialect.name == "postgresql"


# A contact's wire shape, written by the database --------------------------------------------
#
# The reads answer a contact (GET /v1/contacts/{id}) and pages of them as the JSON text that the
# database writes, which the route sends as it is: parsing rows into objects, models and
# timestamps in Python and serializing them again cost two thirds of a search's CPU (SQLite, 15
# contacts: 1.1 ms of 3.2). The shape is `roost.api.v1.schemas.ContactOut`, which the writes
# still render in Python; tests/api/test_contact_wire.py holds the two to the same output.


def _key(name: str) -> ColumnElement[str]:
    # Keys are written into the SQL rather than bound: constants, and PostgreSQL cannot type a
    # parameter of json_build_object.
    return literal_column(f"'{name}'")


def _object(postgres: bool, *, jsonb: bool = False, **members: Any) -> ColumnElement[Any]:
    build = (func.jsonb_build_object if jsonb else func.json_build_object) if postgres else func.json_object
    return build(*(part for name, value in members.items() for part in (_key(name), value)))


def _wire_time(postgres: bool, column: Any) -> ColumnElement[str]:
    """ "YYYY-MM-DD HH:MM:SS" in UTC, as `roost.kit.timestamps.format_utc` writes it: SQLite keeps
    the naive UTC text "YYYY-MM-DD HH:MM:SS.ffffff", PostgreSQL a timestamptz."""
    if postgres:
        utc = func.timezone(literal_column("'UTC'"), column)
        return func.to_char(utc, literal_column("'YYYY-MM-DD HH24:MI:SS'"))
    return func.substr(column, 1, 19)


def _wire_array(postgres: bool, element: ColumnElement[Any], rows: Select[Any], *order: Any) -> ColumnElement[Any]:
    """The elements of `rows` as a JSON array in `order`; [] when there are none."""
    if postgres:
        aggregated = func.json_agg(postgresql.aggregate_order_by(element, *order))
        return func.coalesce(rows.with_only_columns(aggregated).scalar_subquery(), literal_column("'[]'::json"))
    # SQLite keeps a subquery's order for the aggregate over it (it never flattens an ordered
    # subquery into an aggregate), and json() marks the text as JSON for the enclosing object.
    ordered = rows.with_only_columns(element.label("element")).order_by(*order).correlate(Contact).subquery()
    # The element passes the subquery as text: json() makes it JSON again for the array.
    return func.json(select(func.json_group_array(func.json(ordered.c.element))).scalar_subquery())


def _wire_json(postgres: bool) -> ColumnElement[str]:
    """A contact as `ContactOut` shows it, as JSON text."""
    time = functools.partial(_wire_time, postgres)
    tag_links = select(ContactTag).join(Tag, Tag.id == ContactTag.tag_id).where(ContactTag.contact_id == Contact.id)
    tags = _wire_array(
        postgres,
        _object(postgres, tag_id=Tag.id, name=Tag.name, tagged_at=time(ContactTag.tagged_at)),
        tag_links,
        ContactTag.tagged_at,
        Tag.id,
    )
    memberships = (
        select(ContactSequence)
        .join(Sequence, Sequence.id == ContactSequence.sequence_id)
        .where(ContactSequence.contact_id == Contact.id)
    )
    sequences = _wire_array(
        postgres,
        _object(
            postgres,
            sequence_id=Sequence.id,
            current_step=ContactSequence.current_step,
            name=Sequence.name,
            description=Sequence.description,
            subscribed_at=time(ContactSequence.subscribed_at),
            confirmed_at=time(ContactSequence.confirmed_at),
        ),
        memberships,
        ContactSequence.subscribed_at,
        Sequence.id,
    )
    # The built-in fields first, then the custom ones, which never hold null (clearing removes
    # the key), so SQLite's merge patch is a plain merge.
    names = _object(postgres, jsonb=True, first_name=Contact.first_name, last_name=Contact.last_name)
    fields = names.op("||")(Contact.fields) if postgres else func.json_patch(names, Contact.fields)
    wire = _object(
        postgres,
        contact_id=Contact.id,
        email=Contact.email,
        fields=fields,
        ipaddress=Contact.ipaddress,
        tags=tags,
        sequences=sequences,
        status=Contact.status,
        subscribed_at=time(Contact.subscribed_at),
        confirmed_at=time(Contact.confirmed_at),
        created_at=time(Contact.created_at),
        updated_at=time(Contact.updated_at),
    )
    # As text on PostgreSQL too, where the driver would decode a json value into objects.
    return wire.cast(Text) if postgres else type_coerce(wire, String)


@functools.cache
def _wire_one(postgres: bool) -> DriverRead:
    """The wire JSON of the account's contact `contact_id`; built once per dialect (the contact
    read is the most called query)."""
    return DriverRead(
        select(_wire_json(postgres)).where(
            Contact.account_id == bindparam("account_id"), Contact.id == bindparam("contact_id")
        )
    )


@functools.cache
def _wire_many(postgres: bool) -> Select[str, int]:
    """The wire JSON and id of each of the account's contacts among `contact_ids`."""
    return select(_wire_json(postgres), Contact.id).where(
        Contact.account_id == bindparam("account_id"), Contact.id.in_(bindparam("contact_ids", expanding=True))
    )
