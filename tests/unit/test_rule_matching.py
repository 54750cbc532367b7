"""Rule matching as pure functions: which trigger an event sets off (roost.rule.matching)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from roost.rule.matching import EVENT_TYPES, Facts, first_match, needs_conversions, needs_email_sequence, same_url

NO_FACTS = Facts()


def trigger(name: str, **params: Any) -> dict[str, Any]:
    return {"trigger": name, "params": params}


def test_triggers_listen_to_their_own_event_type_only() -> None:
    applied = trigger("tag_applied", tag_ids=[7])
    assert first_match([applied], "tag.applied", {"tag_id": 7}, NO_FACTS) == applied
    assert first_match([applied], "tag.removed", {"tag_id": 7}, NO_FACTS) is None
    assert first_match([applied], "tag.applied", {"tag_id": 8}, NO_FACTS) is None
    assert "contact.created" not in EVENT_TYPES
    assert {"tag.applied", "email.clicked", "sequence.completed", "conversion.updated"} <= EVENT_TYPES


def test_triggers_are_ored_and_the_first_match_is_given() -> None:
    first = trigger("tag_removed", tag_ids=[1])
    second = trigger("tag_applied", tag_ids=[2, 3])
    third = trigger("tag_applied", tag_ids=[3])
    assert first_match([first, second, third], "tag.applied", {"tag_id": 3}, NO_FACTS) == second
    assert first_match([first, second, third], "tag.removed", {"tag_id": 1}, NO_FACTS) == first


@pytest.mark.parametrize("name", ["subscribed", "unsubscribed", "sequence_completed"])
def test_sequence_triggers_compare_the_sequence(name: str) -> None:
    event = {"subscribed": "sequence.subscribed", "unsubscribed": "sequence.unsubscribed"}.get(
        name, "sequence.completed"
    )
    step = trigger(name, sequence_id=4)
    assert first_match([step], event, {"sequence_id": 4}, NO_FACTS) == step
    assert first_match([step], event, {"sequence_id": 5}, NO_FACTS) is None
    assert first_match([step], event, {}, NO_FACTS) is None


def test_email_triggers_by_any_broadcast_or_sequence_email() -> None:
    broadcast_open = {"message_id": 1, "broadcast_id": 9, "sequence_email_id": None}
    sequence_open = {"message_id": 2, "broadcast_id": None, "sequence_email_id": 31}
    in_sequence = Facts(email_sequence_id=3)
    any_email = trigger("email_opened", type="any")
    broadcast = trigger("email_opened", type="broadcast", broadcast_id=9)
    any_of_sequence = trigger("email_opened", type="sequence", sequence_id=3, email_id="any")
    one_email = trigger("email_opened", type="sequence", sequence_id=3, email_id=32)
    for data, facts in ((broadcast_open, NO_FACTS), (sequence_open, in_sequence)):
        assert first_match([any_email], "email.opened", data, facts) == any_email
    assert first_match([broadcast], "email.opened", broadcast_open, NO_FACTS) == broadcast
    assert first_match([broadcast], "email.opened", sequence_open, in_sequence) is None
    assert first_match([any_of_sequence], "email.opened", sequence_open, in_sequence) == any_of_sequence
    assert first_match([any_of_sequence], "email.opened", sequence_open, Facts(email_sequence_id=4)) is None
    assert first_match([any_of_sequence], "email.opened", broadcast_open, NO_FACTS) is None
    assert first_match([one_email], "email.opened", sequence_open, in_sequence) is None
    assert first_match([one_email], "email.opened", {**sequence_open, "sequence_email_id": 32}, in_sequence)


def test_link_clicked_with_a_url_needs_that_link() -> None:
    step = trigger("link_clicked", type="any", url="https://Shop.example/sale?a=1")
    clicked = {"message_id": 1, "broadcast_id": 2, "url": "https://shop.example/sale?a=1#top"}
    assert first_match([step], "email.clicked", clicked, NO_FACTS) == step
    assert first_match([step], "email.clicked", {**clicked, "url": "https://shop.example/sale?a=2"}, NO_FACTS) is None
    assert first_match([step], "email.opened", clicked, NO_FACTS) is None
    anything = trigger("link_clicked", type="any")
    assert first_match([anything], "email.clicked", clicked, NO_FACTS) == anything


def test_same_url_ignores_case_of_scheme_and_host_an_empty_path_and_the_fragment() -> None:
    assert same_url("HTTP://Example.COM", "http://example.com/")
    assert same_url("https://example.com/a?b=1", "https://example.com/a?b=1#frag")
    assert not same_url("https://example.com/A", "https://example.com/a")
    assert not same_url("https://example.com/a", "http://example.com/a")
    assert not same_url("https://example.com/a", None)
    assert not same_url("https://example.com/a", "http://[broken/a")


def test_conversion_triggers_compare_count_and_total_value() -> None:
    more_than_two = trigger("has_conversion", operator="exceeds", value=2)
    exactly_two = trigger("has_conversion", operator="equals", value=2)
    worth = trigger("has_conversion_value", operator="exceeds", value=99.99)
    exactly = trigger("has_conversion_value", operator="equals", value=10.1)
    for event in ("conversion.created", "conversion.updated"):
        assert first_match([more_than_two], event, {}, Facts(conversions=3)) == more_than_two
        assert first_match([more_than_two], event, {}, Facts(conversions=2)) is None
        assert first_match([exactly_two], event, {}, Facts(conversions=2)) == exactly_two
        assert first_match([worth], event, {}, Facts(conversion_value=Decimal("100.00"))) == worth
        assert first_match([worth], event, {}, Facts(conversion_value=Decimal("99.99"))) is None
        assert first_match([exactly], event, {}, Facts(conversion_value=Decimal("10.10"))) == exactly
    assert first_match([exactly_two], "conversion.deleted", {}, Facts(conversions=2)) is None


def test_facts_are_read_only_when_a_trigger_needs_them() -> None:
    tags = [trigger("tag_applied", tag_ids=[1])]
    sequence_email = [trigger("link_clicked", type="sequence", sequence_id=1, email_id="any")]
    conversions = [trigger("has_conversion", operator="exceeds", value=0)]
    assert not needs_email_sequence(tags, "tag.applied")
    assert needs_email_sequence(sequence_email, "email.clicked")
    assert not needs_email_sequence(sequence_email, "email.opened")
    assert not needs_conversions(tags + sequence_email, "conversion.created")
    assert needs_conversions(conversions, "conversion.created")
