"""Webhooks delivered to a real HTTP receiver: signed, retried, in order per contact, exactly the events asked for."""

from __future__ import annotations

import asyncio
import socket
from collections import defaultdict
from datetime import timedelta

import pytest
from standardwebhooks import WebhookVerificationError

from tests.helpers import eventually, running
from tests.webhooks.conftest import Hooks
from tests.webhooks.receiver import Received, Receiver, Reply


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_a_receiver_down_then_up_gets_every_event_in_order_per_contact(hooks: Hooks) -> None:
    receiver = Receiver(port=_free_port())  # not listening yet: connections are refused
    hook = await hooks.create(receiver.url)
    expected: dict[int, list[str]] = {}
    for n in range(3):
        contact = (await hooks.api.created("/contacts", {"email": f"ada{n}@example.com"}))["contact_id"]
        await hooks.api.post(f"/contacts/{contact}/tags", {"tags": ["Lead"]})
        await hooks.api.patch(f"/contacts/{contact}", {"fields": {"first_name": f"Ada {n}"}})
        await hooks.api.created(f"/contacts/{contact}/notes", {"body": "called"})
        tag_id = (await hooks.api.get(f"/contacts/{contact}")).json()["tags"][0]["tag_id"]
        await hooks.api.delete(f"/contacts/{contact}/tags/{tag_id}")
        expected[contact] = ["contact.created", "tag.applied", "contact.updated", "note.created", "tag.removed"]
    total = sum(len(types) for types in expected.values())

    unavailable = 0

    def flaky(request: Received) -> Reply:
        nonlocal unavailable
        if unavailable < 6:  # up, but overloaded for a while
            unavailable += 1
            return Reply(503)
        return Reply(200)

    receiver.reply = flaky
    schedule = (timedelta(seconds=0.05), timedelta(seconds=0.1), *(timedelta(seconds=0.2),) * 40)
    async with running(hooks.dispatcher, hooks.sender(schedule=schedule, poll_interval=0.02)):

        async def refused_a_while() -> bool:
            return len(await hooks.deliveries(hook["webhook_id"])) >= 6

        await eventually(refused_a_while)  # every attempt so far found nobody listening
        assert receiver.received == []
        await receiver.start()
        await eventually(lambda: len(receiver.delivered()) >= total)
    try:
        assert unavailable == 6
        received: dict[int, list[str]] = defaultdict(list)
        bodies: dict[str, bytes] = {}
        for request in receiver.received:
            payload = request.verify(hook["secret"])
            # The same webhook-id always carries the same body: a retry is the same message.
            assert bodies.setdefault(request.webhook_id, request.body) == request.body
            assert request.webhook_id.startswith("msg_")
            if request.status == 200:
                received[payload["data"]["contact_id"]].append(payload["type"])
        assert dict(received) == expected  # each exactly once, in the order it happened per contact
        assert len(bodies) == total
        log = await hooks.deliveries(hook["webhook_id"])
        assert {entry["status"] for entry in log} == {"succeeded", "failed"}
        assert sum(entry["status"] == "succeeded" for entry in log) == total
        refused = [entry for entry in log if entry["status_code"] is None]
        assert refused
        assert all(entry["error"] for entry in refused)
        assert {entry["status_code"] for entry in log} == {None, 503, 200}
        assert all(entry["message"]["status"] == "delivered" for entry in log)
    finally:
        await receiver.stop()


async def test_payload_is_type_timestamp_and_data_with_a_snapshot_of_the_contact(
    hooks: Hooks, receiver: Receiver
) -> None:
    hook = await hooks.create(receiver.url, ["tag.applied"])
    contact = (await hooks.api.created("/contacts", {"email": "ada@example.com", "fields": {"first_name": "Ada"}}))[
        "contact_id"
    ]
    await hooks.api.post(f"/contacts/{contact}/tags", {"tags": ["Lead"]})
    await hooks.settle()
    assert await hooks.send() == 1
    [request] = receiver.received
    assert request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    payload = request.verify(hook["secret"])
    assert payload["type"] == "tag.applied"
    assert payload["timestamp"].endswith("Z")
    data = payload["data"]
    assert data["tag"] == "Lead"
    assert isinstance(data["tag_id"], int)
    assert data["contact_id"] == contact
    assert data["contact"] == {
        "contact_id": contact,
        "email": "ada@example.com",
        "status": "active",
        "fields": {"first_name": "Ada", "last_name": None},
    }
    [entry] = await hooks.deliveries(hook["webhook_id"])
    assert entry["status"] == "succeeded"
    assert entry["status_code"] == 200
    assert entry["response"] == "ok"
    assert entry["attempt"] == 1
    assert entry["trigger"] == "scheduled"
    assert entry["latency_ms"] >= 0
    assert entry["message"]["message_id"] == request.webhook_id
    assert entry["message"]["type"] == "tag.applied"
    assert entry["message"]["status"] == "delivered"


async def test_gone_switches_the_webhook_off_and_switching_it_on_resumes(hooks: Hooks, receiver: Receiver) -> None:
    receiver.reply = lambda _: Reply(410)
    hook = await hooks.create(receiver.url)
    await hooks.api.created("/contacts", {"email": "ada@example.com"})
    await hooks.settle()
    await hooks.send()
    found = await hooks.webhook(hook["webhook_id"])
    assert found["active"] is False
    assert "410" in found["disabled_reason"]
    [entry] = await hooks.deliveries(hook["webhook_id"])
    assert entry["status_code"] == 410
    assert entry["message"]["status"] == "pending"

    # Switched off: nothing is attempted, and what happens meanwhile is not sent.
    await hooks.api.created("/contacts", {"email": "bob@example.com"})
    await hooks.settle()
    await hooks.send(passes=2)
    assert len(receiver.received) == 1

    receiver.reply = lambda _: Reply(204)
    switched = await hooks.api.patch(f"/webhooks/{hook['webhook_id']}", {"active": True})
    assert switched.json()["active"] is True
    assert switched.json()["disabled_reason"] is None
    await hooks.send()
    assert [request.status for request in receiver.received] == [410, 204]
    assert receiver.received[0].webhook_id == receiver.received[1].webhook_id
    assert receiver.received[1].payload["data"]["contact"]["email"] == "ada@example.com"


async def test_retry_after_is_honoured(hooks: Hooks, receiver: Receiver) -> None:
    receiver.reply = lambda _: Reply(503, {"Retry-After": "1"}) if len(receiver.received) < 1 else Reply(200)
    hook = await hooks.create(receiver.url)
    await hooks.api.created("/contacts", {"email": "ada@example.com"})
    await hooks.settle()
    async with running(hooks.sender(poll_interval=0.02)):  # the schedule alone would retry after 50 ms
        await eventually(lambda: len(receiver.delivered()) == 1)
    first, second = receiver.received
    assert second.at - first.at >= 0.95
    assert first.webhook_id == second.webhook_id
    assert [entry["status_code"] for entry in await hooks.deliveries(hook["webhook_id"])] == [200, 503]


async def test_retries_end_in_failed_and_other_errors_are_retried(hooks: Hooks, receiver: Receiver) -> None:
    answers = iter([Reply(500), Reply(302, {"Location": "http://127.0.0.1:1/"}), Reply(404), Reply(429)])
    receiver.reply = lambda _: next(answers)
    hook = await hooks.create(receiver.url)
    await hooks.api.created("/contacts", {"email": "ada@example.com"})
    await hooks.settle()
    schedule = (timedelta(0),) * 3
    sender = hooks.sender(schedule=schedule)
    assert await hooks.send(sender, passes=5) == 4  # the first attempt and three retries, then no more
    log = await hooks.deliveries(hook["webhook_id"])
    assert [entry["status_code"] for entry in log] == [429, 404, 302, 500]  # newest first; the redirect not followed
    assert [entry["attempt"] for entry in log] == [4, 3, 2, 1]
    assert log[0]["message"]["status"] == "failed"
    assert log[0]["message"]["next_attempt_at"] is None
    assert len(receiver.received) == 4


async def test_a_destination_that_became_private_is_refused_at_delivery(hooks: Hooks, receiver: Receiver) -> None:
    hook = await hooks.create(receiver.url)  # the API here allows private addresses; the sender does not
    await hooks.api.created("/contacts", {"email": "ada@example.com"})
    await hooks.settle()
    assert await hooks.send(hooks.sender(allow_private=False)) == 1
    assert receiver.received == []
    [entry] = await hooks.deliveries(hook["webhook_id"])
    assert entry["status"] == "failed"
    assert entry["status_code"] is None
    assert "127.0.0.1 is a loopback address" in entry["error"]
    assert entry["message"]["status"] == "pending"  # retried later, checked again each time


async def test_rotating_the_secret_signs_with_the_new_one_alone(hooks: Hooks, receiver: Receiver) -> None:
    hook = await hooks.create(receiver.url, ["contact.created"])
    await hooks.api.created("/contacts", {"email": "ada@example.com"})
    await hooks.settle()
    await hooks.send()
    receiver.received[0].verify(hook["secret"])

    rotated = await hooks.api.post(f"/webhooks/{hook['webhook_id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    secret = rotated.json()["secret"]
    assert secret.startswith("whsec_")
    assert secret != hook["secret"]
    assert "secret" not in (await hooks.webhook(hook["webhook_id"]))

    await hooks.api.created("/contacts", {"email": "bob@example.com"})
    await hooks.settle()
    await hooks.send()
    latest = receiver.received[1]
    assert latest.verify(secret)["data"]["contact"]["email"] == "bob@example.com"
    with pytest.raises(WebhookVerificationError):
        latest.verify(hook["secret"])


async def test_each_webhook_gets_the_event_types_it_asked_for(hooks: Hooks, receiver: Receiver) -> None:
    other = Receiver()
    await other.start()
    try:
        tags_only = await hooks.create(receiver.url, ["tag.applied", "tag.removed"])
        everything = await hooks.create(other.url, ["*"])
        contact = (await hooks.api.created("/contacts", {"email": "ada@example.com"}))["contact_id"]
        await hooks.api.post(f"/contacts/{contact}/tags", {"tags": ["Lead"]})
        await hooks.api.created(f"/contacts/{contact}/tasks", {"title": "Call"})
        await hooks.settle()
        await hooks.send(passes=3)
        assert [r.verify(tags_only["secret"])["type"] for r in receiver.received] == ["tag.applied"]
        assert [r.verify(everything["secret"])["type"] for r in other.received] == [
            "contact.created",
            "tag.applied",
            "task.created",
        ]
    finally:
        await other.stop()


async def test_an_inactive_webhook_receives_nothing(hooks: Hooks, receiver: Receiver) -> None:
    hook = await hooks.create(receiver.url, active=False)
    assert hook["active"] is False
    await hooks.api.created("/contacts", {"email": "ada@example.com"})
    await hooks.settle()
    await hooks.send(passes=2)
    await hooks.api.patch(f"/webhooks/{hook['webhook_id']}", {"active": True})
    await hooks.send(passes=2)
    assert receiver.received == []  # what happened while it was off is not sent later either
    assert await hooks.deliveries(hook["webhook_id"]) == []


async def test_redeliver_sends_the_same_message_again(hooks: Hooks, receiver: Receiver) -> None:
    receiver.reply = lambda _: Reply(500)
    hook = await hooks.create(receiver.url)
    await hooks.api.created("/contacts", {"email": "ada@example.com"})
    await hooks.settle()
    await hooks.send(hooks.sender(schedule=()))  # no retries: the message fails at once
    [failed] = await hooks.deliveries(hook["webhook_id"])
    assert failed["message"]["status"] == "failed"

    receiver.reply = lambda _: Reply(200)
    path = f"/webhooks/{hook['webhook_id']}/deliveries/{failed['delivery_id']}/redeliver"
    response = await hooks.api.post(path)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    assert response.json()["message_id"] == failed["message"]["message_id"]
    await hooks.send()
    assert [request.webhook_id for request in receiver.received] == [failed["message"]["message_id"]] * 2
    latest = (await hooks.deliveries(hook["webhook_id"]))[0]
    assert latest["trigger"] == "manual"
    assert latest["attempt"] == 2
    assert latest["message"]["status"] == "delivered"

    # Redelivering a delivered message sends it once more.
    assert (await hooks.api.post(path)).status_code == 202
    await hooks.send()
    assert len(receiver.delivered()) == 2

    await hooks.api.patch(f"/webhooks/{hook['webhook_id']}", {"active": False})
    refused = await hooks.api.post(path)
    assert refused.status_code == 422
    assert set(refused.json()["errors"]) == {"active"}
    assert (await hooks.api.post(f"/webhooks/{hook['webhook_id']}/deliveries/999999999/redeliver")).status_code == 404


async def _never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.read()  # reads until the sender gives up and closes
    finally:
        writer.close()


async def test_a_silent_endpoint_holds_only_its_share_of_the_senders(hooks: Hooks, receiver: Receiver) -> None:
    silent = await asyncio.start_server(_never_answer, "127.0.0.1", 0)
    try:
        port = silent.sockets[0].getsockname()[1]
        stuck = await hooks.create(f"http://127.0.0.1:{port}/hook", ["contact.created"])
        for n in range(6):  # six contacts: nothing orders these messages after one another
            await hooks.api.created("/contacts", {"email": f"ada{n}@example.com"})
        await hooks.settle()
        await hooks.create(receiver.url, ["tag.applied"])
        contact = (await hooks.api.created("/contacts", {"email": "bob@example.com"}))["contact_id"]
        await hooks.api.post(f"/contacts/{contact}/tags", {"tags": ["Lead"]})
        await hooks.settle()
        # Four slots, two per endpoint: the silent endpoint's older messages cannot take them all.
        async with running(hooks.sender(concurrency=4, per_endpoint=2, timeout=2.0)):
            await eventually(lambda: len(receiver.delivered()) == 1, within=1.5)
        timed_out = await hooks.deliveries(stuck["webhook_id"])
        assert timed_out
        assert all(entry["error"] == "No answer within 2 s." for entry in timed_out)
    finally:
        silent.close()


async def test_finished_messages_leave_the_log_after_the_retention(hooks: Hooks, receiver: Receiver) -> None:
    hook = await hooks.create(receiver.url)
    await hooks.api.created("/contacts", {"email": "ada@example.com"})
    await hooks.settle()
    await hooks.send()
    assert len(await hooks.deliveries(hook["webhook_id"])) == 1
    await hooks.sender().prune()  # kept 30 days
    assert len(await hooks.deliveries(hook["webhook_id"])) == 1
    assert await hooks.sender(retention=timedelta(0)).prune() >= 1
    assert await hooks.deliveries(hook["webhook_id"]) == []
