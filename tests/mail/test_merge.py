"""Merge tags (CONVENTIONS §8): which tags are known, fallbacks, unknown tags left as written."""

from __future__ import annotations

import pytest

from roost.mail.merge import parse, tag_recognizer

KNOWN = tag_recognizer()


def render(text: str, values: dict[str, str], contact_fields: list[str] | None = None) -> str:
    return parse(text, tag_recognizer(contact_fields)).render(values)


def test_every_documented_tag_is_substituted() -> None:
    values = {
        "contact.email": "ada@example.com",
        "contact.first_name": "Ada",
        "contact.city": "Paris",
        "sender.name": "Shop",
        "sender.email": "news@shop.example",
        "sender.company": "Shop Ltd",
        "sender.address": "1 Main St",
        "unsubscribelink": "https://roost.test/u/1",
    }
    text = " ".join(f"%{key}%" for key in values)
    assert render(text, values) == " ".join(values.values())


@pytest.mark.parametrize("value", [None, ""])
def test_a_fallback_stands_in_for_a_missing_or_empty_value(value: str | None) -> None:
    values = {} if value is None else {"contact.first_name": value}
    assert render("Hi %contact.first_name|there%!", values) == "Hi there!"


def test_a_present_value_wins_over_the_fallback_and_no_fallback_means_empty() -> None:
    assert render("Hi %contact.first_name|there%!", {"contact.first_name": "Ada"}) == "Hi Ada!"
    assert render("Hi %contact.first_name%!", {}) == "Hi !"


def test_a_fallback_may_hold_spaces_and_punctuation() -> None:
    assert render("Dear %contact.first_name|valued reader, friend%", {}) == "Dear valued reader, friend"


@pytest.mark.parametrize(
    "text",
    [
        "%unknown%",
        "%sender.phone%",
        "%contact.First_Name%",
        "%contact.%",
        "%Contact.email%",
        "%UNSUBSCRIBELINK%",
        "50% off, 20% more",
        "%contact.first name%",
        "100%",
    ],
)
def test_unknown_tags_and_stray_percent_signs_are_left_as_written(text: str) -> None:
    assert render(text, {"contact.email": "x@example.com"}) == text


def test_a_known_tag_right_after_an_unknown_one_is_found() -> None:
    assert render("%foo%contact.email%", {"contact.email": "x@example.com"}) == "%foox@example.com"
    assert render("save 50%%contact.email%", {"contact.email": "x@example.com"}) == "save 50%x@example.com"


def test_with_the_accounts_field_keys_a_tag_for_another_key_is_unknown() -> None:
    fields = ["first_name", "city"]
    assert render("%contact.city% %contact.typo|x%", {"contact.city": "Oslo"}, fields) == "Oslo %contact.typo|x%"
    assert render("%contact.email%", {"contact.email": "a@b.example"}, fields) == "a@b.example"


def test_values_are_never_scanned_for_tags() -> None:
    values = {"contact.first_name": "%contact.email%", "contact.email": "secret@example.com"}
    assert render("%contact.first_name%", values) == "%contact.email%"


def test_bind_fixes_some_tags_and_keeps_the_rest_as_written() -> None:
    template = parse("From %sender.name|us% to %contact.first_name|you%", KNOWN)
    bound = template.bind({"sender.name": "Shop"})
    assert bound.keys == frozenset({"contact.first_name"})
    assert bound.source == "From Shop to %contact.first_name|you%"
    assert bound.render({"contact.first_name": "Ada"}) == "From Shop to Ada"
    assert template.bind({"sender.name": ""}).source == "From us to %contact.first_name|you%"


def test_a_template_without_tags_renders_as_is() -> None:
    template = parse("plain text", KNOWN)
    assert template.slots == ()
    assert template.render({}) == "plain text"
