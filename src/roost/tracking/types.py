from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UnsubscribeView:
    """What the unsubscribe page shows: whose mail, to which address, and where the contact stands.

    `has_contact` is false for a message sent to no contact (a test send, a notification): nobody
    to unsubscribe.
    """

    sender_name: str
    email: str
    unsubscribed: bool
    has_contact: bool


@dataclass(frozen=True, slots=True)
class ConfirmationView:
    """What following a confirmation link leads to: the form's redirect URL, or a page naming the
    address and whose mail it will now receive."""

    sender_name: str
    email: str
    redirect_url: str
