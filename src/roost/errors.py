"""Domain errors. They know nothing about HTTP; each API face maps them once."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a service raises on purpose."""


class NotFound(DomainError):
    """The thing does not exist in this account (or exists only in another one)."""


class Forbidden(DomainError):
    """The caller is known but may not do this."""


class Unauthenticated(DomainError):
    """No valid credentials."""


class Conflict(DomainError):
    """The request clashes with the current state."""


class Invalid(DomainError):
    """Input that fails a business rule, keyed by dotted field path."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors

    @classmethod
    def field(cls, path: str, message: str) -> Invalid:
        return cls({path: [message]})
