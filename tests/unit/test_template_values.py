"""A template render's locale fallback and the values a request gives (CONVENTIONS §10)."""

from __future__ import annotations

import pytest

from roost.template.service import pick_locale, request_values


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("pt-BR", "pt-BR"),
        ("pt-br", "pt-BR"),
        ("pt-PT", "pt"),
        ("PT", "pt"),
        ("zh-Hant-TW", "zh-Hant"),
        ("de", "en"),
        ("de-DE", "en"),
        ("-", "en"),
    ],
)
def test_a_locale_falls_back_to_its_language_then_to_the_default(requested: str | None, expected: str) -> None:
    assert pick_locale(["en", "pt", "pt-BR", "zh-Hant"], requested, "en") == expected


def test_request_values_merge_variables_over_parameters_and_drop_nulls() -> None:
    values = request_values({"a": "from variables", "n": None}, [("a", "from parameters"), ("b", 2), ("c", None)])
    assert values == {"a": "from variables", "b": 2}
    assert request_values(None) == {}
