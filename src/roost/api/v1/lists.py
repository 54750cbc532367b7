"""List parameters and the paginated envelope (CONVENTIONS §6).

No `from __future__ import annotations` here: the query parameters are built from runtime
Literal types, which FastAPI must see as objects, not strings.
"""

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, Generic, Literal, TypeVar
from urllib.parse import parse_qsl, urlencode

from fastapi import Query, Request
from pydantic import BaseModel, Field

from roost.kit.paging import ListParams, Page

T = TypeVar("T")
MAX_PAGE = 1_000_000_000  # keeps OFFSET inside a 64-bit integer whatever per_page is


class Links(BaseModel):
    first: str
    last: str
    prev: str | None
    next: str | None


class Meta(BaseModel):
    current_page: int
    from_: int | None = Field(alias="from")
    to: int | None
    last_page: int
    path: str
    per_page: int
    total: int


class PageOut(BaseModel, Generic[T]):
    data: list[T]
    links: Links
    meta: Meta


def list_params(
    search_by: tuple[str, ...], order_by: tuple[str, ...], *, order_aliases: Mapping[str, str] | None = None
) -> Callable[..., Awaitable[ListParams]]:
    """A dependency validating the resource's allowed sets; values outside them answer 422."""
    aliases = dict(order_aliases or {})
    search_choices: Any = Literal[search_by]
    order_choices: Any = Literal[(*order_by, *aliases)]

    async def dependency(  # async: a plain def would run in a worker thread
        per_page: Annotated[int, Query(ge=1, le=100)] = 15,
        page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
        keyword: Annotated[str | None, Query(max_length=255)] = None,
        search_by: Annotated[search_choices | None, Query()] = None,
        order_by: Annotated[order_choices | None, Query()] = None,
        sort: Annotated[Literal["asc", "desc"] | None, Query()] = None,
    ) -> ListParams:
        return ListParams(
            page=page,
            per_page=per_page,
            keyword=keyword or None,
            search_by=search_by or search_choices.__args__[0],
            order_by=aliases.get(order_by, order_by) if order_by else None,
            sort=sort,
        )

    return dependency


def envelope(request: Request, page: Page[T], render: Callable[[T], Any]) -> dict[str, Any]:
    """The Laravel-style page: data, absolute links keeping the other query parameters, meta."""
    url = request.url
    path = str(url.replace(query=""))
    # What URL.include_query_params(page=n) writes, with the query parsed once rather than per link.
    kept = [(key, value) for key, value in parse_qsl(url.query, keep_blank_values=True) if key != "page"]

    def link(number: int) -> str:
        return f"{path}?{urlencode([*kept, ('page', number)])}"

    last = page.last_page
    return {
        "data": [render(item) for item in page.items],
        "links": {
            "first": link(1),
            "last": link(last),
            "prev": link(page.page - 1) if 1 < page.page <= last + 1 else None,
            "next": link(page.page + 1) if page.page < last else None,
        },
        "meta": {
            "current_page": page.page,
            "from": page.first_index,
            "to": page.last_index,
            "last_page": last,
            "path": path,
            "per_page": page.per_page,
            "total": page.total,
        },
    }
