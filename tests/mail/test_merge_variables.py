"""`{{name}}` variables of Bird templates, cut by the merge-tag engine (`parse_variables`)."""

from __future__ import annotations

import pytest

from roost.mail.merge import parse, parse_variables, tag_recognizer


@pytest.mark.parametrize(
    "text",
    ["{{firstName}}", "{{ firstName }}", "{{firstName }}", "{{\tfirstName\n}}", "{{  firstName}}"],
)
def test_spaces_inside_the_braces_are_allowed(text: str) -> None:
    template = parse_variables(f"Hi {text}!")
    assert template.keys == {"firstName"}
    assert template.render({"firstName": "Ann"}) == "Hi Ann!"


def test_names_take_letters_digits_underscores_dots_and_dashes() -> None:
    text = "{{a}} {{_b}} {{c.d}} {{e-f}} {{G9}} {{" + "x" * 64 + "}}"
    assert parse_variables(text).keys == {"a", "_b", "c.d", "e-f", "G9", "x" * 64}


@pytest.mark.parametrize(
    "text",
    [
        "{{}}",
        "{{ }}",
        "{{9lives}}",
        "{{first name}}",
        "{{#if x}}",
        "{{name|upper}}",
        "{{7*7}}",
        "{x}",
        "{ {x} }",
        "{{" + "x" * 65 + "}}",
        "%contact.email%",
    ],
)
def test_what_is_not_a_variable_is_left_as_written(text: str) -> None:
    template = parse_variables(text)
    assert template.keys == frozenset()
    assert template.render({"x": "X", "name": "N"}) == text


def test_undeclared_names_are_found_and_left_alone_by_a_declared_only_parse() -> None:
    text = "{{ firstName }} {{nickname}} {{firstName}}"
    assert parse_variables(text).keys - {"firstName"} == {"nickname"}
    declared_only = parse_variables(text, {"firstName"}.__contains__)
    assert declared_only.keys == {"firstName"}
    assert declared_only.render({"firstName": "Ann", "nickname": "A"}) == "Ann {{nickname}} Ann"
    assert declared_only.source == text


def test_a_value_is_inserted_once_and_never_parsed_again() -> None:
    assert parse_variables("{{a}}{{b}}").render({"a": "{{b}}", "b": "%contact.email%"}) == "{{b}}%contact.email%"
    assert parse_variables("{{{a}}}").render({"a": "x"}) == "{x}"


def test_merge_tags_keep_their_syntax_when_no_pattern_is_given() -> None:
    text = "%contact.first_name|there% {{contact.first_name}}"
    assert parse(text, tag_recognizer()).render({}) == "there {{contact.first_name}}"
