"""Conversions are attributed to the last email the contact clicked within 7 days, and that email's
`altv` (broadcasts) or `ltv` (sequence emails) is the value attributed to it per email sent (CONVENTIONS §7)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.helpers import Api
from tests.pixel.conftest import Mail, broadcast, broadcast_stats, contact, domain, links
from tests.rules.conftest import SENDER

SALE = "https://shop.example/sale"
BLOG = "https://shop.example/blog"


async def _convert(api: Api, contact_id: int, value: float) -> dict[str, Any]:
    return await api.created("/conversions", {"contact_id": contact_id, "value": value})


async def test_the_last_clicked_email_gets_the_conversion_and_its_altv_follows_the_value(api: Api, mail: Mail) -> None:
    at = domain()
    buyer, reader, idle = f"buyer@{at}", f"reader@{at}", f"idle@{at}"
    buyer_id, reader_id, idle_id = [await contact(api, address) for address in (buyer, reader, idle)]
    spring = await broadcast(api, "Spring", links(SALE))
    summer = await broadcast(api, "Summer", links(BLOG))
    await mail.deliver()
    assert (await broadcast_stats(api, spring))["sent"] == 3

    await mail.follow(buyer, "Spring", SALE)
    await mail.follow(buyer, "Summer", BLOG)  # the later click wins
    await mail.follow(reader, "Spring", SALE)

    bought = await _convert(api, buyer_id, 30)
    assert bought["attribution"] == {"type": "broadcast", "id": summer}
    read = await _convert(api, reader_id, 10)
    assert read["attribution"] == {"type": "broadcast", "id": spring}
    assert (await _convert(api, idle_id, 99))["attribution"] == {}  # clicked nothing

    assert (await broadcast_stats(api, summer))["altv"] == 10  # 30 over 3 sent
    assert (await broadcast_stats(api, spring))["altv"] == 3.33  # 10 over 3, to the cent
    listed = (await api.get("/conversions", order_by="value", sort="asc")).json()["data"]
    assert [c["attribution"] for c in listed] == [
        {"type": "broadcast", "id": spring},
        {"type": "broadcast", "id": summer},
        {},
    ]

    path = f"/conversions/{bought['conversion_id']}"
    assert (await api.patch(path, {"value": 60.5})).status_code == 200
    assert (await broadcast_stats(api, summer))["altv"] == 20.17
    assert (await api.patch(path, {"source": "checkout"})).json()["attribution"] == bought["attribution"]
    assert (await api.delete(path)).status_code == 204
    assert (await broadcast_stats(api, summer))["altv"] == 0

    # A contact deleted with its personal data leaves the aggregate stats as they were (CONVENTIONS §7).
    assert (await api.delete(f"/contacts/{reader_id}")).status_code == 204
    assert (await broadcast_stats(api, spring))["altv"] == 3.33


async def test_clicks_older_than_7_days_attribute_nothing(api: Api, mail: Mail) -> None:
    at = domain()
    address = f"slow@{at}"
    contact_id = await contact(api, address)
    spring = await broadcast(api, "Spring", links(SALE))
    await mail.deliver()
    await mail.follow(address, "Spring", SALE)

    await mail.age_clicks(contact_id, timedelta(days=6, hours=23))
    assert (await _convert(api, contact_id, 5))["attribution"] == {"type": "broadcast", "id": spring}
    await mail.age_clicks(contact_id, timedelta(hours=2))  # now 7 days and 1 hour ago
    assert (await _convert(api, contact_id, 7))["attribution"] == {}
    assert (await broadcast_stats(api, spring))["altv"] == 5


async def test_a_sequence_email_gets_the_conversion_and_its_ltv(api: Api, mail: Mail) -> None:
    address = f"member@{domain()}"
    contact_id = await contact(api, address)
    sequence = await api.created("/sequences", {"name": "Drip", "sender": SENDER})
    sid = sequence["sequence_id"]
    email = await api.created(
        f"/sequences/{sid}/emails",
        {"subject": "Welcome", "body": links(SALE), "schedule": {"delay": 0, "type": "minute"}},
    )
    await api.created(f"/contacts/{contact_id}/sequences", {"sequence_id": sid})
    await mail.deliver(passes=8)
    await mail.follow(address, "Welcome", SALE)

    converted = await _convert(api, contact_id, 12.5)
    assert converted["attribution"] == {"type": "sequence_email", "id": email["email_id"]}
    stats = (await api.get(f"/sequences/{sid}/emails/{email['email_id']}")).json()["stats"]
    assert (stats["sent"], stats["clicks"], stats["ltv"]) == (1, 1, 12.5)


async def test_another_accounts_clicks_attribute_nothing_here(api: Api, other_api: Api, mail: Mail) -> None:
    # The same address is a contact in two accounts; only its clicks on this account's mail count here.
    address = f"shared@{domain()}"
    mine, theirs = await contact(api, address), await contact(other_api, address)
    their_broadcast = await broadcast(other_api, "Theirs", links(SALE))
    await mail.deliver()
    await mail.follow(address, "Theirs", SALE)
    assert (await _convert(api, mine, 40))["attribution"] == {}
    assert (await _convert(other_api, theirs, 40))["attribution"] == {"type": "broadcast", "id": their_broadcast}
