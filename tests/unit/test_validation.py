from __future__ import annotations

from pydantic import BaseModel, Field, ValidationError

from roost.api.validation import field_errors


class Inner(BaseModel):
    type: str


class Outer(BaseModel):
    first_name: str = Field(max_length=3)
    items: list[Inner]


def _errors(data: object) -> dict[str, list[str]]:
    try:
        Outer.model_validate(data)
    except ValidationError as exc:
        return field_errors(exc.errors(), strip=0)  # type: ignore[arg-type]
    raise AssertionError("expected a validation error")


def test_paths_are_dotted_and_sentences_human() -> None:
    assert _errors({"first_name": "abcd", "items": [{"type": "a"}, {}]}) == {
        "first_name": ["The first name may not be greater than 3 characters."],
        "items.1.type": ["The items.1.type field is required."],
    }


def test_missing_fields_and_wrong_types() -> None:
    assert _errors({"items": "x"}) == {
        "first_name": ["The first name field is required."],
        "items": ["The items must be an array."],
    }
