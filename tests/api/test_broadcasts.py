"""Broadcasts (seed 001 examples, CONVENTIONS §7)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from roost.models import Broadcast
from tests.api.rows import Sessions, add_sequence, set_broadcast
from tests.conftest import MakeAccount
from tests.helpers import Api

BODY = "<p>Hello,</p><p>This is my <strong>first email</strong>broadcast</p><p>Talk soon,<br>John Doe</p>"
SENDER = {
    "email": "johndoe@example.com",
    "name": "John Doe",
    "address": "3566 Linda Street, Philadelphia, PA 19103, USA",
}
STAMP = "%Y-%m-%d %H:%M:%S"


def _broadcast(**overrides: Any) -> dict[str, Any]:
    return {"name": "New Broadcast", "email": {"subject": "Hi", "body": BODY}, "sender": SENDER, **overrides}


def _stamp(moment: datetime) -> str:
    return moment.strftime(STAMP)


def _parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, STAMP).replace(tzinfo=UTC)


def _future(days: int = 3) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


async def test_create_follows_the_seed_example(api: Api) -> None:
    tag = await api.created("/tags", {"name": "Buyers"})
    sequence_id = await add_sequence(api)
    before = datetime.now(UTC).replace(microsecond=0)
    created = await api.created(
        "/broadcasts",
        {
            "name": "New Broadcast",
            "email": {"subject": "Don't forget to open this at night", "body": BODY},
            "immediate": True,
            "footer": "<p>Connect with me on social sites</p>",
            "recipients": [
                {
                    "match": "all",
                    "conditions": [
                        {"type": "tag", "operator": "equal", "value": tag["tag_id"]},
                        {"type": "sequence", "value": sequence_id},
                    ],
                }
            ],
            "sender": SENDER,
        },
    )
    assert set(created) == {
        "broadcast_id", "name", "email", "immediate", "stats", "schedule", "footer", "recipients", "sender",
        "status", "sent_at", "created_at",
    }  # fmt: skip
    assert created["email"] == {"subject": "Don't forget to open this at night", "body": BODY}
    assert created["immediate"] is True
    assert created["status"] == "scheduled"
    assert before <= _parse(created["schedule"]) <= datetime.now(UTC)
    assert created["stats"] == {
        "altv": 0, "clicks": 0, "spams": 0, "bounces": 0, "sent": 0, "opens": 0, "unsubscribes": 0,
    }  # fmt: skip
    assert created["footer"] == "<p>Connect with me on social sites</p>"
    assert created["recipients"] == [
        {
            "match": "all",
            "conditions": [
                {"type": "tag", "operator": "equal", "value": tag["tag_id"]},
                {"type": "sequence", "operator": "equal", "value": sequence_id},
            ],
        }
    ]
    assert created["sender"] == {**SENDER, "company": ""}
    assert created["sent_at"] is None
    fetched = await api.get(f"/broadcasts/{created['broadcast_id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created


async def test_without_a_time_it_is_a_draft(api: Api) -> None:
    created = await api.created("/broadcasts", _broadcast())
    assert created["status"] == "draft"
    assert created["schedule"] is None
    assert created["immediate"] is False
    assert created["recipients"] == []


async def test_flat_schedule_is_utc(make_account: MakeAccount, client: Any) -> None:
    api = Api(client, await make_account(timezone="America/New_York"))
    at = _future()
    created = await api.created("/broadcasts", _broadcast(immediate=False, schedule=_stamp(at)))
    assert created["status"] == "scheduled"
    assert created["schedule"] == _stamp(at)


async def test_field_list_form_reads_the_time_in_its_timezone(make_account: MakeAccount, client: Any) -> None:
    api = Api(client, await make_account(timezone="America/New_York"))
    year = datetime.now(UTC).year + 1
    paris = await api.created(
        "/broadcasts",
        {
            "name": "Field list",
            "email": {"subject": "Hi", "body": BODY},
            "sender": {**SENDER, "company": "Whatever, inc.", "footer": "<p>Sender footer</p>"},
            "schedule": {"type": "scheduled", "datetime": f"{year}-01-15 09:30:00", "timezone": "Europe/Paris"},
        },
    )
    assert paris["schedule"] == f"{year}-01-15 08:30:00"
    assert paris["footer"] == "<p>Sender footer</p>"
    assert paris["sender"]["company"] == "Whatever, inc."
    # Without a timezone, the account's (New York, UTC-5 in January).
    local = await api.created(
        "/broadcasts", _broadcast(schedule={"type": "scheduled", "datetime": f"{year}-01-15 09:30"})
    )
    assert local["schedule"] == f"{year}-01-15 14:30:00"
    # Without a type, a datetime means scheduled; an offset is honoured.
    offset = await api.created("/broadcasts", _broadcast(schedule={"datetime": f"{year}-07-01T12:00:00+02:00"}))
    assert (offset["status"], offset["schedule"]) == ("scheduled", f"{year}-07-01 10:00:00")
    now = await api.created("/broadcasts", _broadcast(schedule={"type": "immediate"}))
    assert (now["status"], now["immediate"]) == ("scheduled", True)
    top_level_wins = await api.created(
        "/broadcasts", _broadcast(footer="<p>Top</p>", sender={**SENDER, "footer": "<p>Sender</p>"})
    )
    assert top_level_wins["footer"] == "<p>Top</p>"


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"schedule": "2001-01-01 00:00:00"}, ["schedule"]),
        ({"schedule": {"type": "scheduled", "datetime": "2001-01-01 00:00:00", "timezone": "UTC"}}, ["schedule"]),
        (
            {"schedule": {"type": "scheduled", "datetime": "2999-01-01 00:00:00", "timezone": "Mars/Olympus"}},
            ["schedule.timezone"],
        ),
        ({"schedule": {"type": "scheduled", "timezone": "UTC"}}, ["schedule.datetime"]),
        ({"schedule": {"type": "later"}}, ["schedule.type"]),
        ({"schedule": "not a date"}, ["schedule.datetime"]),
        ({"schedule": 12}, ["schedule"]),
        ({"immediate": "soon"}, ["immediate"]),
    ],
)
async def test_bad_schedules_are_422(api: Api, changes: dict[str, Any], errors: list[str]) -> None:
    response = await api.post("/broadcasts", _broadcast(**changes))
    assert response.status_code == 422, response.text
    assert list(response.json()["errors"]) == errors
    assert (await api.get("/broadcasts")).json()["meta"]["total"] == 0


async def test_a_past_schedule_is_fine_when_immediate(api: Api) -> None:
    created = await api.created("/broadcasts", _broadcast(immediate=True, schedule="2001-01-01 00:00:00"))
    assert created["status"] == "scheduled"
    assert _parse(created["schedule"]) > datetime(2020, 1, 1, tzinfo=UTC)


async def test_required_fields(api: Api) -> None:
    empty = await api.post("/broadcasts", {})
    assert set(empty.json()["errors"]) == {"name", "email", "sender"}
    parts = await api.post("/broadcasts", {"name": "x", "email": {}, "sender": {"company": "c"}})
    assert parts.status_code == 422
    assert set(parts.json()["errors"]) == {
        "email.subject", "email.body", "sender.email", "sender.name", "sender.address",
    }  # fmt: skip
    bad_email = await api.post("/broadcasts", _broadcast(sender={**SENDER, "email": "nope"}))
    assert list(bad_email.json()["errors"]) == ["sender.email"]
    assert (await api.get("/broadcasts")).json()["meta"]["total"] == 0


async def test_blank_required_text_is_missing(api: Api) -> None:
    blank = await api.post(
        "/broadcasts",
        _broadcast(email={"subject": "   ", "body": " \n "}, sender={**SENDER, "name": " ", "address": "  "}),
    )
    assert blank.status_code == 422
    assert blank.json()["errors"] == {
        "email.subject": ["The email.subject field is required."],
        "email.body": ["The email.body field is required."],
        "sender.name": ["The sender.name field is required."],
        "sender.address": ["The sender.address field is required."],
    }
    created = await api.created(
        "/broadcasts", _broadcast(email={"subject": " Hi ", "body": BODY}, sender={**SENDER, "address": " 1 Main St "})
    )
    assert (created["email"]["subject"], created["sender"]["address"]) == ("Hi", "1 Main St")
    path = f"/broadcasts/{created['broadcast_id']}"
    patched = await api.patch(path, {"email": {"subject": " ", "body": " "}, "sender": {"address": " "}})
    assert set(patched.json()["errors"]) == {"email.subject", "email.body", "sender.address"}
    assert (await api.get(path)).json() == created
    assert (await api.get("/broadcasts")).json()["meta"]["total"] == 1


async def test_patch_changes_only_what_is_given(api: Api) -> None:
    created = await api.created("/broadcasts", _broadcast(footer="<p>f</p>", sender={**SENDER, "company": "Co"}))
    bid = created["broadcast_id"]
    renamed = await api.patch(f"/broadcasts/{bid}", {"name": "My Broadcast", "email": {"subject": "New"}})
    assert renamed.status_code == 200
    body = renamed.json()
    assert body["name"] == "My Broadcast"
    assert body["email"] == {"subject": "New", "body": BODY}
    assert body["sender"] == created["sender"]
    assert body["footer"] == "<p>f</p>"
    assert body["status"] == "draft"
    moved = await api.patch(f"/broadcasts/{bid}", {"sender": {"name": "Jane"}, "footer": None})
    assert moved.json()["sender"] == {**created["sender"], "name": "Jane"}
    assert moved.json()["footer"] == ""
    assert (await api.patch(f"/broadcasts/{bid}", {"name": ""})).status_code == 422
    assert (await api.get(f"/broadcasts/{bid}")).json()["name"] == "My Broadcast"


async def test_patch_schedules_and_unschedules(api: Api) -> None:
    bid = (await api.created("/broadcasts", _broadcast()))["broadcast_id"]
    at = _stamp(_future())
    # The seed's PATCH example: immediate false with a flat schedule.
    scheduled = (await api.patch(f"/broadcasts/{bid}", {"immediate": False, "schedule": at})).json()
    assert (scheduled["status"], scheduled["schedule"], scheduled["immediate"]) == ("scheduled", at, False)
    kept = (await api.patch(f"/broadcasts/{bid}", {"immediate": False, "name": "Still"})).json()
    assert (kept["status"], kept["schedule"]) == ("scheduled", at)
    unscheduled = (await api.patch(f"/broadcasts/{bid}", {"schedule": None})).json()
    assert (unscheduled["status"], unscheduled["schedule"]) == ("draft", None)
    now = (await api.patch(f"/broadcasts/{bid}", {"immediate": True})).json()
    assert (now["status"], now["immediate"]) == ("scheduled", True)
    back = (await api.patch(f"/broadcasts/{bid}", {"immediate": False})).json()
    assert (back["status"], back["schedule"], back["immediate"]) == ("draft", None, False)


@pytest.mark.parametrize("status", ["sending", "sent"])
async def test_sending_or_sent_cannot_be_edited_but_can_be_deleted(
    api: Api, sessionmaker: Sessions, status: str
) -> None:
    bid = (await api.created("/broadcasts", _broadcast(immediate=True)))["broadcast_id"]
    await set_broadcast(sessionmaker, bid, status=status)
    response = await api.patch(f"/broadcasts/{bid}", {"name": "Too late"})
    assert response.status_code == 422
    assert response.json()["errors"] == {
        "status": [f"The broadcast is {status}: a broadcast that is sending or sent can no longer be edited."]
    }
    assert (await api.get(f"/broadcasts/{bid}")).json()["name"] == "New Broadcast"
    assert (await api.post(f"/broadcasts/{bid}/cancel")).status_code == 422
    assert (await api.delete(f"/broadcasts/{bid}")).status_code == 204
    assert (await api.get(f"/broadcasts/{bid}")).status_code == 404


@pytest.mark.parametrize(
    ("method", "suffix", "body"), [("post", "/cancel", None), ("patch", "", {"schedule": _stamp(_future())})]
)
async def test_a_change_waits_for_delivery_starting_the_broadcast_and_then_sees_it_sending(
    api: Api, sessionmaker: Sessions, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    bid = (await api.created("/broadcasts", _broadcast(immediate=True)))["broadcast_id"]
    async with sessionmaker() as delivery:
        if delivery.get_bind().dialect.name != "postgresql":
            pytest.skip("SQLite runs one writer at a time: there is no row lock to wait for")
        async with delivery.begin():
            # What the delivery engine does when the broadcast is due: lock the row, mark it sending.
            row = await delivery.scalar(select(Broadcast).where(Broadcast.id == bid).with_for_update())
            assert row is not None
            row.status = "sending"
            await delivery.flush()
            change = asyncio.create_task(getattr(api, method)(f"/broadcasts/{bid}{suffix}", body))
            await asyncio.sleep(0.3)
            assert not change.done()
    response = await change
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["status"]
    assert (await api.get(f"/broadcasts/{bid}")).json()["status"] == "sending"


async def test_cancel_only_a_scheduled_broadcast(api: Api) -> None:
    draft = await api.created("/broadcasts", _broadcast())
    refused = await api.post(f"/broadcasts/{draft['broadcast_id']}/cancel")
    assert refused.status_code == 422
    assert refused.json()["errors"] == {
        "status": ["The broadcast is draft: only a scheduled broadcast can be cancelled."]
    }
    scheduled = await api.created("/broadcasts", _broadcast(schedule=_stamp(_future())))
    cancelled = await api.post(f"/broadcasts/{scheduled['broadcast_id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert (await api.post(f"/broadcasts/{scheduled['broadcast_id']}/cancel")).status_code == 422
    # A cancelled broadcast can be given a new time.
    again = await api.patch(f"/broadcasts/{scheduled['broadcast_id']}", {"schedule": _stamp(_future(5))})
    assert again.json()["status"] == "scheduled"


async def test_stats_come_from_the_counters(api: Api, sessionmaker: Sessions) -> None:
    bid = (await api.created("/broadcasts", _broadcast()))["broadcast_id"]
    await set_broadcast(
        sessionmaker, bid, status="sent", sent=100, opens=20, clicks=12, bounces=2, unsubscribes=2,
        conversion_value=Decimal("250.00"), sent_at=datetime(2030, 5, 11, 22, tzinfo=UTC),
    )  # fmt: skip
    body = (await api.get(f"/broadcasts/{bid}")).json()
    assert body["stats"] == {
        "altv": 2.5, "clicks": 12, "spams": 0, "bounces": 2, "sent": 100, "opens": 20, "unsubscribes": 2,
    }  # fmt: skip
    assert body["sent_at"] == "2030-05-11 22:00:00"


@pytest.mark.parametrize(("sent", "value", "altv"), [(2, "0.25", 0.13), (3, "10.00", 3.33), (2, "10.00", 5)])
async def test_altv_is_per_email_sent_to_the_cent_as_a_sequence_emails_ltv(
    api: Api, sessionmaker: Sessions, sent: int, value: str, altv: float
) -> None:
    bid = (await api.created("/broadcasts", _broadcast()))["broadcast_id"]
    await set_broadcast(sessionmaker, bid, status="sent", sent=sent, conversion_value=Decimal(value))
    stats = (await api.get(f"/broadcasts/{bid}")).json()["stats"]
    assert stats["altv"] == altv
    assert type(stats["altv"]) is type(altv)


async def test_list_searches_and_orders(api: Api) -> None:
    for name in ("Spring sale", "autumn news", "Summer sale"):
        await api.created("/broadcasts", _broadcast(name=name))
    await api.created("/broadcasts", _broadcast(name="Winter", immediate=True))
    newest = (await api.get("/broadcasts")).json()
    assert [b["name"] for b in newest["data"]] == ["Winter", "Summer sale", "autumn news", "Spring sale"]
    by_name = (await api.get("/broadcasts", order_by="name", sort="asc")).json()
    assert [b["name"] for b in by_name["data"]] == ["autumn news", "Spring sale", "Summer sale", "Winter"]
    sales = (await api.get("/broadcasts", keyword="SALE")).json()
    assert sorted(b["name"] for b in sales["data"]) == ["Spring sale", "Summer sale"]
    scheduled = (await api.get("/broadcasts", search_by="status", keyword="scheduled")).json()
    assert [b["name"] for b in scheduled["data"]] == ["Winter"]
    oldest = (await api.get("/broadcasts", order_by="created_at", sort="asc", per_page=1)).json()
    assert oldest["meta"]["total"] == 4
    assert (await api.get("/broadcasts", order_by="subject")).status_code == 422


async def test_recipient_references_must_exist_in_the_account(api: Api, other_api: Api) -> None:
    mine = await api.created("/tags", {"name": "Mine"})
    theirs = await other_api.created("/tags", {"name": "Theirs"})
    their_sequence = await add_sequence(other_api)
    response = await api.post(
        "/broadcasts",
        _broadcast(
            recipients=[
                {"match": "any", "conditions": [{"type": "tag", "value": mine["tag_id"]}]},
                {
                    "match": "exclude",
                    "conditions": [
                        {"type": "tag", "value": "mine"},
                        {"type": "tag", "value": theirs["tag_id"]},
                        {"type": "sequence", "value": their_sequence},
                        {"type": "segment", "value": 999_999_999},
                        {"type": "tag", "value": "No such tag"},
                    ],
                },
            ]
        ),
    )
    assert response.status_code == 422
    assert response.json()["errors"] == {
        f"recipients.1.conditions.{n}.value": [f"The selected recipients.1.conditions.{n}.value is invalid."]
        for n in (1, 2, 3, 4)
    }
    assert (await api.get("/broadcasts")).json()["meta"]["total"] == 0


async def test_a_tag_may_be_named_and_is_stored_by_id(api: Api) -> None:
    tag = await api.created("/tags", {"name": "VIP"})
    created = await api.created(
        "/broadcasts",
        _broadcast(recipients=[{"conditions": [{"type": "tag", "operator": "not_equal", "value": "vip"}]}]),
    )
    assert created["recipients"] == [
        {"match": "any", "conditions": [{"type": "tag", "operator": "not_equal", "value": tag["tag_id"]}]}
    ]


@pytest.mark.parametrize(
    ("recipients", "path"),
    [
        ([{"match": "some", "conditions": [{"type": "tag", "value": 1}]}], "recipients.0.match"),
        ([{"match": "any", "conditions": []}], "recipients.0.conditions"),
        ([{"match": "any", "conditions": [{"type": "list", "value": 1}]}], "recipients.0.conditions.0.type"),
        ([{"conditions": [{"type": "tag", "operator": "is", "value": 1}]}], "recipients.0.conditions.0.operator"),
        ([{"conditions": [{"type": "tag", "value": 2**64}]}], "recipients.0.conditions.0.value"),
        ([{"conditions": [{"type": "tag", "value": True}]}], "recipients.0.conditions.0.value"),
        ([{"conditions": [{"type": "tag", "value": "x" * 300}]}], "recipients.0.conditions.0.value"),
        (
            [{"conditions": [{"type": "sequence", "value": "99999999999999999999999"}]}],
            "recipients.0.conditions.0.value",
        ),
        ("everyone", "recipients"),
    ],
)
async def test_malformed_recipients_are_422(api: Api, recipients: Any, path: str) -> None:
    response = await api.post("/broadcasts", _broadcast(recipients=recipients))
    assert response.status_code == 422, response.text
    assert list(response.json()["errors"]) == [path]
