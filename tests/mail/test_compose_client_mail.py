"""Mail an API client wrote (a Bird channel message): its own text part, text only, To/Cc shown to all,
Reply-To, attachments and inline images, all still signed so that dkimpy verifies them."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from roost.mail import DkimKeyring, Sender, write_key
from roost.mail.compose import Attachment
from tests.mail.test_compose import compiled, parse, recipient
from tests.mail.test_dkim import KEY, verifies

SHOP = Sender(name="Shop", email="receipts@shop.example", address="")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.4\n" + b"x" * 5000


@pytest.fixture
def keyring(tmp_path: Path) -> DkimKeyring:
    write_key(tmp_path, KEY)
    return DkimKeyring(tmp_path)


def test_text_only_mail_is_a_single_text_part() -> None:
    email = compiled(html=None, text="Hello,\nyour order shipped.\n", sender=SHOP, marketing=False, subject="Shipped")
    parsed = parse(email.render(recipient()))
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content().replace("\r\n", "\n") == "Hello,\nyour order shipped.\n"
    assert "List-Unsubscribe" not in parsed


def test_an_explicit_text_part_replaces_the_derived_one() -> None:
    email = compiled(html="<p>Rich <b>hello</b></p>", text="Plain hello", sender=SHOP, marketing=False)
    text, html = parse(email.render(recipient())).iter_parts()
    assert isinstance(text, EmailMessage)
    assert text.get_content().strip() == "Plain hello"
    assert "<b>hello</b>" in str(html)


def test_to_and_cc_are_shown_to_every_copy_and_reply_to_is_set() -> None:
    email = compiled(
        html="<p>hi</p>",
        sender=SHOP,
        marketing=False,
        to=["ada@example.com", "bob@example.com"],
        cc=["carol@example.com"],
        reply_to="help@shop.example",
    )
    for address in ("ada@example.com", "bob@example.com", "carol@example.com", "dave@example.com"):
        parsed = parse(email.render(recipient(email=address)))
        assert parsed["To"] == "ada@example.com, bob@example.com"
        assert parsed["Cc"] == "carol@example.com"
        assert parsed["Reply-To"] == "help@shop.example"


def test_attachments_and_inline_images(keyring: DkimKeyring) -> None:
    email = compiled(
        html='<p>Logo: <img src="cid:logo.png"></p>',
        sender=SHOP,
        marketing=False,
        attachments=[
            Attachment("logo.png", "image/png", PNG, inline=True),
            Attachment("Rechnung März.pdf", "application/pdf", PDF),
        ],
        dkim=keyring,
        cc=["carol@example.com"],
        reply_to="help@shop.example",
    )
    message = email.render(recipient())
    assert verifies(message.data)
    parsed = parse(message)
    assert parsed.get_content_type() == "multipart/mixed"
    related, invoice = parsed.iter_parts()
    assert isinstance(related, EmailMessage)
    assert isinstance(invoice, EmailMessage)
    assert related.get_content_type() == "multipart/related"
    alternative, logo = related.iter_parts()
    assert isinstance(alternative, EmailMessage)
    assert isinstance(logo, EmailMessage)
    assert alternative.get_content_type() == "multipart/alternative"
    assert logo["Content-ID"] == "<logo.png>"
    assert logo.get_content_disposition() == "inline"
    assert logo.get_content() == PNG
    assert invoice.get_filename() == "Rechnung März.pdf"
    assert invoice.get_content_disposition() == "attachment"
    assert invoice.get_content() == PDF


def test_text_only_mail_with_a_file_and_a_signature(keyring: DkimKeyring) -> None:
    email = compiled(
        html=None,
        text="See attached.",
        sender=SHOP,
        marketing=False,
        attachments=[Attachment("a.pdf", "application/pdf", PDF)],
        dkim=keyring,
    )
    message = email.render(recipient())
    assert verifies(message.data)
    body, attached = parse(message).iter_parts()
    assert isinstance(body, EmailMessage)
    assert isinstance(attached, EmailMessage)
    assert body.get_content().strip() == "See attached."
    assert attached.get_content() == PDF


def test_text_only_signed_mail_verifies(keyring: DkimKeyring) -> None:
    email = compiled(html=None, text="Just  text\twith   spaces ", sender=SHOP, marketing=False, dkim=keyring)
    assert verifies(email.render(recipient()).data)


def test_marketing_client_mail_has_list_unsubscribe_without_a_footer() -> None:
    email = compiled(html="<p>Sale</p>", sender=SHOP, marketing=False, list_unsubscribe=True)
    parsed = parse(email.render(recipient()))
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "roost-footer" not in str(parsed)
