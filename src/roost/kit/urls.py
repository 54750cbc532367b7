"""URL surgery that leaves the rest of a URL exactly as written."""

from __future__ import annotations

from urllib.parse import quote


def with_query_param(url: str, name: str, value: str) -> str:
    """`url` with `name=value` last in its query, before any fragment, and no other `name` left in it.

    Only the query changes, and only by that parameter: re-encoding the rest (as urlencode would)
    could change what a link means to the site it leads to.
    """
    base, hash_mark, fragment = url.partition("#")
    path, _, query = base.partition("?")
    kept = [pair for pair in query.split("&") if pair and pair.partition("=")[0] != name]
    kept.append(f"{quote(name, safe='')}={quote(value, safe='')}")
    return f"{path}?{'&'.join(kept)}{hash_mark}{fragment}"
