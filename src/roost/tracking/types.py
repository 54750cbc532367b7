from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UnsubscribeView:
    """What the unsubscribe page shows: whose mail, to which address, and where the contact stands.

    `has_contact` is false for a message sent to no contact (a test send): nobody to unsubscribe.
    """

    sender_name: str
    email: str
    unsubscribed: bool
    has_contact: bool
