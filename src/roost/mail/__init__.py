"""Domain-free mail: merge tags, composition, DKIM and SMTP (CONVENTIONS §8–§9).

It knows nothing of contacts or broadcasts as stored: the delivery engine hands it plain values.
"""

from roost.mail.compose import CompiledEmail, Recipient, RenderedMessage, Sender, compile_email
from roost.mail.dkim import DkimKey, DkimKeyring, generate_key, write_key
from roost.mail.smtp import (
    DeliveryStatus,
    DsnRequest,
    SendOutcome,
    SmtpConfig,
    SmtpTransport,
    Transport,
    classify,
    xtext,
)

__all__ = [
    "CompiledEmail",
    "DeliveryStatus",
    "DkimKey",
    "DkimKeyring",
    "DsnRequest",
    "Recipient",
    "RenderedMessage",
    "SendOutcome",
    "Sender",
    "SmtpConfig",
    "SmtpTransport",
    "Transport",
    "classify",
    "compile_email",
    "generate_key",
    "write_key",
    "xtext",
]
