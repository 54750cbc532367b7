"""Offset paging math shared by every list endpoint (CONVENTIONS §6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

T = TypeVar("T")

SortDirection = Literal["asc", "desc"]


@dataclass(frozen=True, slots=True)
class ListParams:
    """A validated list request; the API face checks the allowed sets before building one."""

    page: int = 1
    per_page: int = 15
    keyword: str | None = None
    search_by: str | None = None
    order_by: str | None = None
    sort: SortDirection | None = None

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def last_page(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first_index(self) -> int | None:
        """1-based position of the first item on this page, None when the page is empty."""
        return (self.page - 1) * self.per_page + 1 if self.items else None

    @property
    def last_index(self) -> int | None:
        return (self.page - 1) * self.per_page + len(self.items) if self.items else None


def escape_like(text: str) -> str:
    """`text` with LIKE wildcards escaped (escape char: backslash), to match literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_pattern(keyword: str) -> str:
    """A case-insensitive substring pattern with LIKE wildcards escaped (escape char: backslash)."""
    return f"%{escape_like(keyword.lower())}%"
