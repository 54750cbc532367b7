"""Rules chain through the events their actions record; a chain stops at depth 10, and a rule runs at most
once per contact per originating event, so cycles end (CONVENTIONS §7)."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.models import Contact, Event
from tests.rules.conftest import Rules, tag_action, tag_trigger


async def test_rules_chain_through_the_events_their_actions_record(rules: Rules) -> None:
    tagging = await rules.create([tag_trigger("Attended")], [tag_action("Engaged")])
    converting = await rules.create([tag_trigger("Engaged")], [{"action": "add_conversion"}])
    thanking = await rules.create(
        [{"trigger": "has_conversion", "params": {"operator": "exceeds", "value": 0}}],
        [{"action": "create_task", "params": {"title": "Send thanks"}}],
    )
    contact = await rules.new_contact()
    await rules.api.post(f"/contacts/{contact}/tags", {"tags": ["Attended"]})
    await rules.settle()

    assert await rules.tags(contact) == {"Attended", "Engaged"}
    assert (await rules.api.get("/conversions")).json()["meta"]["total"] == 1
    tasks = (await rules.api.get(f"/contacts/{contact}/tasks")).json()["data"]
    assert [task["title"] for task in tasks] == ["Send thanks"]
    (first,), (second,), (third,) = [await rules.runs(rule) for rule in (tagging, converting, thanking)]
    origin = first["event"]["event_id"]
    assert (first["event"]["origin_id"], first["event"]["depth"]) == (origin, 0)
    assert (second["event"]["type"], second["event"]["origin_id"], second["event"]["depth"]) == (
        "tag.applied",
        origin,
        1,
    )
    assert (third["event"]["type"], third["event"]["origin_id"], third["event"]["depth"]) == (
        "conversion.created",
        origin,
        2,
    )


async def _events_of(sessionmaker: async_sessionmaker[AsyncSession], contact: int) -> int:
    # Within the contact's account: on SQLite a deleted contact's id comes back for the next contact
    # (of any account), and the events of the earlier one keep it.
    account = select(Contact.account_id).where(Contact.id == contact).scalar_subquery()
    async with sessionmaker() as session:
        counted = select(func.count()).where(Event.contact_id == contact, Event.account_id == account)
        return int(await session.scalar(counted) or 0)


async def test_a_cycle_ends_because_each_rule_runs_once_per_contact_per_origin(
    rules: Rules, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # A -> B -> A: each rule's action sets the other one off.
    ping = await rules.create([tag_trigger("Ping")], [tag_action("Pong"), tag_action("Ping", action="remove_tag")])
    pong = await rules.create([tag_trigger("Pong")], [tag_action("Ping"), tag_action("Pong", action="remove_tag")])
    contact = await rules.new_contact()
    await rules.api.post(f"/contacts/{contact}/tags", {"tags": ["Ping"]})
    async with asyncio.timeout(60):
        await rules.settle()

    # Ping ran (Pong on, Ping off), Pong ran (Ping on, Pong off); Ping's second call was passed over.
    assert await rules.tags(contact) == {"Ping"}
    assert [run["event"]["depth"] for run in await rules.runs(ping)] == [0]
    assert [run["event"]["depth"] for run in await rules.runs(pong)] == [1]
    # contact.created, the first Ping, then two tag events per run
    assert await _events_of(sessionmaker, contact) == 1 + 1 + 2 + 2

    # A new change through the API is a new origin: the rules run again, once each.
    tags = {t["name"]: t["tag_id"] for t in (await rules.api.get("/tags", per_page=100)).json()["data"]}
    assert (await rules.api.delete(f"/contacts/{contact}/tags/{tags['Ping']}")).status_code == 204
    await rules.api.post(f"/contacts/{contact}/tags", {"tags": ["Ping"]})
    async with asyncio.timeout(60):
        await rules.settle()
    assert await rules.tags(contact) == {"Ping"}
    assert len(await rules.runs(ping)) == 2
    assert len(await rules.runs(pong)) == 2


async def test_a_chain_stops_at_depth_10(rules: Rules) -> None:
    # T0 -> T1 -> … -> T11: the rule set off at depth k applies T(k+1).
    chain = [await rules.create([tag_trigger(f"T{k}")], [tag_action(f"T{k + 1}")]) for k in range(11)]
    contact = await rules.new_contact()
    await rules.api.post(f"/contacts/{contact}/tags", {"tags": ["T0"]})
    await rules.settle()

    assert await rules.tags(contact) == {f"T{k}" for k in range(11)}
    for depth, rule in enumerate(chain[:10]):
        (run,) = await rules.runs(rule)
        assert (run["status"], run["event"]["depth"]) == ("done", depth)
    (stopped,) = await rules.runs(chain[10])
    assert (stopped["status"], stopped["event"]["depth"]) == ("stopped", 10)
    assert stopped["error"] == "The chain of rules reached depth 10: the actions did not run."
    assert [action["status"] for action in stopped["actions"]] == ["not_run"]
    assert (await rules.api.get(f"/rules/{chain[10]}")).json()["last_run_at"] is None


async def test_two_events_of_one_chain_run_a_rule_once(rules: Rules) -> None:
    await rules.create([tag_trigger("Start")], [tag_action("Paid", "Onboarded")])
    once = await rules.create(
        [tag_trigger("Paid"), tag_trigger("Onboarded")], [{"action": "create_task", "params": {"title": "Welcome"}}]
    )
    contact = await rules.new_contact()
    await rules.api.post(f"/contacts/{contact}/tags", {"tags": ["Start"]})
    await rules.settle()
    tasks = (await rules.api.get(f"/contacts/{contact}/tasks")).json()["data"]
    assert [task["title"] for task in tasks] == ["Welcome"]
    (run,) = await rules.runs(once)
    assert run["trigger"] == {"trigger": "tag_applied", "params": {"tag": ["Paid"]}}

    # Outside the chain, applying the second tag is a change of its own: the rule runs again.
    await rules.api.post(f"/contacts/{contact}/tags", {"tags": ["Paid"]})  # already applied: nothing
    tags = {t["name"]: t["tag_id"] for t in (await rules.api.get("/tags", per_page=100)).json()["data"]}
    await rules.api.delete(f"/contacts/{contact}/tags/{tags['Onboarded']}")
    await rules.api.post(f"/contacts/{contact}/tags", {"tags": ["Onboarded"]})
    await rules.settle()
    assert len((await rules.api.get(f"/contacts/{contact}/tasks")).json()["data"]) == 2
