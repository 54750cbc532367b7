from __future__ import annotations

import pytest
from starlette.requests import Request

from roost.api.v1.lists import envelope
from roost.kit.paging import ListParams, Page, like_pattern


@pytest.mark.parametrize(
    ("total", "page", "per_page", "count", "expected"),
    [
        (0, 1, 15, 0, (1, None, None)),
        (15, 1, 15, 15, (1, 1, 15)),
        (16, 2, 15, 1, (2, 16, 16)),
        (20, 3, 10, 0, (2, None, None)),
        (101, 11, 10, 1, (11, 101, 101)),
    ],
)
def test_page_math(
    total: int, page: int, per_page: int, count: int, expected: tuple[int, int | None, int | None]
) -> None:
    result = Page(items=list(range(count)), total=total, page=page, per_page=per_page)
    assert (result.last_page, result.first_index, result.last_index) == expected


def test_offset() -> None:
    assert ListParams(page=3, per_page=20).offset == 40


def test_like_pattern_escapes_wildcards_and_lowercases() -> None:
    assert like_pattern("A%b_c\\") == "%a\\%b\\_c\\\\%"


@pytest.mark.parametrize(
    "query",
    [
        "",
        "page=2",
        "per_page=2&page=3&order_by=name",
        "keyword=a%20b%26c%3Dd&search_by=email&page=2",
        "page=1&page=5&keyword=&x=1&x=2",
        "keyword=caf%C3%A9+bar&sort=asc",
    ],
)
def test_page_links_keep_every_other_query_parameter(query: str) -> None:
    request = Request({"type": "http", "scheme": "http", "server": ("roost.test", 80), "path": "/v1/contacts",
                       "query_string": query.encode(), "headers": [(b"host", b"roost.test")]})  # fmt: skip
    page = Page(items=[1, 2], total=30, page=2, per_page=2)
    links = envelope(request, page, str)["links"]
    # As Starlette writes a URL with one parameter replaced: the others kept, in order, the page last.
    for name, number in (("first", 1), ("last", 15), ("prev", 1), ("next", 3)):
        assert links[name] == str(request.url.include_query_params(page=number))
    if query.startswith("keyword=a"):
        assert links["next"] == "http://roost.test/v1/contacts?keyword=a+b%26c%3Dd&search_by=email&page=3"
