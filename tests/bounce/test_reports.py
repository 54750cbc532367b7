"""Reading DSNs (RFC 3464), ARF complaints (RFC 5965) and bounces that follow no standard."""

from __future__ import annotations

import pytest

from roost.bounce.listener import Mailbox, mailbox_of
from roost.bounce.reports import MAX_DETAIL_CHARS, Report, read, token_of
from tests.bounce.fixtures import sample

TOKEN = "17.0123456789abcdef01234567"
VALUES = {
    "return_path": f"bounces+{TOKEN}@bounce.example.org",
    "recipient": "bea@example.com",
    "token": TOKEN,
    "fbl_address": "bounces+fbl@bounce.example.org",
}


def _read(name: str, *replacements: tuple[bytes, bytes]) -> Report | None:
    data = sample(name, **VALUES)
    for old, new in replacements:
        assert old in data
        data = data.replace(old, new)
    return read(data)


def test_postfix_user_unknown_is_a_hard_bounce_with_its_code_and_diagnostic() -> None:
    report = _read("postfix_user_unknown")
    assert report is not None
    assert report.kind == "hard"
    assert report.status == "5.1.1"
    # The "smtp;" type is dropped and the folded field unfolded.
    assert report.diagnostic == (
        "550 5.1.1 <bea@example.com>: Recipient address rejected: User unknown in virtual mailbox table"
    )
    assert report.detail == f"5.1.1 {report.diagnostic}"
    # Postfix names the envelope sender in X-Postfix-Sender; the returned List-Unsubscribe names it too.
    assert report.tokens == (TOKEN,)


def test_postfix_delay_warning_is_a_soft_bounce() -> None:
    report = _read("postfix_delayed")
    assert report is not None
    assert report.kind == "soft"
    assert report.status == "4.2.2"
    assert report.detail == "soft 4.2.2 452 4.2.2 <bea@example.com>: Mailbox full"
    assert report.tokens == (TOKEN,)


def test_exchange_online_ndr_is_hard_with_a_two_digit_detail_code() -> None:
    report = _read("exchange_online_not_found")
    assert report is not None
    assert (report.kind, report.status) == ("hard", "5.1.10")
    assert report.diagnostic.startswith("550 5.1.10 RESOLVER.ADR.RecipientNotFound")
    assert report.tokens == (TOKEN,)  # from the returned message's Return-Path


@pytest.mark.parametrize(
    ("action", "status", "kind"),
    [
        (b"failed", b"5.1.1", "hard"),
        (b"delayed", b"4.2.2", "soft"),
        # Postfix gives up on a temporary failure after 5 days with "failed" and a 4.x.x status.
        (b"failed", b"4.4.7", "soft"),
        (b"failed (bad destination mailbox address)", b"5.1.1 (unknown user)", "hard"),
        (b"error", b"5.0.0", "hard"),
        # Success DSNs (RFC 3464 §2.3.3): delivered to the mailbox, or to a list or alias that
        # forwards it; relayed says the next hop does not report, so nothing more is known.
        (b"delivered", b"2.0.0", "delivered"),
        (b"expanded", b"2.0.0", "delivered"),
        (b"relayed", b"2.0.0", None),
    ],
)
def test_action_and_status_decide_hard_or_soft(action: bytes, status: bytes, kind: str | None) -> None:
    report = _read(
        "postfix_user_unknown", (b"Action: failed", b"Action: " + action), (b"Status: 5.1.1", b"Status: " + status)
    )
    assert (report.kind if report else None) == kind


def test_a_hard_failure_outranks_a_delay_for_another_recipient() -> None:
    delayed_block = (
        b"Final-Recipient: rfc822; other@example.com\r\nAction: delayed\r\nStatus: 4.4.1\r\n\r\n"
        b"Final-Recipient: rfc822; bea@example.com\r\n"
    )
    report = _read("postfix_user_unknown", (b"Final-Recipient: rfc822; bea@example.com\r\n", delayed_block))
    assert report is not None
    assert (report.kind, report.status) == ("hard", "5.1.1")


def test_a_success_dsn_is_a_delivery_named_by_its_envelope_id_too() -> None:
    report = _read("postfix_delivered")
    assert report is not None
    assert (report.kind, report.status) == ("delivered", "2.0.0")
    assert report.diagnostic == "250 2.0.0 Ok: queued as 4C1D2E3F5A"
    assert report.tokens == (TOKEN,)
    # Without the return path in it, the Original-Envelope-Id (the ENVID Roost sent) names the message.
    alone = _read(
        "postfix_delivered",
        (f"X-Postfix-Sender: rfc822; bounces+{TOKEN}@bounce.example.org\r\n".encode(), b""),
        (f"Return-Path: <bounces+{TOKEN}@bounce.example.org>\r\n".encode(), b""),
    )
    assert alone is not None
    assert (alone.kind, alone.tokens) == ("delivered", (TOKEN,))


def test_a_relayed_dsn_is_no_report() -> None:
    # The next hop does not do DSN: the relay can say no more than its 250 did.
    assert _read("postfix_delivered", (b"Action: delivered", b"Action: relayed")) is None


def test_a_failure_outranks_a_delivery_to_another_recipient() -> None:
    delivered_block = (
        b"Final-Recipient: rfc822; other@example.com\r\nAction: delivered\r\nStatus: 2.0.0\r\n\r\n"
        b"Final-Recipient: rfc822; bea@example.com\r\n"
    )
    report = _read("postfix_user_unknown", (b"Final-Recipient: rfc822; bea@example.com\r\n", delivered_block))
    assert report is not None
    assert (report.kind, report.status) == ("hard", "5.1.1")
    delayed = _read("postfix_delayed", (b"Final-Recipient: rfc822; bea@example.com\r\n", delivered_block))
    assert delayed is not None
    assert (delayed.kind, delayed.status) == ("soft", "4.2.2")


def test_status_missing_is_read_from_the_diagnostic() -> None:
    report = _read("postfix_user_unknown", (b"Status: 5.1.1\r\n", b""))
    assert report is not None
    assert (report.kind, report.status) == ("hard", "5.1.1")


def test_feedback_loop_abuse_report_is_a_complaint() -> None:
    report = _read("feedback_loop_abuse")
    assert report is not None
    assert report.kind == "complaint"
    assert report.diagnostic == "abuse"
    assert report.detail == "abuse"
    # Original-Mail-From names the message even though the report went to the feedback loop's address.
    assert report.tokens == (TOKEN,)


@pytest.mark.parametrize("feedback_type", [b"not-spam", b"auth-failure"])
def test_feedback_that_is_not_a_complaint_is_ignored(feedback_type: bytes) -> None:
    assert _read("feedback_loop_abuse", (b"Feedback-Type: abuse", b"Feedback-Type: " + feedback_type)) is None


def test_complaint_without_original_mail_from_is_matched_by_the_returned_headers() -> None:
    report = _read(
        "feedback_loop_abuse",
        (f"Original-Mail-From: <bounces+{TOKEN}@bounce.example.org>\r\n".encode(), b""),
        (f"Return-Path: <bounces+{TOKEN}@bounce.example.org>\r\n".encode(), b""),
    )
    assert report is not None
    assert report.tokens == (TOKEN,)  # the returned List-Unsubscribe header


def test_qmail_bounce_without_a_delivery_status_is_recognised_as_permanent() -> None:
    report = _read("qmail_failure")
    assert report is not None
    assert (report.kind, report.status) == ("hard", "")
    assert report.diagnostic == "permanent failure (bounce without a delivery status report)"


def test_an_auto_reply_is_no_report() -> None:
    assert _read("vacation_reply") is None


@pytest.mark.parametrize("data", [b"", b"\xff\xfe\x00garbage\r\n\r\n\x00", b"Content-Type: multipart/report\r\n\r\n"])
def test_anything_else_is_no_report(data: bytes) -> None:
    assert read(data) is None


def test_detail_is_bounded() -> None:
    report = Report(kind="hard", status="5.0.0", diagnostic="x" * 5000)
    assert len(report.detail) == MAX_DETAIL_CHARS


def test_token_of_reads_bounce_and_unsubscribe_addresses() -> None:
    assert token_of(f"<bounces+{TOKEN}@bounce.example.org>") == TOKEN
    assert token_of(f"<mailto:unsubscribe+{TOKEN}@bounce.example.org?subject=unsubscribe>") == TOKEN
    assert token_of("news@example.org") is None


@pytest.mark.parametrize(
    ("address", "mailbox"),
    [
        (f"bounces+{TOKEN}@bounce.example.org", Mailbox("bounce", TOKEN)),
        (f"<Bounces+{TOKEN}@Bounce.Example.ORG>", Mailbox("bounce", TOKEN)),
        (f"unsubscribe+{TOKEN}@bounce.example.org", Mailbox("unsubscribe", TOKEN)),
        ("bounces+fbl@bounce.example.org", Mailbox("bounce", "fbl")),
        ("bounces+@bounce.example.org", None),
        ("bounces@bounce.example.org", None),
        ("postmaster@bounce.example.org", None),
        (f"bounces+{TOKEN}@elsewhere.example", None),
        ("no-at-sign", None),
    ],
)
def test_the_listener_takes_mail_only_for_its_mailboxes(address: str, mailbox: Mailbox | None) -> None:
    assert mailbox_of(address, "bounce.example.org") == mailbox
