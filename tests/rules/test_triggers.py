"""Every trigger, set off end to end: the change through the public API (or the tracking links of
mail really sent), the dispatcher, the rule's action read back through the API (CONVENTIONS §7)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.helpers import Api
from tests.rules.conftest import SENDER, Outbox, Rules, tag_action, tag_trigger

SALE = "https://shop.example/sale"
BLOG = "https://shop.example/blog?page=2&lang=en"


def _links(*urls: str) -> str:
    return "".join(f'<p><a href="{url}">link</a></p>' for url in urls)


async def _tag_id(api: Api, name: str) -> int:
    found = (await api.get("/tags", keyword=name)).json()["data"]
    return int(next(tag["tag_id"] for tag in found if tag["name"] == name))


async def test_tag_applied_fires_for_the_rules_tags_only(rules: Rules) -> None:
    rule = await rules.create([tag_trigger("Lead", "Prospect")], [tag_action("Hot")])
    lead, prospect, other, replaced = [await rules.new_contact(f"{n}@example.com") for n in "abcd"]
    await rules.api.post(f"/contacts/{lead}/tags", {"tags": ["lead"]})  # names ignore case
    await rules.api.post(f"/contacts/{prospect}/tags", {"tags": ["Prospect", "Other"]})
    await rules.api.post(f"/contacts/{other}/tags", {"tags": ["Other"]})
    # PUT with tags fires for the difference (CONVENTIONS §7).
    put = await rules.api.put(f"/contacts/{replaced}", {"email": "d@example.com", "tags": ["Lead"]})
    assert put.status_code == 200, put.text
    await rules.settle()

    assert await rules.tags(lead) == {"Lead", "Hot"}
    assert await rules.tags(prospect) == {"Prospect", "Other", "Hot"}
    assert await rules.tags(other) == {"Other"}
    assert await rules.tags(replaced) == {"Lead", "Hot"}
    runs = await rules.runs(rule)
    assert sorted(run["contact_id"] for run in runs) == sorted([lead, prospect, replaced])
    assert all(run["status"] == "done" and run["event"]["type"] == "tag.applied" for run in runs)
    assert {run["trigger"]["trigger"] for run in runs} == {"tag_applied"}


async def test_tag_removed_fires_when_the_tag_really_leaves(rules: Rules) -> None:
    rule = await rules.create([tag_trigger("Trial", trigger="tag_removed")], [tag_action("Churned")])
    contact = await rules.new_contact()
    await rules.api.post(f"/contacts/{contact}/tags", {"tags": ["Trial", "Other"]})
    await rules.settle()
    assert await rules.tags(contact) == {"Trial", "Other"}

    other = await _tag_id(rules.api, "Other")
    assert (await rules.api.delete(f"/contacts/{contact}/tags/{other}")).status_code == 204
    await rules.settle()
    assert await rules.tags(contact) == {"Trial"}

    trial = await _tag_id(rules.api, "Trial")
    assert (await rules.api.delete(f"/contacts/{contact}/tags/{trial}")).status_code == 204
    assert (await rules.api.delete(f"/contacts/{contact}/tags/{trial}")).status_code == 204  # not applied: no event
    await rules.settle()
    assert await rules.tags(contact) == {"Churned"}
    assert [run["event"]["type"] for run in await rules.runs(rule)] == ["tag.removed"]


async def _broadcast(api: Api, subject: str, body: str) -> int:
    broadcast = await api.created(
        "/broadcasts",
        {"name": subject, "email": {"subject": subject, "body": body}, "sender": SENDER, "immediate": True},
    )
    return int(broadcast["broadcast_id"])


async def test_opens_and_clicks_of_any_email_or_of_one_broadcast_through_the_tracking_links(
    rules: Rules, outbox: Outbox
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example"
    reader, other = f"reader@{domain}", f"other@{domain}"
    reader_id, other_id = await rules.new_contact(reader), await rules.new_contact(other)
    alpha = await _broadcast(rules.api, "Alpha", _links(SALE, BLOG))
    await _broadcast(rules.api, "Beta", _links(SALE))
    any_open = await rules.create([{"trigger": "email_opened", "params": {"type": "any"}}], [tag_action("Opened")])
    await rules.create(
        [{"trigger": "email_opened", "params": {"type": "broadcast", "broadcast_id": alpha}}], [tag_action("Read A")]
    )
    await rules.create([{"trigger": "link_clicked", "params": {"type": "any"}}], [tag_action("Clicked")])
    await rules.create(
        [{"trigger": "link_clicked", "params": {"type": "broadcast", "broadcast_id": alpha, "url": SALE}}],
        [tag_action("Wants A sale")],
    )
    await rules.create(
        [{"trigger": "link_clicked", "params": {"type": "any", "url": "HTTPS://Shop.Example/blog?page=2&lang=en"}}],
        [tag_action("Reads the blog")],
    )
    await outbox.deliver()

    await outbox.open(reader, "Alpha")
    await outbox.open(other, "Beta")
    await rules.settle()
    assert await rules.tags(reader_id) == {"Opened", "Read A"}
    assert await rules.tags(other_id) == {"Opened"}

    await outbox.click(other, "Beta", SALE)  # a sale link, but not in broadcast A
    await outbox.click(reader, "Alpha", BLOG)
    await rules.settle()
    assert await rules.tags(other_id) == {"Opened", "Clicked"}
    assert await rules.tags(reader_id) == {"Opened", "Read A", "Clicked", "Reads the blog"}

    await outbox.click(reader, "Alpha", SALE)
    await outbox.click(reader, "Alpha", SALE)  # the same link again records no new event
    await rules.settle()
    assert await rules.tags(reader_id) == {"Opened", "Read A", "Clicked", "Reads the blog", "Wants A sale"}
    assert [run["event"]["type"] for run in await rules.runs(any_open)] == ["email.opened", "email.opened"]


async def _sequence(api: Api, name: str, *bodies: tuple[str, str]) -> tuple[int, list[int]]:
    sequence = await api.created("/sequences", {"name": name, "sender": SENDER})
    sid = int(sequence["sequence_id"])
    emails = []
    for subject, body in bodies:
        email = await api.created(
            f"/sequences/{sid}/emails", {"subject": subject, "body": body, "schedule": {"delay": 0, "type": "minute"}}
        )
        emails.append(int(email["email_id"]))
    return sid, emails


async def test_opens_and_clicks_of_a_sequences_emails_through_the_tracking_links(rules: Rules, outbox: Outbox) -> None:
    address = f"member@{uuid.uuid4().hex[:8]}.example"
    contact = await rules.new_contact(address)
    drip, (first, second) = await _sequence(rules.api, "Drip", ("First", _links(SALE)), ("Second", _links(SALE)))
    other, _ = await _sequence(rules.api, "Other", ("Elsewhere", _links(SALE)))

    def email_trigger(trigger: str, sequence_id: int, email_id: int | str, **extra: Any) -> dict[str, Any]:
        params = {"type": "sequence", "sequence_id": sequence_id, "email_id": email_id, **extra}
        return {"trigger": trigger, "params": params}

    await rules.create([email_trigger("email_opened", drip, "any")], [tag_action("Opened drip")])
    await rules.create([email_trigger("email_opened", drip, second)], [tag_action("Opened second")])
    await rules.create([email_trigger("link_clicked", drip, first, url=SALE)], [tag_action("First sale")])
    await rules.create([email_trigger("link_clicked", drip, second)], [tag_action("Clicked second")])
    await rules.create([email_trigger("email_opened", other, "any")], [tag_action("Opened other")])
    for sid in (drip, other):
        await rules.api.created(f"/contacts/{contact}/sequences", {"sequence_id": sid})
    await outbox.deliver(passes=8)

    await outbox.open(address, "First")
    await outbox.click(address, "First", SALE)
    await rules.settle()
    assert await rules.tags(contact) == {"Opened drip", "First sale"}

    await outbox.click(address, "Second", SALE)  # a click without a loaded pixel is an open too
    await rules.settle()
    assert await rules.tags(contact) == {"Opened drip", "First sale", "Opened second", "Clicked second"}


async def test_subscribed_and_unsubscribed_fire_for_their_sequence(rules: Rules) -> None:
    drip, other = await rules.new_sequence("Drip"), await rules.new_sequence("Other")
    joined = await rules.create([{"trigger": "subscribed", "params": {"sequence_id": drip}}], [tag_action("In")])
    left = await rules.create([{"trigger": "unsubscribed", "params": {"sequence_id": drip}}], [tag_action("Out")])
    contact = await rules.new_contact()
    await rules.api.created(f"/contacts/{contact}/sequences", {"sequence_id": other})
    await rules.settle()
    assert await rules.tags(contact) == set()

    await rules.api.created(f"/contacts/{contact}/sequences", {"sequence_id": drip})
    await rules.api.created(f"/contacts/{contact}/sequences", {"sequence_id": drip})  # a member already: no event
    await rules.settle()
    assert await rules.tags(contact) == {"In"}

    assert (await rules.api.delete(f"/contacts/{contact}/sequences/{drip}")).status_code == 204
    await rules.settle()
    assert await rules.tags(contact) == {"In", "Out"}
    assert [run["event"]["type"] for run in await rules.runs(joined)] == ["sequence.subscribed"]
    assert [run["event"]["type"] for run in await rules.runs(left)] == ["sequence.unsubscribed"]


async def test_a_form_subscription_and_an_unsubscribe_fire_the_sequence_rules(rules: Rules) -> None:
    drip, other = await rules.new_sequence("Drip"), await rules.new_sequence("Other")
    form = await rules.api.created("/forms", {"name": "Signup", "sequence_id": drip, "double_optin": False})
    await rules.create([{"trigger": "subscribed", "params": {"sequence_id": drip}}], [tag_action("Signed up")])
    for sid, tag in ((drip, "Left drip"), (other, "Left other")):
        await rules.create([{"trigger": "unsubscribed", "params": {"sequence_id": sid}}], [tag_action(tag)])
    contact = int(
        (await rules.api.created("/contacts", {"email": "f@example.com", "form_id": form["form_id"]}))["contact_id"]
    )
    await rules.api.created(f"/contacts/{contact}/sequences", {"sequence_id": other})
    await rules.settle()
    assert await rules.tags(contact) == {"Signed up"}

    # DELETE /unsubscribe leaves every sequence: the unsubscribed rules of each fire (CONVENTIONS §7).
    assert (await rules.api.delete(f"/contacts/{contact}/unsubscribe")).status_code in (200, 204)
    await rules.settle()
    assert await rules.tags(contact) == {"Signed up", "Left drip", "Left other"}


async def test_sequence_completed_fires_once_the_last_email_went_out(rules: Rules, outbox: Outbox) -> None:
    address = f"graduate@{uuid.uuid4().hex[:8]}.example"
    contact = await rules.new_contact(address)
    drip, _ = await _sequence(rules.api, "Drip", ("One", "<p>One</p>"), ("Two", "<p>Two</p>"))
    other, _ = await _sequence(rules.api, "Other", ("Elsewhere", "<p>x</p>"))
    done = await rules.create(
        [{"trigger": "sequence_completed", "params": {"sequence_id": drip}}], [tag_action("Graduate")]
    )
    await rules.create([{"trigger": "sequence_completed", "params": {"sequence_id": other}}], [tag_action("Other")])
    await rules.api.created(f"/contacts/{contact}/sequences", {"sequence_id": drip})
    await outbox.deliver(passes=8)
    await rules.settle()
    assert await rules.tags(contact) == {"Graduate"}
    assert [run["event"]["type"] for run in await rules.runs(done)] == ["sequence.completed"]


async def _convert(api: Api, contact: int, value: float) -> int:
    return int((await api.created("/conversions", {"contact_id": contact, "value": value}))["conversion_id"])


async def test_has_conversion_compares_the_number_of_the_contacts_conversions(rules: Rules) -> None:
    first = await rules.create(
        [{"trigger": "has_conversion", "params": {"operator": "equals", "value": 1}}], [tag_action("First order")]
    )
    await rules.create(
        [{"trigger": "has_conversion", "params": {"operator": "exceeds", "value": 1}}], [tag_action("Repeat buyer")]
    )
    contact, other = await rules.new_contact(), await rules.new_contact("b@example.com")
    await _convert(rules.api, contact, 10)
    await rules.settle()
    assert await rules.tags(contact) == {"First order"}
    assert await rules.tags(other) == set()

    await _convert(rules.api, contact, 5)
    await rules.settle()
    assert await rules.tags(contact) == {"First order", "Repeat buyer"}
    assert [run["event"]["type"] for run in await rules.runs(first)] == ["conversion.created"]


async def test_has_conversion_value_compares_their_total_value_on_creates_and_updates(rules: Rules) -> None:
    await rules.create(
        [{"trigger": "has_conversion_value", "params": {"operator": "equals", "value": 50.5}}], [tag_action("Exactly")]
    )
    vip = await rules.create(
        [{"trigger": "has_conversion_value", "params": {"operator": "exceeds", "value": 100}}], [tag_action("VIP")]
    )
    contact = await rules.new_contact()
    conversion = await _convert(rules.api, contact, 20.25)
    await rules.settle()
    assert await rules.tags(contact) == set()

    await _convert(rules.api, contact, 30.25)
    await rules.settle()
    assert await rules.tags(contact) == {"Exactly"}

    assert (await rules.api.patch(f"/conversions/{conversion}", {"value": 70})).status_code == 200
    await rules.settle()
    assert await rules.tags(contact) == {"Exactly", "VIP"}
    assert [run["event"]["type"] for run in await rules.runs(vip)] == ["conversion.updated"]
