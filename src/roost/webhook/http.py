"""The HTTP client webhooks are sent with: the destination check at every connection.

DNS rebinding: a host may resolve to a public address when the endpoint is saved and to
127.0.0.1 when Roost sends. Checking the name just before sending still leaves a window, since
the HTTP library resolves it again to connect. So the check sits where the connection is made:
the client's network backend resolves the host itself, refuses it when any address is not
allowed, and connects to one of the very addresses it checked. The URL, the Host header and TLS
(SNI and certificate verification) keep the name, so HTTPS works unchanged. Pooled connections
were checked when they were opened. Proxies from the environment are ignored: a proxy would
connect on Roost's behalf, past the check.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable

import httpcore
import httpx

from roost.webhook import destinations

USER_AGENT = "Roost-Webhooks/1.0"


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses that passed `destinations.checked_addresses`."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
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
            addresses = await destinations.checked_addresses(
                host,
                port,
                allow_private=self.allow_private,
                within=timeout or destinations.RESOLVE_TIMEOUT,
            )
        except destinations.Refused as refused:
            if refused.message.endswith("cannot be resolved."):
                raise httpcore.ConnectError(refused.message) from None  # maybe a passing DNS failure: retried
            raise
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
        raise httpcore.ConnectError("webhooks are not sent over unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _CheckedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, *, allow_private: bool, limits: httpx.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        # httpx builds its connection pool with the default network backend and has no parameter for
        # another one; the pool is rebuilt with the same settings and the checking backend.
        context: ssl.SSLContext = httpx.create_ssl_context(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_CheckedBackend(allow_private=allow_private),
        )


def client(*, allow_private: bool, timeout: float, max_connections: int = 100) -> httpx.AsyncClient:
    """A shared client: no redirects followed, no proxies, `timeout` for connecting and for each read."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=20, keepalive_expiry=30)
    return httpx.AsyncClient(
        transport=_CheckedTransport(allow_private=allow_private, limits=limits),
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
    )
