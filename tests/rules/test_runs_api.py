"""GET /v1/rules/{rule_id}/runs: the run log, with the list envelope and parameters of every /v1 list."""

from __future__ import annotations

import re

from tests.helpers import Api
from tests.rules.conftest import Rules, tag_action, tag_trigger

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


async def test_runs_are_listed_newest_first_in_the_list_envelope(rules: Rules) -> None:
    rule = await rules.create([tag_trigger("Go")], [tag_action("Done")])
    contacts = [await rules.new_contact(f"c{n}@example.com") for n in range(3)]
    for contact in contacts:
        await rules.api.post(f"/contacts/{contact}/tags", {"tags": ["Go"]})
    await rules.settle()

    first = await rules.api.get(f"/rules/{rule}/runs", per_page=2)
    assert first.status_code == 200
    page = first.json()
    assert [run["contact_id"] for run in page["data"]] == [contacts[2], contacts[1]]
    assert page["meta"] == {
        "current_page": 1,
        "from": 1,
        "to": 2,
        "last_page": 2,
        "path": f"http://roost.test/v1/rules/{rule}/runs",
        "per_page": 2,
        "total": 3,
    }
    assert page["links"]["next"] == f"http://roost.test/v1/rules/{rule}/runs?per_page=2&page=2"
    assert page["links"]["prev"] is None
    second = (await rules.api.get(f"/rules/{rule}/runs", per_page=2, page=2)).json()
    assert [run["contact_id"] for run in second["data"]] == [contacts[0]]
    assert (await rules.api.get(f"/rules/{rule}/runs", page=9)).json()["data"] == []

    run = second["data"][0]
    assert set(run) == {
        "run_id",
        "rule_id",
        "contact_id",
        "event",
        "trigger",
        "status",
        "actions",
        "error",
        "created_at",
    }
    assert run["rule_id"] == rule
    assert set(run["event"]) == {"event_id", "type", "origin_id", "depth"}
    assert run["event"]["origin_id"] == run["event"]["event_id"]
    assert TIMESTAMP.match(run["created_at"])
    ordered = (await rules.api.get(f"/rules/{rule}/runs", order_by="contact_id", sort="asc")).json()["data"]
    assert [r["contact_id"] for r in ordered] == contacts


async def test_runs_can_be_searched_by_event_status_or_error(rules: Rules) -> None:
    gone = await rules.new_sequence("Gone")
    rule = await rules.create(
        [tag_trigger("Go"), tag_trigger("Left", trigger="tag_removed")],
        [{"action": "subscribe", "params": {"sequence_id": gone}}],
    )
    ok, failing = await rules.new_contact(), await rules.new_contact("b@example.com")
    await rules.api.post(f"/contacts/{ok}/tags", {"tags": ["Go"]})
    await rules.settle()
    assert (await rules.api.delete(f"/sequences/{gone}")).status_code == 204
    await rules.api.post(f"/contacts/{failing}/tags", {"tags": ["Go", "Left"]})
    tags = {t["name"]: t["tag_id"] for t in (await rules.api.get("/tags", per_page=100)).json()["data"]}
    await rules.api.delete(f"/contacts/{failing}/tags/{tags['Left']}")
    await rules.settle()

    async def found(**params: str) -> list[tuple[int, str]]:
        response = await rules.api.get(f"/rules/{rule}/runs", sort="asc", **params)
        assert response.status_code == 200, response.text
        return [(run["contact_id"], run["status"]) for run in response.json()["data"]]

    # The tag.removed event belongs to another chain: a run of its own, failed too.
    assert await found() == [(ok, "done"), (failing, "failed"), (failing, "failed")]
    assert await found(search_by="status", keyword="FAIL") == [(failing, "failed"), (failing, "failed")]
    assert await found(search_by="event", keyword="tag.removed") == [(failing, "failed")]
    assert await found(search_by="error", keyword="no longer") == [(failing, "failed"), (failing, "failed")]
    assert await found(keyword="tag.applied") == [(ok, "done"), (failing, "failed")]  # search_by defaults to event


async def test_bad_list_parameters_answer_422_and_unknown_rules_404(rules: Rules, other_api: Api) -> None:
    rule = await rules.create([tag_trigger("Go")], [tag_action("Done")])
    for params in ({"per_page": 0}, {"per_page": 101}, {"search_by": "name"}, {"order_by": "name"}, {"sort": "up"}):
        response = await rules.api.get(f"/rules/{rule}/runs", **params)
        assert response.status_code == 422, params
        assert response.json()["message"] == "The given data was invalid."
    for path in ("/rules/999999999/runs", "/rules/0/runs", "/rules/abc/runs"):
        assert (await rules.api.get(path)).status_code in (404, 422), path
    assert (await rules.api.get("/rules/999999999/runs")).json() == {"message": "Not Found."}
    assert (await other_api.get(f"/rules/{rule}/runs")).status_code == 404

    contact = await rules.new_contact()
    await rules.api.post(f"/contacts/{contact}/tags", {"tags": ["Go"]})
    await rules.settle()
    assert (await rules.api.delete(f"/rules/{rule}")).status_code == 204
    assert (await rules.api.get(f"/rules/{rule}/runs")).status_code == 404


async def test_runs_show_the_rules_steps_with_the_tags_current_names(rules: Rules) -> None:
    rule = await rules.create([tag_trigger("Go")], [tag_action("Done")])
    contact = await rules.new_contact()
    await rules.api.post(f"/contacts/{contact}/tags", {"tags": ["Go"]})
    await rules.settle()
    tags = {t["name"]: t["tag_id"] for t in (await rules.api.get("/tags", per_page=100)).json()["data"]}
    assert (await rules.api.patch(f"/tags/{tags['Done']}", {"name": "Finished"})).status_code == 200
    (run,) = await rules.runs(rule)
    assert run["trigger"] == {"trigger": "tag_applied", "params": {"tag": ["Go"]}}
    assert run["actions"] == [{"action": "apply_tag", "params": {"tag": ["Finished"]}, "status": "done"}]
