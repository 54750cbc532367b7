"""Reading what comes back to the VERP addresses: bounces, complaints and deliveries (CONVENTIONS §9).

Pure functions over the bytes an MTA delivered. Delivery status notifications (RFC 3464,
multipart/report; report-type=delivery-status), failures and the successes channel messages
ask for (RFC 3461), and complaints in the Abuse Reporting Format
(RFC 5965, report-type=feedback-report) are read with the standard library: they are
well-defined field blocks, and what matters (each recipient's Action, Status and
Diagnostic-Code) is something no bounce library hands back. Bounces that follow no standard
(qmail's QSBMF, old Exim, several webmail providers) are recognised by flufl.bounce, the
detectors GNU Mailman has run on real bounce traffic for two decades; they tell a
permanent failure from a temporary one, which is all such a bounce can say.
"""

from __future__ import annotations

import email
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.message import Message
from email.policy import compat32
from typing import Literal

from flufl.bounce import all_failures

log = logging.getLogger("roost.bounce")
# flufl.bounce logs every detector it tries at INFO: a dozen lines per bounce.
logging.getLogger("flufl.bounce").setLevel(logging.WARNING)

# "delivered" is no bounce: the recipient's server took the mail (see `_kind_of`).
Kind = Literal["hard", "soft", "complaint", "delivered"]

# RFC 3463 enhanced status codes: class.subject.detail.
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
# The VERP return path and the List-Unsubscribe mailto both carry the signed message token.
_TOKEN = re.compile(r"\b(?:bounces|unsubscribe)\+([A-Za-z0-9_=.-]+)@", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
# Fields that name our envelope sender or the List-Unsubscribe mailbox: in the returned original
# message, in a complaint (RFC 5965 §3.2) and in Postfix's per-message DSN fields.
_TOKEN_FIELDS = ("Return-Path", "List-Unsubscribe", "Original-Mail-From", "X-Postfix-Sender")
# RFC 3464 §2.2.1: the ENVID the message went out with, decoded from xtext; Roost's is the message token.
_ENVELOPE_ID_FIELD = "Original-Envelope-Id"
# RFC 5965 §7.3: these feedback types report abuse; "not-spam" and "auth-failure" do not.
COMPLAINT_TYPES = frozenset({"abuse", "fraud", "virus", "other"})
MAX_DETAIL_CHARS = 1000


@dataclass(frozen=True, slots=True)
class Report:
    """One bounce, complaint or delivery, as far as the message that came back tells it.

    `status` is the enhanced status code ("5.1.1", empty when the report gives none),
    `diagnostic` the remote server's words or the complaint's feedback type, and `tokens`
    the VERP tokens found inside the report (the returned headers, the complaint's
    Original-Mail-From, a DSN's Original-Envelope-Id), for when the envelope recipient does not
    name the message.
    """

    kind: Kind
    status: str = ""
    diagnostic: str = ""
    tokens: tuple[str, ...] = ()

    @property
    def detail(self) -> str:
        """What an interaction records: the status code and the diagnostic (soft bounces say so first)."""
        words = ("soft" if self.kind == "soft" else "", self.status, self.diagnostic)
        return " ".join(word for word in words if word)[:MAX_DETAIL_CHARS]


def read(data: bytes) -> Report | None:
    """The bounce, complaint or delivery the mail reports, or None when it is none of them (an
    auto-reply, spam, a DSN that only says the mail was relayed)."""
    message = email.message_from_bytes(data, policy=compat32)
    parts = list(message.walk())
    feedback = _first_of(parts, "message/feedback-report")
    if feedback is not None:
        return _complaint(parts, feedback)
    status = _first_of(parts, "message/delivery-status")
    if status is not None:
        return _delivery_status(parts, status)
    return _nonstandard_bounce(message, parts)


def token_of(address: str) -> str | None:
    """The signed token in a bounces+… or unsubscribe+… address."""
    found = _TOKEN.search(address)
    return found.group(1) if found else None


def _first_of(parts: Iterable[Message], content_type: str) -> Message | None:
    return next((part for part in parts if part.get_content_type() == content_type), None)


def _text(value: object) -> str:
    """A field value on one line (folded and encoded-word headers come back as several)."""
    return _SPACES.sub(" ", str(value or "")).strip()


def _inner_messages(part: Message) -> list[Message]:
    """What a message/* part holds: the field blocks of a report, or the returned original message."""
    payload = part.get_payload()
    return [block for block in payload if isinstance(block, Message)] if isinstance(payload, list) else []


def _returned_headers(parts: Iterable[Message]) -> Iterator[Message]:
    """The headers of the original message a report carries back (RFC 3464 §2, RFC 5965 §2)."""
    for part in parts:
        content_type = part.get_content_type()
        if content_type == "text/rfc822-headers":
            yield email.message_from_string(_payload_text(part), policy=compat32)
        elif content_type in ("message/rfc822", "message/global-headers"):
            yield from _inner_messages(part)


def _payload_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload.decode("utf-8", "replace")
    return str(part.get_payload())


def _tokens(sources: Iterable[Message]) -> tuple[str, ...]:
    found: list[str] = []
    for source in sources:
        for field in _TOKEN_FIELDS:
            for value in source.get_all(field, []):
                token = token_of(str(value))
                if token is not None and token not in found:
                    found.append(token)
    return tuple(found)


# Which recipient's outcome a DSN reports when they differ: the first by this rank.
_SEVERITY: dict[Kind, int] = {"hard": 0, "soft": 1, "delivered": 2, "complaint": 3}


def _kind_of(action: str, status: str) -> Kind | None:
    """Hard or soft as CONVENTIONS §9 reads RFC 3464: 5.x.x is hard; 4.x.x or a delay is soft.

    RFC 3464 §2.3.3: `delivered` and `expanded` (delivered to the address given, a list or alias
    that forwards it on) mean the mail reached the recipient's mailbox. `relayed` means only that
    the next hop does not report on delivery: nothing more is known than the relay's 250 said.
    """
    if action in ("delivered", "expanded"):
        return "delivered"
    if action == "relayed":
        return None
    if action == "delayed" or status.startswith("4"):
        return "soft"
    if status.startswith("5") or action in ("failed", "error"):  # some MTAs write "error" for "failed"
        return "hard"
    return None


def _delivery_status(parts: list[Message], part: Message) -> Report | None:
    """The most severe per-recipient outcome of a DSN: a hard failure outranks a delay, which
    outranks a delivery (a DSN about several recipients reports a failure if any failed)."""
    found: list[Report] = []
    blocks = _inner_messages(part)
    for block in blocks:
        action = _text(block.get("Action")).lower().split(" ", 1)[0]
        diagnostic_code = _text(block.get("Diagnostic-Code"))
        diagnostic = diagnostic_code.partition(";")[2].strip() or diagnostic_code  # drop the "smtp;" type
        status_match = _STATUS.search(_text(block.get("Status"))) or _STATUS.search(diagnostic)
        status = status_match.group(0) if status_match else ""
        kind = _kind_of(action, status)
        if kind is not None:
            found.append(Report(kind=kind, status=status, diagnostic=diagnostic))
    if not found:
        return None
    worst = min(found, key=lambda report: _SEVERITY[report.kind])
    tokens = _tokens([*blocks, *_returned_headers(parts)])
    envelope_id = _text(blocks[0].get(_ENVELOPE_ID_FIELD))  # a per-message field: the first block
    if envelope_id and envelope_id not in tokens:
        tokens = (*tokens, envelope_id)
    return Report(kind=worst.kind, status=worst.status, diagnostic=worst.diagnostic, tokens=tokens)


def _complaint(parts: list[Message], part: Message) -> Report | None:
    fields = _inner_messages(part)
    if not fields:
        return None
    feedback = fields[0]
    feedback_type = _text(feedback.get("Feedback-Type")).lower()
    if feedback_type not in COMPLAINT_TYPES:
        log.info("feedback report of type %r is not a complaint", feedback_type)
        return None
    return Report(
        kind="complaint",
        diagnostic=feedback_type,
        tokens=_tokens([feedback, *_returned_headers(parts)]),
    )


def _nonstandard_bounce(message: Message, parts: list[Message]) -> Report | None:
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a heuristic tripping over odd mail must not stop the listener; nothing is known
        log.exception("bounce detectors failed on a message")
        return None
    if not (permanent or temporary):
        return None
    kind: Kind = "hard" if permanent else "soft"
    failure = "permanent" if permanent else "temporary"
    return Report(
        kind=kind,
        diagnostic=f"{failure} failure (bounce without a delivery status report)",
        tokens=_tokens(_returned_headers(parts)),
    )
