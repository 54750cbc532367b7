from __future__ import annotations

import pytest

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
