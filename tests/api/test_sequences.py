from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.models import SequenceEmail
from roost.sequence.service import DEFAULT_FOOTER
from tests.helpers import Api

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
SENDER = {"email": "john@beats.com", "name": "John", "company": "Beats", "address": "1 Main St"}


async def _sequence(api: Api, name: str = "Drip", **extra: Any) -> dict[str, Any]:
    return await api.created("/sequences", {"name": name, "sender": SENDER, **extra})


async def _emails(api: Api, sequence_id: int, **params: Any) -> list[dict[str, Any]]:
    response = await api.get(f"/sequences/{sequence_id}/emails", **params)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


# Sequences ----------------------------------------------------------------------


async def test_create_sequence_as_in_the_seed(api: Api) -> None:
    created = await api.created(
        "/sequences",
        {
            "name": "New Sequence",
            "description": "My new sequence",
            "sender": {
                "email": "john@beats.com",
                "name": "deserunt ex dolor proident",
                "company": "in",
                "address": "ut sit sint ",
            },
            "footer": "this is footer",
            "notification": "",
        },
    )
    assert list(created) == [
        "sequence_id",
        "name",
        "description",
        "sender",
        "footer",
        "notification",
        "active",
        "created_at",
    ]
    assert created["name"] == "New Sequence"
    assert created["description"] == "My new sequence"
    # The seed's create example: the address is trimmed, the footer gets what it lacks, "" means no notification.
    footer = 'this is footer <p>%sender.address%</p><p><a href="%unsubscribelink%">Unsubscribe here</a></p>'
    assert created["footer"] == footer
    assert created["sender"] == {
        "email": "john@beats.com",
        "name": "deserunt ex dolor proident",
        "company": "in",
        "address": "ut sit sint",
        "footer": footer,
    }
    assert created["notification"] is None
    assert created["active"] is True
    assert TIMESTAMP.match(created["created_at"])
    fetched = await api.get(f"/sequences/{created['sequence_id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created


COMPLETE_FOOTER = "<p>%sender.address%</p><a href='%unsubscribelink%'>Leave</a>"
UNSUBSCRIBE_PART = '<p><a href="%unsubscribelink%">Unsubscribe here</a></p>'


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (None, DEFAULT_FOOTER),
        ("   ", DEFAULT_FOOTER),
        (COMPLETE_FOOTER, COMPLETE_FOOTER),
        ("Bye %sender.address%", f"Bye %sender.address% {UNSUBSCRIBE_PART}"),
        ("%unsubscribelink%", "%unsubscribelink% <p>%sender.address%</p>"),
    ],
)
async def test_footer_always_carries_address_and_unsubscribe_link(api: Api, given: str | None, stored: str) -> None:
    created = await _sequence(api, **({} if given is None else {"footer": given}))
    assert created["footer"] == stored


async def test_footer_may_come_inside_sender(api: Api) -> None:
    created = await api.created(
        "/sequences", {"name": "S", "sender": {**SENDER, "footer": "%sender.address% %unsubscribelink%"}}
    )
    assert created["footer"] == "%sender.address% %unsubscribelink%"


async def test_patch_sequence_changes_only_what_is_given(api: Api) -> None:
    created = await _sequence(api, description="Old", notification="boss@example.com")
    path = f"/sequences/{created['sequence_id']}"
    patched = await api.patch(
        path,
        {
            "name": "Edit New Sequence",
            "description": "Edit My new sequence",
            "sender": {"email": "johndoe@birdsend.com", "address": "ut sit sint "},
        },
    )
    assert patched.status_code == 200
    body = patched.json()
    assert body["name"] == "Edit New Sequence"
    assert body["description"] == "Edit My new sequence"
    assert body["sender"] == {
        **SENDER,
        "email": "johndoe@birdsend.com",
        "address": "ut sit sint",
        "footer": DEFAULT_FOOTER,
    }
    assert body["notification"] == "boss@example.com"
    assert body["created_at"] == created["created_at"]

    paused = (await api.patch(path, {"active": False, "notification": None, "footer": "Thanks"})).json()
    assert paused["active"] is False
    assert paused["notification"] is None
    assert paused["footer"].startswith("Thanks <p>%sender.address%</p>")
    assert (await api.get(path)).json() == paused
    assert (await api.patch(path, {})).json() == paused


async def test_created_inactive_when_asked(api: Api) -> None:
    assert (await _sequence(api, active=False))["active"] is False


async def test_sequence_input_is_validated(api: Api) -> None:
    missing = await api.post("/sequences", {})
    assert missing.status_code == 422
    assert set(missing.json()["errors"]) == {"name", "sender"}
    sender = await api.post("/sequences", {"name": "S", "sender": {"email": "nope", "name": "", "company": 3}})
    assert set(sender.json()["errors"]) == {"sender.email", "sender.name", "sender.company", "sender.address"}
    notification = await api.post("/sequences", {"name": "S", "sender": SENDER, "notification": "not-an-email"})
    assert notification.json()["errors"] == {"notification": ["The notification must be a valid email address."]}
    huge = await api.post("/sequences", {"name": "S", "sender": SENDER, "footer": "x" * 70000})
    assert list(huge.json()["errors"]) == ["footer"]
    created = await _sequence(api)
    bad_patch = await api.patch(f"/sequences/{created['sequence_id']}", {"sender": {"address": ""}, "active": "maybe"})
    assert set(bad_patch.json()["errors"]) == {"sender.address", "active"}
    assert (await api.get("/sequences")).json()["meta"]["total"] == 1


async def test_a_null_company_or_footer_clears_it_as_for_broadcasts(api: Api) -> None:
    created = await _sequence(api, footer="%sender.address% %unsubscribelink%")
    cleared = await api.patch(f"/sequences/{created['sequence_id']}", {"sender": {"company": None}, "footer": None})
    assert cleared.json()["sender"]["company"] == ""
    assert cleared.json()["footer"] == DEFAULT_FOOTER


async def test_blank_required_text_is_missing(api: Api) -> None:
    blank = await api.post("/sequences", {"name": " ", "sender": {**SENDER, "name": "  ", "address": " \n "}})
    assert blank.json()["errors"] == {
        "name": ["The name field is required."],
        "sender.name": ["The sender.name field is required."],
        "sender.address": ["The sender.address field is required."],
    }
    sid = (await _sequence(api))["sequence_id"]
    email = await api.post(f"/sequences/{sid}/emails", {"subject": "   ", "body": " \n "})
    assert email.status_code == 422
    assert email.json()["errors"] == {
        "subject": ["The subject field is required."],
        "body": ["The body field is required."],
    }
    created = await api.created(f"/sequences/{sid}/emails", {"subject": " Hi ", "body": "<p>b</p> "})
    assert (created["subject"], created["body"]) == ("Hi", "<p>b</p> ")  # the body is kept as given
    path = f"/sequences/{sid}/emails/{created['email_id']}"
    assert list((await api.patch(path, {"body": " "})).json()["errors"]) == ["body"]
    assert (await api.get(path)).json() == created
    assert (await api.get("/sequences")).json()["meta"]["total"] == 1


async def test_sequence_list_searches_and_orders(api: Api) -> None:
    await _sequence(api, "Welcome")
    await _sequence(api, "Onboarding", active=False)
    await _sequence(api, "welcome back")

    async def names(**params: Any) -> list[str]:
        response = await api.get("/sequences", **params)
        assert response.status_code == 200, response.text
        return [s["name"] for s in response.json()["data"]]

    assert await names() == ["welcome back", "Onboarding", "Welcome"]
    assert await names(keyword="WELCOME") == ["welcome back", "Welcome"]
    assert await names(search_by="active", keyword="false") == ["Onboarding"]
    assert await names(search_by="active", keyword="1") == ["welcome back", "Welcome"]
    assert await names(search_by="active", keyword="perhaps") == []
    assert await names(order_by="name", sort="asc") == ["Onboarding", "Welcome", "welcome back"]
    assert await names(order_by="active", sort="asc") == ["Onboarding", "Welcome", "welcome back"]
    assert await names(order_by="created_at", sort="asc") == ["Welcome", "Onboarding", "welcome back"]
    assert (await api.get("/sequences", order_by="sender")).status_code == 422
    assert (await api.get("/sequences", search_by="description")).status_code == 422


async def test_deleting_a_sequence_removes_its_emails_and_members(api: Api) -> None:
    sequence = await _sequence(api)
    sid = sequence["sequence_id"]
    email = await api.created(f"/sequences/{sid}/emails", {"subject": "Hi", "body": "Hello"})
    contact = await api.created("/contacts", {"email": "member@example.com"})
    await api.created(f"/contacts/{contact['contact_id']}/sequences", {"sequence_id": sid})
    form = await api.created("/forms", {"name": "F", "sequence_id": sid})

    assert (await api.delete(f"/sequences/{sid}")).status_code == 204
    assert (await api.get(f"/sequences/{sid}")).status_code == 404
    assert (await api.get(f"/sequences/{sid}/emails")).status_code == 404
    assert (await api.get(f"/sequences/{sid}/emails/{email['email_id']}")).status_code == 404
    assert (await api.delete(f"/sequences/{sid}")).status_code == 404
    assert (await api.get(f"/contacts/{contact['contact_id']}")).json()["sequences"] == []
    assert (await api.get(f"/forms/{form['form_id']}")).json()["sequence_id"] is None


# Sequence emails ----------------------------------------------------------------


async def test_create_sequence_email_as_in_the_seed(api: Api) -> None:
    sid = (await _sequence(api))["sequence_id"]
    await api.created(f"/sequences/{sid}/emails", {"subject": "First", "body": "<p>1</p>"})
    created = await api.created(
        f"/sequences/{sid}/emails",
        {
            "subject": "Create new email",
            "body": "<p>Hi %contact.first_name%</p>ipsum do quis officia",
            "schedule": {"delay": 1, "type": "hour"},
            "active": False,
        },
    )
    assert created == {
        "email_id": created["email_id"],
        "sequence_id": sid,
        "subject": "Create new email",
        "body": "<p>Hi %contact.first_name%</p>ipsum do quis officia",
        "schedule": {"delay": 1, "type": "hour"},
        "stats": {"sent": 0, "opens": 0, "clicks": 0, "ltv": 0, "bounces": 0, "spams": 0, "unsubscribes": 0},
        "order": 2,
        "active": False,
    }
    assert list(created) == ["email_id", "sequence_id", "subject", "body", "schedule", "stats", "order", "active"]
    path = f"/sequences/{sid}/emails/{created['email_id']}"
    assert (await api.get(path)).json() == created

    edited = await api.patch(path, {"subject": "Edit new email", "body": "<p>Hi %contact.first_name%</p>Edit "})
    assert edited.status_code == 200
    assert edited.json() == {**created, "subject": "Edit new email", "body": "<p>Hi %contact.first_name%</p>Edit "}

    default = await api.created(f"/sequences/{sid}/emails", {"subject": "No schedule", "body": "b"})
    assert default["schedule"] == {"delay": 0, "type": "day"}
    assert default["active"] is True


async def test_order_stays_contiguous_when_moving_and_deleting(api: Api) -> None:
    sid = (await _sequence(api))["sequence_id"]
    ids = [
        (await api.created(f"/sequences/{sid}/emails", {"subject": f"E{n}", "body": "b"}))["email_id"]
        for n in range(1, 5)
    ]

    async def subjects() -> list[tuple[str, int]]:
        return [(e["subject"], e["order"]) for e in await _emails(api, sid)]

    assert await subjects() == [("E1", 1), ("E2", 2), ("E3", 3), ("E4", 4)]
    moved = await api.patch(f"/sequences/{sid}/emails/{ids[3]}", {"order": 1})
    assert moved.json()["order"] == 1
    assert await subjects() == [("E4", 1), ("E1", 2), ("E2", 3), ("E3", 4)]
    await api.patch(f"/sequences/{sid}/emails/{ids[3]}", {"order": 3})
    assert await subjects() == [("E1", 1), ("E2", 2), ("E4", 3), ("E3", 4)]
    past_the_end = await api.patch(f"/sequences/{sid}/emails/{ids[0]}", {"order": 1000})
    assert past_the_end.json()["order"] == 4
    assert await subjects() == [("E2", 1), ("E4", 2), ("E3", 3), ("E1", 4)]

    assert (await api.delete(f"/sequences/{sid}/emails/{ids[3]}")).status_code == 204
    assert await subjects() == [("E2", 1), ("E3", 2), ("E1", 3)]
    assert (await api.delete(f"/sequences/{sid}/emails/{ids[3]}")).status_code == 404
    added = await api.created(f"/sequences/{sid}/emails", {"subject": "E5", "body": "b"})
    assert added["order"] == 4


async def test_email_list_orders_and_searches(api: Api) -> None:
    sid = (await _sequence(api))["sequence_id"]
    for subject, active in (("Welcome", True), ("About us", False), ("Offer", True)):
        await api.created(f"/sequences/{sid}/emails", {"subject": subject, "body": "b", "active": active})

    async def subjects(**params: Any) -> list[str]:
        return [e["subject"] for e in await _emails(api, sid, **params)]

    assert await subjects() == ["Welcome", "About us", "Offer"]  # by order (CONVENTIONS §6)
    assert await subjects(sort="desc") == ["Offer", "About us", "Welcome"]
    assert await subjects(order_by="subject") == ["About us", "Offer", "Welcome"]
    assert await subjects(order_by="active", sort="asc") == ["About us", "Welcome", "Offer"]
    assert await subjects(keyword="O") == ["Welcome", "About us", "Offer"]
    assert await subjects(keyword="off") == ["Offer"]
    assert await subjects(search_by="active", keyword="inactive") == ["About us"]
    assert await subjects(search_by="active", keyword="TRUE") == ["Welcome", "Offer"]
    page = (await api.get(f"/sequences/{sid}/emails", per_page=2, page=2)).json()
    assert [e["order"] for e in page["data"]] == [3]
    assert page["meta"]["total"] == 3
    assert (await api.get(f"/sequences/{sid}/emails", order_by="created_at")).status_code == 422
    assert (await api.get(f"/sequences/{sid}/emails", search_by="body")).status_code == 422


async def test_an_email_belongs_to_its_sequence(api: Api) -> None:
    one = (await _sequence(api, "One"))["sequence_id"]
    two = (await _sequence(api, "Two"))["sequence_id"]
    email = await api.created(f"/sequences/{one}/emails", {"subject": "S", "body": "b"})
    wrong = f"/sequences/{two}/emails/{email['email_id']}"
    assert (await api.get(wrong)).status_code == 404
    assert (await api.patch(wrong, {"subject": "hijack"})).status_code == 404
    assert (await api.delete(wrong)).status_code == 404
    assert (await api.post("/sequences/999999999/emails", {"subject": "S", "body": "b"})).status_code == 404
    assert (await api.get(f"/sequences/{one}/emails/{email['email_id']}")).json()["subject"] == "S"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"schedule": {"delay": -1, "type": "day"}}, "schedule.delay"),
        ({"schedule": {"delay": 10**30, "type": "day"}}, "schedule.delay"),
        ({"schedule": {"delay": 3651, "type": "day"}}, "schedule.delay"),
        ({"schedule": {"delay": 522, "type": "week"}}, "schedule.delay"),
        ({"schedule": {"delay": 1.5, "type": "day"}}, "schedule.delay"),
        ({"schedule": {"delay": "1", "type": "day"}}, "schedule.delay"),
        ({"schedule": {"delay": 1, "type": "month"}}, "schedule.type"),
        ({"schedule": {"delay": 1}}, "schedule.type"),
        ({"schedule": "tomorrow"}, "schedule"),
        ({"subject": ""}, "subject"),
        ({"subject": "x" * 999}, "subject"),
        ({"active": "sometimes"}, "active"),
    ],
)
async def test_email_input_is_validated(api: Api, body: dict[str, Any], field: str) -> None:
    sid = (await _sequence(api))["sequence_id"]
    response = await api.post(f"/sequences/{sid}/emails", {"subject": "S", "body": "b", **body})
    assert response.status_code == 422, response.text
    assert list(response.json()["errors"]) == [field]
    assert await _emails(api, sid) == []


async def test_ten_years_a_step_is_the_longest_delay(api: Api) -> None:
    sid = (await _sequence(api))["sequence_id"]
    schedule = {"delay": 3650, "type": "day"}
    longest = await api.created(f"/sequences/{sid}/emails", {"subject": "S", "body": "b", "schedule": schedule})
    path = f"/sequences/{sid}/emails/{longest['email_id']}"
    # Changing only the unit re-checks the bound against the stored delay.
    too_long = await api.patch(path, {"schedule": {"type": "week"}})
    assert too_long.json()["errors"] == {
        "schedule.delay": ["The schedule.delay may not be greater than 521 when the type is week."]
    }
    assert (await api.patch(path, {"schedule": {"type": "hour"}})).json()["schedule"] == {"delay": 3650, "type": "hour"}


@pytest.mark.parametrize("order", [0, -3, "first", 1.5, 2**40])
async def test_bad_order_is_refused(api: Api, order: object) -> None:
    sid = (await _sequence(api))["sequence_id"]
    email = await api.created(f"/sequences/{sid}/emails", {"subject": "S", "body": "b"})
    response = await api.patch(f"/sequences/{sid}/emails/{email['email_id']}", {"order": order, "subject": "new"})
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["order"]
    assert (await _emails(api, sid))[0]["subject"] == "S"


@pytest.mark.parametrize(
    ("sent", "value", "ltv"),
    [(0, "0", 0), (2, "10.00", 5), (3, "10.00", 3.33), (4, "0.10", 0.03), (2, "0.25", 0.13)],
)
async def test_ltv_is_conversion_value_per_email_sent(
    api: Api, sessionmaker: async_sessionmaker[AsyncSession], sent: int, value: str, ltv: float
) -> None:
    sid = (await _sequence(api))["sequence_id"]
    email = await api.created(f"/sequences/{sid}/emails", {"subject": "S", "body": "b"})
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(SequenceEmail)
            .where(SequenceEmail.id == email["email_id"])
            .values(sent=sent, opens=1, clicks=1, conversion_value=Decimal(value))
        )
    stats = (await api.get(f"/sequences/{sid}/emails/{email['email_id']}")).json()["stats"]
    assert stats["ltv"] == ltv
    assert type(stats["ltv"]) is type(ltv)
    assert stats["sent"] == sent
    assert stats["opens"] == 1


@pytest.mark.parametrize("bad_id", ["abc", "0", "-3", str(2**64)])
async def test_malformed_sequence_ids_answer_404(api: Api, bad_id: str) -> None:
    sid = (await _sequence(api))["sequence_id"]
    for path in (f"/sequences/{bad_id}", f"/sequences/{bad_id}/emails", f"/sequences/{sid}/emails/{bad_id}"):
        response = await api.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"message": "Not Found."}
    assert (await api.patch(f"/sequences/{bad_id}", {"name": "x"})).status_code == 404
