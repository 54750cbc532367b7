"""Pydantic errors as dotted field paths with human sentences (CONVENTIONS §5)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def dotted(loc: Sequence[str | int]) -> str:
    return ".".join(str(part) for part in loc)


def _attribute(path: str) -> str:
    # "first_name" reads as "first name"; nested paths stay as written, as Laravel does.
    return path.replace("_", " ") if "." not in path else path


_TEMPLATES = {
    "missing": "The {attr} field is required.",
    "string_type": "The {attr} must be a string.",
    "int_type": "The {attr} must be an integer.",
    "int_parsing": "The {attr} must be an integer.",
    "int_from_float": "The {attr} must be an integer.",
    "float_type": "The {attr} must be a number.",
    "float_parsing": "The {attr} must be a number.",
    "decimal_parsing": "The {attr} must be a number.",
    "finite_number": "The {attr} must be a number.",
    "bool_type": "The {attr} field must be true or false.",
    "bool_parsing": "The {attr} field must be true or false.",
    "string_too_long": "The {attr} may not be greater than {max_length} characters.",
    "too_long": "The {attr} may not have more than {max_length} items.",
    "too_short": "The {attr} must have at least {min_length} items.",
    "greater_than_equal": "The {attr} must be at least {ge}.",
    "greater_than": "The {attr} must be greater than {gt}.",
    "less_than_equal": "The {attr} may not be greater than {le}.",
    "less_than": "The {attr} must be less than {lt}.",
    "literal_error": "The selected {attr} is invalid.",
    "enum": "The selected {attr} is invalid.",
    "list_type": "The {attr} must be an array.",
    "dict_type": "The {attr} must be an object.",
    "model_type": "The {attr} must be an object.",
    "model_attributes_type": "The {attr} must be an object.",
    "datetime_parsing": "The {attr} is not a valid date.",
    "datetime_type": "The {attr} is not a valid date.",
    "datetime_from_date_parsing": "The {attr} is not a valid date.",
}


def sentence(error: dict[str, Any], path: str) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "string_too_short":
        template = (
            "The {attr} field is required."
            if ctx.get("min_length") == 1
            else ("The {attr} must be at least {min_length} characters.")
        )
    elif kind == "value_error" and isinstance(ctx.get("error"), Exception):
        return str(ctx["error"]).format(attr=_attribute(path))
    else:
        template = _TEMPLATES.get(kind, "The {attr} is invalid.")
    try:
        return template.format(attr=_attribute(path), **ctx)
    except (KeyError, IndexError):
        return f"The {_attribute(path)} is invalid."


def field_errors(errors: Sequence[dict[str, Any]], *, strip: int = 1) -> dict[str, list[str]]:
    """Group errors by dotted path; `strip` drops the leading "body"/"query" part of FastAPI locations."""
    grouped: dict[str, list[str]] = {}
    for error in errors:
        loc = [part for part in error.get("loc", ())[strip:] if not _is_union_tag(part)]
        path = dotted(loc) or "body"
        message = sentence(error, path)
        bucket = grouped.setdefault(path, [])
        if message not in bucket:
            bucket.append(message)
    return grouped


def _is_union_tag(part: Any) -> bool:
    # Pydantic names union members in locations ("str", "function-after[...]"); clients want the field.
    return isinstance(part, str) and (part in {"str", "int", "float", "none"} or "[" in part)
