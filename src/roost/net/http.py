"""The HTTP client for URLs an account chose: the destination check at every connection.

DNS rebinding: a host may resolve to a public address when a URL is saved and to 127.0.0.1 when
Roost connects. Checking the name just before a request still leaves a window, since the HTTP
library resolves it again to connect. So the check sits where the connection is made: the
client's network backend resolves the host itself, refuses it when any address is not allowed,
and connects to one of the very addresses it checked. The URL, the Host header and TLS (SNI and
certificate verification) keep the name, so HTTPS works unchanged. Pooled connections were
checked when they were opened. Proxies from the environment are ignored: a proxy would connect
on Roost's behalf, past the check. Redirects are never followed by the client: a caller that
follows them sends a new request, whose connection is checked in turn.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from functools import lru_cache

import httpcore
import httpx

from roost.net import guard


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses that passed `guard.checked_addresses`."""

    def __init__(self, *, allow_private: bool, rule: str) -> None:
        self.allow_private = allow_private
        self.rule = rule
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await guard.checked_addresses(
                host,
                port,
                allow_private=self.allow_private,
                rule=self.rule,
                within=timeout or guard.RESOLVE_TIMEOUT,
            )
        except guard.Unresolvable as refused:
            raise httpcore.ConnectError(refused.message) from None  # maybe a passing DNS failure: retried
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are never used for account-chosen URLs")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes a while; one context serves every client (it is safe to share).
    return httpx.create_ssl_context(trust_env=False)


class CheckedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, *, allow_private: bool, rule: str, limits: httpx.Limits) -> None:
        super().__init__(verify=_ssl_context(), trust_env=False, limits=limits)
        # httpx builds its connection pool with the default network backend and has no parameter for
        # another one; the pool is rebuilt with the same settings and the checking backend.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=CheckedBackend(allow_private=allow_private, rule=rule),
        )


def client(
    *,
    allow_private: bool,
    rule: str,
    timeout: float,
    user_agent: str,
    max_connections: int = 100,
) -> httpx.AsyncClient:
    """A client that refuses non-public destinations (unless `allow_private`) with `guard.Refused`.

    No redirects followed, no proxies, `timeout` for connecting and for each read; `rule` ends
    the message of a refusal.
    """
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=20, keepalive_expiry=30)
    return httpx.AsyncClient(
        transport=CheckedTransport(allow_private=allow_private, rule=rule, limits=limits),
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": user_agent},
    )
