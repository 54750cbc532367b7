"""Where Roost may connect for an account: public http(s) addresses only, unless a setting allows the rest.

A webhook URL or a remote media URL is chosen by an account, and Roost fetches it from inside its
own network: without a check, a URL pointed at 127.0.0.1, 10.0.0.5 or 169.254.169.254 would make
Roost call internal services or a cloud metadata API for the account (SSRF). So a destination is
refused when ANY address its host resolves to is not globally routable (private, loopback,
link-local, shared, reserved, unspecified, documentation), is multicast, or is a metadata address.
Callers check a URL when it is saved (a clear 422) and `roost.net.http` checks again at every
connection. `rule` is the sentence a refusal ends with, saying what the check is for.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
RESOLVE_TIMEOUT = 5.0
# Cloud metadata services (AWS, GCP, Azure, …; AWS's IPv6 one). Non-global anyway; named so that
# the refusal says what it is.
METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})


class Refused(Exception):
    """The destination may not be reached; the message says why, as a user reads it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unresolvable(Refused):
    """The host name has no address, maybe for a moment only (a DNS failure): worth trying again later."""


def forbidden(address: IpAddress) -> str | None:
    """Why Roost must not connect to this address, or None when it is a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


def parse(url: str) -> SplitResult:
    """The parts of an absolute http(s) URL with a host; Refused otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise Refused(f"The url may not be longer than {MAX_URL_LENGTH} characters.")
    if any(ord(char) <= 32 or ord(char) == 127 for char in url):
        raise Refused("The url may not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused("The url is not a valid URL.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise Refused("The url must be an http or https URL.")
    if not parts.hostname:
        raise Refused("The url must name a host.")
    if port == 0:
        raise Refused("The url's port must be between 1 and 65535.")
    return parts


def default_port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme.lower() == "https" else 80)


async def resolve(host: str, port: int, *, within: float = RESOLVE_TIMEOUT) -> list[IpAddress]:
    """The addresses a host name (or literal) stands for, in the resolver's order; Refused when it has none."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(within):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, TimeoutError):
        raise Unresolvable(f"The host {host} cannot be resolved.") from None
    addresses: list[IpAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # An IPv6 scope ("fe80::1%eth0") is dropped: the address alone says what it is.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Unresolvable(f"The host {host} cannot be resolved.")
    return addresses


async def checked_addresses(
    host: str, port: int, *, allow_private: bool, rule: str, within: float = RESOLVE_TIMEOUT
) -> list[IpAddress]:
    """The addresses to connect to for `host`; Refused when any of them is not allowed."""
    addresses = await resolve(host, port, within=within)
    if not allow_private:
        for address in addresses:
            reason = forbidden(address)
            if reason is not None:
                shown = host if host.strip("[]") == str(address) else f"{host} ({address})"
                raise Refused(f"The url's host {shown} is {reason}: {rule}")
    return addresses


async def check_url(url: str, *, allow_private: bool, rule: str) -> None:
    """Refused unless `url` is an http(s) URL whose host resolves to allowed addresses only."""
    parts = parse(url)
    assert parts.hostname is not None
    await checked_addresses(parts.hostname, default_port(parts), allow_private=allow_private, rule=rule)


def literal_refusal(parts: SplitResult, *, rule: str) -> str | None:
    """Why a host written as an IP address may not be reached, without resolving anything; None otherwise."""
    assert parts.hostname is not None
    try:
        address = ipaddress.ip_address(parts.hostname.strip("[]"))
    except ValueError:
        return None
    reason = forbidden(address)
    return None if reason is None else f"The url's host {parts.hostname} is {reason}: {rule}"
