"""Rates as users write them in settings, in `limits` notation (`100/second`, `5 per minute`)."""

from __future__ import annotations

from limits import RateLimitItem, parse

# In a per-domain list, the limit each domain not named gets (each domain its own window).
ANY_DOMAIN = "*"


def parse_rate(spec: str) -> RateLimitItem:
    """One rate; ValueError when it is not one."""
    try:
        return parse(spec.strip())
    except ValueError as exc:
        raise ValueError(f"{spec.strip()!r} is not a rate such as 100/second") from exc


def parse_domain_rates(spec: str) -> dict[str, RateLimitItem]:
    """`gmail.com=20/second,*=10/second` → the limit of each domain; ValueError when malformed."""
    rates: dict[str, RateLimitItem] = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        domain, separator, rate = entry.partition("=")
        domain = domain.strip().lower()
        if not separator or not domain or not rate.strip():
            raise ValueError(f"{entry!r} is not DOMAIN=RATE (e.g. gmail.com=20/second)")
        rates[domain] = parse_rate(rate)
    return rates
