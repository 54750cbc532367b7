"""Timestamps at the edges of the range: refused as invalid dates or kept with four-digit years, never a 5xx."""

from __future__ import annotations

import pytest

from tests.helpers import Api

SENDER = {"email": "me@example.com", "name": "Me", "address": "1 Main St"}
# UTC has no year 0: these moments exist in their own zone only.
BEFORE_UTC = "0001-01-01T00:00:00+05:00"
AFTER_UTC = "9999-12-31T23:00:00-05:00"


async def _contact(api: Api) -> int:
    contact_id: int = (await api.created("/contacts", {"email": "edge@example.com"}))["contact_id"]
    return contact_id


@pytest.mark.parametrize("moment", [BEFORE_UTC, AFTER_UTC])
async def test_a_task_or_appointment_time_outside_utc_is_an_invalid_date(api: Api, moment: str) -> None:
    cid = await _contact(api)
    task = await api.post(f"/contacts/{cid}/tasks", {"title": "t", "due_at": moment})
    assert task.status_code == 422
    assert task.json()["errors"] == {"due_at": ["The due at is not a valid date."]}
    appointment = await api.post(f"/contacts/{cid}/appointments", {"title": "a", "starts_at": moment})
    assert appointment.status_code == 422
    assert appointment.json()["errors"] == {"starts_at": ["The starts at is not a valid date."]}
    assert (await api.get(f"/contacts/{cid}/tasks")).json()["data"] == []


async def test_a_year_before_1000_reads_back_with_four_digits(api: Api) -> None:
    cid = await _contact(api)
    task = await api.created(f"/contacts/{cid}/tasks", {"title": "t", "due_at": "0999-01-01T05:00:00+05:00"})
    assert task["due_at"] == "0999-01-01 00:00:00"
    assert (await api.get(f"/contacts/{cid}/tasks/{task['task_id']}")).json()["due_at"] == "0999-01-01 00:00:00"


@pytest.mark.parametrize(
    "schedule",
    [BEFORE_UTC, AFTER_UTC, {"type": "scheduled", "datetime": "0001-01-01 00:00:00", "timezone": "Asia/Tokyo"}],
)
async def test_a_broadcast_schedule_outside_utc_is_an_invalid_date(api: Api, schedule: object) -> None:
    body = {"name": "B", "email": {"subject": "S", "body": "b"}, "sender": SENDER, "schedule": schedule}
    response = await api.post("/broadcasts", body)
    assert response.status_code == 422
    assert response.json()["errors"] == {"schedule.datetime": ["The schedule.datetime is not a valid date."]}
    assert (await api.get("/broadcasts")).json()["data"] == []


@pytest.mark.parametrize("given", ["0999-01-01 00:00:00", "0999-01-01T02:00:00+02:00"])
async def test_a_segment_on_a_year_before_1000_is_kept_and_counts(api: Api, given: str) -> None:
    await api.created("/contacts", {"email": "now@example.com"})
    condition = {"type": "subscribed_at", "operator": "after", "value": given}
    segment = await api.created("/segments", {"name": "Since 999", "conditions": [condition]})
    assert segment["conditions"][0]["value"] == "0999-01-01 00:00:00"
    count = await api.get(f"/segments/{segment['segment_id']}/count")
    assert count.status_code == 200
    assert count.json() == {"count": 1}

    recipients = [{"match": "any", "conditions": [{"type": "segment", "value": segment["segment_id"]}]}]
    body = {"name": "B", "email": {"subject": "S", "body": "b"}, "sender": SENDER, "recipients": recipients}
    broadcast = await api.created("/broadcasts", body)
    preview = await api.get(f"/broadcasts/{broadcast['broadcast_id']}/recipients/count")
    assert preview.status_code == 200
    assert preview.json() == {"count": 1}
