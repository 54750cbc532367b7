"""Who receives a broadcast (CONVENTIONS §7: recipients), counted through the API and listed by the
statement the delivery engine resolves recipients with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from roost.audience import service as audience_service
from tests.api.rows import Sessions, add_sequence
from tests.helpers import Api

SENDER = {"email": "me@example.com", "name": "Me", "address": "1 Main St"}
BROADCAST = {"name": "b", "email": {"subject": "s", "body": "b"}, "sender": SENDER}


@dataclass(frozen=True)
class Audience:
    """Six contacts: c5 has tags A and B but is unsubscribed; c1 and c4 are in sequence S."""

    contacts: dict[str, int]
    tags: dict[str, int]
    sequence: int
    segment_c: int  # contacts with tag C, whatever their status


async def _audience(api: Api) -> Audience:
    layout = {"c1": ["A", "B"], "c2": ["A"], "c3": ["B", "C"], "c4": [], "c5": ["A", "B"], "c6": ["A", "C"]}
    contacts: dict[str, int] = {}
    for name, names in layout.items():
        contact = await api.created("/contacts", {"email": f"{name}@example.com"})
        contacts[name] = contact["contact_id"]
        if names:
            await api.post(f"/contacts/{contact['contact_id']}/tags", {"tags": names})
    await api.delete(f"/contacts/{contacts['c5']}/unsubscribe")
    tags = {tag["name"]: tag["tag_id"] for tag in (await api.get("/tags")).json()["data"]}
    sequence = await add_sequence(api, [contacts["c1"], contacts["c4"]])
    segment = await api.created(
        "/segments", {"name": "C", "conditions": [{"type": "tag", "operator": "has", "value": tags["C"]}]}
    )
    return Audience(contacts, tags, sequence, segment["segment_id"])


def _tag(audience: Audience, name: str, operator: str = "equal") -> dict[str, Any]:
    return {"type": "tag", "operator": operator, "value": audience.tags[name]}


CASES: list[tuple[str, Any, set[str]]] = [
    ("no groups: every active contact", lambda a: [], {"c1", "c2", "c3", "c4", "c6"}),
    ("any", lambda a: [{"match": "any", "conditions": [_tag(a, "A"), _tag(a, "B")]}], {"c1", "c2", "c3", "c6"}),
    ("all", lambda a: [{"match": "all", "conditions": [_tag(a, "A"), _tag(a, "B")]}], {"c1"}),
    (
        "any and exclude",
        lambda a: [{"match": "any", "conditions": [_tag(a, "A")]}, {"match": "exclude", "conditions": [_tag(a, "C")]}],
        {"c1", "c2"},
    ),
    (
        "exclude alone: none of its conditions",
        lambda a: [{"match": "exclude", "conditions": [_tag(a, "A"), _tag(a, "B")]}],
        {"c4"},
    ),
    ("not_equal", lambda a: [{"match": "all", "conditions": [_tag(a, "A"), _tag(a, "B", "not_equal")]}], {"c2", "c6"}),
    (
        "not_equal in any",
        lambda a: [{"match": "any", "conditions": [_tag(a, "C"), _tag(a, "A", "not_equal")]}],
        {"c3", "c4", "c6"},
    ),
    (
        "every non-exclude group",
        lambda a: [{"match": "any", "conditions": [_tag(a, "A")]}, {"match": "any", "conditions": [_tag(a, "B")]}],
        {"c1"},
    ),
    ("sequence", lambda a: [{"match": "any", "conditions": [{"type": "sequence", "value": a.sequence}]}], {"c1", "c4"}),
    (
        "any mixing tags and a sequence",
        lambda a: [
            {"match": "any", "conditions": [_tag(a, "C"), {"type": "sequence", "value": a.sequence}, _tag(a, "B")]}
        ],
        {"c1", "c3", "c4", "c6"},
    ),
    (
        "exclude mixing a tag and a sequence",
        lambda a: [{"match": "exclude", "conditions": [_tag(a, "C"), {"type": "sequence", "value": a.sequence}]}],
        {"c2"},
    ),
    (
        "sequence not_equal",
        lambda a: [
            {"match": "all", "conditions": [{"type": "sequence", "operator": "not_equal", "value": a.sequence}]}
        ],
        {"c2", "c3", "c6"},
    ),
    ("segment", lambda a: [{"match": "any", "conditions": [{"type": "segment", "value": a.segment_c}]}], {"c3", "c6"}),
    (
        "segment not_equal",
        lambda a: [
            {"match": "any", "conditions": [{"type": "segment", "operator": "not_equal", "value": a.segment_c}]}
        ],
        {"c1", "c2", "c4"},
    ),
    (
        "segment excluded",
        lambda a: [
            {"match": "any", "conditions": [_tag(a, "A")]},
            {"match": "exclude", "conditions": [{"type": "segment", "value": a.segment_c}]},
        ],
        {"c1", "c2"},
    ),
]


@pytest.mark.parametrize(("case", "groups", "expected"), CASES, ids=[case for case, _, _ in CASES])
async def test_recipient_semantics(
    api: Api, sessionmaker: Sessions, case: str, groups: Any, expected: set[str]
) -> None:
    audience = await _audience(api)
    broadcast = await api.created(
        "/broadcasts",
        {"name": case, "email": {"subject": "s", "body": "b"}, "sender": SENDER, "recipients": groups(audience)},
    )
    count = await api.get(f"/broadcasts/{broadcast['broadcast_id']}/recipients/count")
    assert count.status_code == 200
    assert count.json() == {"count": len(expected)}
    async with sessionmaker() as session:
        statement = await audience_service.recipients(
            session, account_id=api.account.id, groups=broadcast["recipients"]
        )
        ids = set((await session.scalars(statement)).all())
    assert ids == {audience.contacts[name] for name in expected}


async def test_recipients_are_counted_live(api: Api) -> None:
    audience = await _audience(api)
    broadcast = await api.created(
        "/broadcasts",
        {
            "name": "live",
            "email": {"subject": "s", "body": "b"},
            "sender": SENDER,
            "recipients": [{"match": "any", "conditions": [{"type": "segment", "value": audience.segment_c}]}],
        },
    )
    path = f"/broadcasts/{broadcast['broadcast_id']}/recipients/count"
    assert (await api.get(path)).json() == {"count": 2}
    await api.post(f"/contacts/{audience.contacts['c4']}/tags", {"tags": ["C"]})
    assert (await api.get(path)).json() == {"count": 3}
    await api.delete(f"/contacts/{audience.contacts['c3']}/unsubscribe")
    assert (await api.get(path)).json() == {"count": 2}
    # Changing the segment changes the broadcast's recipients.
    await api.patch(
        f"/segments/{audience.segment_c}", {"conditions": [{"type": "tag", "operator": "has", "value": "A"}]}
    )
    assert (await api.get(path)).json() == {"count": 3}  # c1, c2, c6


async def test_another_accounts_contacts_never_count(api: Api, other_api: Api) -> None:
    await _audience(other_api)
    broadcast = await api.created(
        "/broadcasts", {"name": "mine", "email": {"subject": "s", "body": "b"}, "sender": SENDER}
    )
    await api.created("/contacts", {"email": "only@example.com"})
    assert (await api.get(f"/broadcasts/{broadcast['broadcast_id']}/recipients/count")).json() == {"count": 1}


async def test_the_largest_recipients_allowed_still_count(api: Api) -> None:
    audience = await _audience(api)
    tags = list(audience.tags.values())
    segment = await api.created(
        "/segments",
        {
            "name": "largest",
            "match": "all",
            "conditions": [{"type": "tag", "operator": "has_not", "value": tags[n % len(tags)]} for n in range(20)],
        },
    )
    segment_ref = {"type": "segment", "value": segment["segment_id"]}
    not_a = {"type": "tag", "operator": "not_equal", "value": audience.tags["A"]}
    largest = [
        {"match": "all", "conditions": [segment_ref, segment_ref, segment_ref, *[not_a] * 17]},
        *({"match": "all", "conditions": [not_a] * 5} for _ in range(6)),
    ]
    broadcast = await api.created("/broadcasts", {**BROADCAST, "recipients": largest})
    count = await api.get(f"/broadcasts/{broadcast['broadcast_id']}/recipients/count")
    assert count.json() == {"count": 1}  # c4, the only active contact without tags
    too_many = await api.post("/broadcasts", {**BROADCAST, "recipients": [*largest, {"conditions": [not_a]}]})
    assert too_many.json()["errors"] == {"recipients": ["The recipients may not have more than 50 conditions in all."]}
    four_segments = [{"match": "any", "conditions": [segment_ref] * 4}]
    too_deep = await api.post("/broadcasts", {**BROADCAST, "recipients": four_segments})
    assert too_deep.json()["errors"] == {"recipients": ["The recipients may not refer to segments more than 3 times."]}
    eleven_groups = await api.post("/broadcasts", {**BROADCAST, "recipients": [{"conditions": [not_a]}] * 11})
    assert eleven_groups.json()["errors"] == {"recipients": ["The recipients may not have more than 10 items."]}
