"""Every action, run by the engine through the domain services, and read back through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.rules.conftest import Rules, tag_action, tag_trigger


def _ts(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


async def _fire(rules: Rules, contact: int, tag: str = "Go") -> None:
    response = await rules.api.post(f"/contacts/{contact}/tags", {"tags": [tag]})
    assert response.status_code in (200, 201), response.text
    await rules.settle()


async def test_tag_actions_run_in_order(rules: Rules) -> None:
    rule = await rules.create(
        [tag_trigger("Go")],
        [
            tag_action("Old", "Stale", action="remove_tag"),
            tag_action("Customer", "VIP"),
            tag_action("VIP", action="remove_tag"),  # runs after VIP was applied: it ends up removed
        ],
    )
    contact = await rules.new_contact()
    await rules.api.post(f"/contacts/{contact}/tags", {"tags": ["Old", "Keep"]})
    await _fire(rules, contact)
    assert await rules.tags(contact) == {"Go", "Keep", "Customer"}
    (run,) = await rules.runs(rule)
    assert [(a["action"], a["params"], a["status"]) for a in run["actions"]] == [
        ("remove_tag", {"tag": ["Old", "Stale"]}, "done"),
        ("apply_tag", {"tag": ["Customer", "VIP"]}, "done"),
        ("remove_tag", {"tag": ["VIP"]}, "done"),
    ]


async def test_subscribe_and_unsubscribe_act_on_sequences(rules: Rules) -> None:
    drip, old = await rules.new_sequence("Drip"), await rules.new_sequence("Old")
    await rules.create(
        [tag_trigger("Go")],
        [
            {"action": "subscribe", "params": {"sequence_id": drip}},
            {"action": "unsubscribe", "params": {"sequence_id": old}},
        ],
    )
    contact = await rules.new_contact()
    await rules.api.created(f"/contacts/{contact}/sequences", {"sequence_id": old})
    await _fire(rules, contact)
    links = (await rules.contact(contact))["sequences"]
    assert [(link["sequence_id"], link["current_step"]) for link in links] == [(drip, 0)]


async def test_move_sequence_moves_members_of_the_first_sequence_only(rules: Rules) -> None:
    trial, paid = await rules.new_sequence("Trial"), await rules.new_sequence("Paid")
    rule = await rules.create(
        [tag_trigger("Upgraded")],
        [{"action": "move_sequence", "params": {"from_sequence_id": trial, "to_sequence_id": paid}}],
    )
    member, stranger = await rules.new_contact(), await rules.new_contact("b@example.com")
    await rules.api.created(f"/contacts/{member}/sequences", {"sequence_id": trial})
    await _fire(rules, member, "Upgraded")
    await _fire(rules, stranger, "Upgraded")
    assert await rules.sequences(member) == {paid}
    assert await rules.sequences(stranger) == set()
    assert [run["status"] for run in await rules.runs(rule)] == ["done", "done"]


async def test_add_conversion_records_a_conversion_of_the_contact(rules: Rules) -> None:
    await rules.create([tag_trigger("Go")], [{"action": "add_conversion"}], name="Webinar attended")
    contact = await rules.new_contact()
    await _fire(rules, contact)
    (conversion,) = (await rules.api.get("/conversions")).json()["data"]
    assert conversion["contact_id"] == contact
    assert float(conversion["value"]) == 0
    assert conversion["currency"] == "USD"
    assert conversion["source"] == "rule: Webinar attended"


async def test_create_task_adds_an_open_task_due_in_the_given_days(rules: Rules) -> None:
    await rules.create(
        [tag_trigger("Go")],
        [
            {"action": "create_task", "params": {"title": "Call them", "due_in_days": 3}},
            {"action": "create_task", "params": {"title": "Say thanks"}},
        ],
    )
    contact = await rules.new_contact()
    before = datetime.now(UTC).replace(microsecond=0)
    await _fire(rules, contact)
    tasks = (await rules.api.get(f"/contacts/{contact}/tasks", sort="asc")).json()["data"]
    assert [(t["title"], t["status"]) for t in tasks] == [("Call them", "open"), ("Say thanks", "open")]
    due = _ts(tasks[0]["due_at"])
    assert before + timedelta(days=3) <= due <= datetime.now(UTC) + timedelta(days=3)
    assert tasks[1]["due_at"] is None


async def test_delete_removes_the_contact_and_skips_the_actions_after_it(rules: Rules) -> None:
    rule = await rules.create(
        [tag_trigger("Spam")],
        [tag_action("Flagged"), {"action": "delete"}, tag_action("Never"), {"action": "add_conversion"}],
    )
    contact = await rules.new_contact()
    await _fire(rules, contact, "Spam")
    assert (await rules.api.get(f"/contacts/{contact}")).status_code == 404
    assert (await rules.api.get("/conversions")).json()["meta"]["total"] == 0
    (run,) = await rules.runs(rule)
    assert run["status"] == "done"
    assert [a["status"] for a in run["actions"]] == ["done", "done", "skipped", "skipped"]


async def test_a_failing_action_undoes_its_run_logs_why_and_the_other_rules_still_run(rules: Rules) -> None:
    gone = await rules.new_sequence("Soon deleted")
    broken = await rules.create(
        [tag_trigger("Go")],
        [tag_action("Before"), {"action": "subscribe", "params": {"sequence_id": gone}}, tag_action("After")],
    )
    fine = await rules.create([tag_trigger("Go")], [tag_action("Fine")])
    assert (await rules.api.delete(f"/sequences/{gone}")).status_code == 204
    contact = await rules.new_contact()
    await _fire(rules, contact)

    assert await rules.tags(contact) == {"Go", "Fine"}
    (run,) = await rules.runs(broken)
    assert run["status"] == "failed"
    assert run["error"] == "The sequence no longer exists."
    assert [a["status"] for a in run["actions"]] == ["undone", "failed", "not_run"]
    assert [r["status"] for r in await rules.runs(fine)] == ["done"]
    # A run that failed still ran: last_run_at says when. The event is handled: nothing is pending.
    assert (await rules.api.get(f"/rules/{broken}")).json()["last_run_at"] is not None
    assert await rules.settle() == 0


async def test_a_contact_deleted_before_its_event_is_handled_fails_the_run(rules: Rules) -> None:
    rule = await rules.create([tag_trigger("Go")], [tag_action("Late")])
    contact = await rules.new_contact()
    await rules.api.post(f"/contacts/{contact}/tags", {"tags": ["Go"]})
    assert (await rules.api.delete(f"/contacts/{contact}")).status_code == 204
    await rules.settle()
    (run,) = await rules.runs(rule)
    assert (run["status"], run["error"], run["contact_id"]) == ("failed", "The contact no longer exists.", contact)
    assert [a["status"] for a in run["actions"]] == ["not_run"]


async def test_inactive_rules_do_not_run_and_last_run_at_shows_the_last_run(rules: Rules) -> None:
    active = await rules.create([tag_trigger("Go")], [tag_action("Active")])
    inactive = await rules.create([tag_trigger("Go")], [tag_action("Inactive")], active=False)
    switched_off = await rules.create([tag_trigger("Go")], [tag_action("Switched off")])
    contact = await rules.new_contact()
    await rules.api.post(f"/contacts/{contact}/tags", {"tags": ["Go"]})
    # Turned off after the change but before its event is handled: the rule no longer runs.
    assert (await rules.api.patch(f"/rules/{switched_off}", {"active": False})).status_code == 200
    before = datetime.now(UTC).replace(microsecond=0)
    await rules.settle()
    assert await rules.tags(contact) == {"Go", "Active"}
    assert await rules.runs(inactive) == []
    assert await rules.runs(switched_off) == []
    ran = _ts((await rules.api.get(f"/rules/{active}")).json()["last_run_at"])
    assert before <= ran <= datetime.now(UTC)
    assert (await rules.api.get(f"/rules/{inactive}")).json()["last_run_at"] is None
    listed = {rule["rule_id"]: rule["last_run_at"] for rule in (await rules.api.get("/rules")).json()["data"]}
    assert listed[active] is not None
    assert listed[inactive] is None


async def test_tags_deleted_since_the_rule_was_saved_are_left_out(rules: Rules) -> None:
    rule = await rules.create([tag_trigger("Go")], [tag_action("Kept", "Deleted")])
    tags = {t["name"]: t["tag_id"] for t in (await rules.api.get("/tags", per_page=100)).json()["data"]}
    assert (await rules.api.delete(f"/tags/{tags['Deleted']}")).status_code == 204
    contact = await rules.new_contact()
    await _fire(rules, contact)
    assert await rules.tags(contact) == {"Go", "Kept"}
    (run,) = await rules.runs(rule)
    assert run["actions"][0]["params"] == {"tag": ["Kept"]}
