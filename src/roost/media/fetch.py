"""Remote mediaUrls, fetched at send time: public addresses only, bounded in time, size and redirects.

An attachment's URL is chosen by an account, so fetching it is an SSRF risk like a webhook's:
the connection goes through `roost.net.http`, which resolves the host itself and refuses any
non-public address (unless `allow_private`). Redirects are followed by hand, at most
`max_redirects`, each a new request whose connection is checked again. The body is read as it
arrives and given up past `max_bytes`, whatever Content-Length claims.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urljoin

import httpx

from roost.media.types import MediaContent, MediaUnavailable, concrete_type
from roost.net import guard
from roost.net import http as net_http

USER_AGENT = "Roost-Media/1.0"
DEFAULT_TYPE = "application/octet-stream"
RULE = "media is fetched from public addresses only."
REDIRECTS = frozenset({301, 302, 303, 307, 308})


def content_type_of(header: str | None) -> str:
    """The bare media type of a Content-Type header (`image/png`), or application/octet-stream."""
    return concrete_type(header or "") or DEFAULT_TYPE


async def fetch(url: str, *, allow_private: bool, max_bytes: int, within: float, max_redirects: int) -> MediaContent:
    """The file at `url`, all of it within `within` seconds; MediaUnavailable saying why when it cannot be had."""
    try:
        async with asyncio.timeout(within):
            async with net_http.client(
                allow_private=allow_private, rule=RULE, timeout=within, user_agent=USER_AGENT, max_connections=4
            ) as client:
                return await _follow(client, url, max_bytes=max_bytes, max_redirects=max_redirects)
    except guard.Refused as refused:
        raise MediaUnavailable(f"The media {url} may not be fetched: {refused.message}") from None
    except TimeoutError:
        raise MediaUnavailable(f"The media {url} did not arrive within {within:g} s.") from None
    except httpx.HTTPError as exc:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise MediaUnavailable(f"The media {url} could not be fetched ({detail}).") from None


async def _follow(client: httpx.AsyncClient, url: str, *, max_bytes: int, max_redirects: int) -> MediaContent:
    current = url
    for _ in range(max_redirects + 1):
        guard.parse(current)
        async with client.stream("GET", current, headers={"Accept": "*/*", "Accept-Encoding": "identity"}) as response:
            location = response.headers.get("location")
            if response.status_code in REDIRECTS and location:
                current = urljoin(current, location)
                continue
            if not 200 <= response.status_code < 300:
                raise MediaUnavailable(f"The media {url} could not be fetched: it answered {response.status_code}.")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise MediaUnavailable(f"The media {url} is larger than {max_bytes} bytes.")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise MediaUnavailable(f"The media {url} is larger than {max_bytes} bytes.")
            return MediaContent(content=bytes(body), content_type=content_type_of(response.headers.get("content-type")))
    raise MediaUnavailable(f"The media {url} redirects more than {max_redirects} times.")
