"""Composition: what a recipient's mail program sees once Python's email parser has read the bytes."""

from __future__ import annotations

import email.policy
import re
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from roost.mail import Recipient, RenderedMessage, Sender, compile_email
from roost.mail.compose import CompiledEmail

SENDER = Sender(
    name="Zoë's Shop",
    email="news@shop.example",
    address="1 Main Street\nSpringfield 12345",
    company="Shop & Sons",
)
HTML = """<!doctype html>
<html><head><style>
  p { color: #333333; }
  .cta { font-weight: bold; }
  @media (max-width: 600px) { p { font-size: 18px; } }
</style></head>
<body>
  <h1>Hello %contact.first_name|there%!</h1>
  <p class="cta">Your address on file: %contact.email%.</p>
  <p>Deals from %sender.company% for %contact.city|your city%: 50% off.</p>
  <p><a href="https://shop.example/deals?ref=%contact.email%">See the deals</a></p>
</body></html>"""


def compiled(
    html: str | None = HTML,
    subject: str = "Hi %contact.first_name|there%, deals!",
    sender: Sender = SENDER,
    **options: Any,
) -> CompiledEmail:
    return compile_email(
        subject=subject,
        html=html,
        sender=sender,
        message_id_domain="mail.roost.example",
        bounce_domain="bounce.roost.example",
        **options,
    )


def recipient(**overrides: Any) -> Recipient:
    values: dict[str, Any] = {
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "verp_token": "m42.k3y",
        "unsubscribe_url": "https://roost.example/u/m42?sig=abc&x=1",
        "message_id": "m42.r4nd0m",
        "fields": {"first_name": "Ada", "city": "London"},
    }
    values.update(overrides)
    return Recipient(**values)


def parse(message: RenderedMessage) -> EmailMessage:
    parsed = message_from_bytes(message.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def parts(message: RenderedMessage) -> tuple[str, str]:
    parsed = parse(message)
    assert parsed.get_content_type() == "multipart/alternative"
    text, html = parsed.iter_parts()
    assert isinstance(text, EmailMessage)
    assert isinstance(html, EmailMessage)
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert text.get_content_charset() == html.get_content_charset() == "utf-8"
    return text.get_content(), html.get_content()


def test_headers_carry_sender_recipient_ids_and_one_click_unsubscribe() -> None:
    now = datetime(2026, 11, 23, 10, 30, 5, tzinfo=UTC)
    message = compiled().render(recipient(), now=now)
    parsed = parse(message)
    assert parsed["From"].addresses[0].display_name == "Zoë's Shop"
    assert parsed["From"].addresses[0].addr_spec == "news@shop.example"
    assert parsed["To"].addresses[0].display_name == "Ada Lovelace"
    assert parsed["To"].addresses[0].addr_spec == "ada@example.com"
    assert parsed["Subject"] == "Hi Ada, deals!"
    assert parsed["Date"].datetime == now
    assert parsed["Message-ID"] == "<m42.r4nd0m@mail.roost.example>" == message.message_id
    assert parsed["MIME-Version"] == "1.0"
    assert parsed["List-Unsubscribe"] == (
        "<mailto:unsubscribe+m42.k3y@bounce.roost.example?subject=unsubscribe>, "
        "<https://roost.example/u/m42?sig=abc&x=1>"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.envelope_from == "bounces+m42.k3y@bounce.roost.example"
    assert parsed["DKIM-Signature"] is None  # no keyring, no signature


def test_merge_tags_fill_both_parts_escaped_in_html_only() -> None:
    fields = {"first_name": "<b>Ann & Bob</b>", "city": None}
    text, html = parts(compiled().render(recipient(fields=fields, email="a+b@example.com")))
    assert "Hello <b>Ann & Bob</b>!" in text
    assert "Hello &lt;b&gt;Ann &amp; Bob&lt;/b&gt;!" in html
    assert "Your address on file: a+b@example.com." in text
    assert "for your city: 50% off." in text  # the fallback; a lone % is text
    assert "Deals from Shop &amp; Sons" in html
    assert "Deals from Shop & Sons" in text
    assert 'href="https://shop.example/deals?ref=a+b@example.com"' in html
    assert "%contact." not in text + html
    assert "%sender." not in text + html


def test_the_subject_takes_values_unescaped_and_without_line_breaks() -> None:
    message = compiled(subject="%contact.first_name% & %sender.name%").render(
        recipient(fields={"first_name": "Tom <&>\r\nBcc: x@example.com"})
    )
    parsed = parse(message)
    assert parsed["Subject"] == "Tom <&> Bcc: x@example.com & Zoë's Shop"
    assert parsed["Bcc"] is None


@pytest.mark.parametrize(
    ("subject", "name"),
    [("Grüße, %contact.first_name%! ☀️", "Jürgen Groß"), ("お知らせ " * 30, "山田太郎"), ("Plain", "Zoë")],
)
def test_non_ascii_subjects_and_names_round_trip(subject: str, name: str) -> None:
    message = compiled(subject=subject).render(recipient(name=name, fields={"first_name": "Jürgen"}))
    parsed = parse(message)
    assert parsed["Subject"] == subject.replace("%contact.first_name%", "Jürgen")
    assert parsed["To"].addresses[0].display_name == name
    header_block = message.data.split(b"\r\n\r\n", 1)[0]
    assert header_block.isascii()  # RFC 2047 words, no raw 8-bit in headers


def test_the_text_part_is_derived_from_the_html() -> None:
    text, _ = parts(compiled().render(recipient()))
    assert "Hello Ada!" in text
    assert "[See the deals](https://shop.example/deals?ref=ada@example.com)" in text
    assert "<" not in text.replace("<b>", "")  # no markup
    assert "color" not in text  # no CSS


def test_css_is_inlined_and_media_queries_kept() -> None:
    _, html = parts(compiled().render(recipient()))
    assert re.search(r'<p class="cta" style="[^"]*color: #333333;[^"]*font-weight: bold', html)
    assert "@media (max-width: 600px)" in html


def test_no_stylesheet_is_ever_loaded(tmp_path: Path) -> None:
    local = tmp_path / "leak.css"
    local.write_text("p { color: #ff0000; }")
    html = (
        f'<link rel="stylesheet" href="{local}"><link rel="stylesheet" href="file://{local}">'
        '<link rel="stylesheet" href="http://127.0.0.1:9/x.css"><p>hi</p>'
    )
    _, rendered = parts(compiled(html=html).render(recipient()))
    assert "#ff0000" not in rendered
    assert "<p>hi</p>" in rendered


def test_the_default_footer_has_company_address_and_unsubscribe_link() -> None:
    text, html = parts(compiled(html="<p>Body</p>").render(recipient()))
    assert html.index("<p>Body</p>") < html.index("roost-footer")
    assert "Shop &amp; Sons<br>1 Main Street<br>\r\nSpringfield 12345" in html
    assert '<a href="https://roost.example/u/m42?sig=abc&amp;x=1">Unsubscribe</a>' in html
    assert "1 Main Street" in text
    assert "Springfield 12345" in text
    assert "[Unsubscribe](https://roost.example/u/m42?sig=abc&x=1)" in text


def test_a_custom_footer_is_used_and_completed_with_what_it_lacks() -> None:
    sender = Sender(
        name="Shop", email="news@shop.example", address="1 Main St", footer_html="<p>Thanks for reading!</p>"
    )
    _, html = parts(compiled(html="<html><body><p>Body</p></body></html>", sender=sender).render(recipient()))
    footer = html[html.index("roost-footer") :]
    assert "Thanks for reading!" in footer
    assert "1 Main St" in footer
    assert "https://roost.example/u/m42" in footer
    assert html.rstrip().endswith("</div></body></html>")  # placed inside the body


def test_a_footer_with_its_own_link_and_address_is_left_alone() -> None:
    footer = '<p>%sender.address% · <a href="%unsubscribelink%">Leave</a></p>'
    sender = Sender(name="Shop", email="news@shop.example", address="1 Main St", footer_html=footer)
    _, html = parts(compiled(html="<p>Body</p>", sender=sender).render(recipient()))
    assert html.count("1 Main St") == 1
    assert html.count("https://roost.example/u/m42") == 1
    assert ">Leave</a>" in html


def test_a_sender_without_postal_address_is_refused() -> None:
    with pytest.raises(ValueError, match="postal address"):
        compiled(sender=Sender(name="Shop", email="news@shop.example", address="  "))


def test_every_message_has_its_own_message_id_and_verp_address() -> None:
    email = compiled()
    first = email.render(recipient(message_id="m1.a", verp_token="t1"))
    second = email.render(recipient(message_id="m2.b", verp_token="t2"))
    assert parse(first)["Message-ID"] != parse(second)["Message-ID"]
    assert (first.envelope_from, second.envelope_from) == (
        "bounces+t1@bounce.roost.example",
        "bounces+t2@bounce.roost.example",
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"email": "not an address"},
        {"email": "ada@example.com>\r\nBcc: x@example.com"},
        {"verp_token": "has space"},
        {"verp_token": "x" * 53},
        {"verp_token": ""},
        {"message_id": "<brackets>"},
        {"message_id": "a@b"},
        {"unsubscribe_url": "javascript:alert(1)"},
        {"unsubscribe_url": "https://x.example/u>, <mailto:evil@example.com"},
        {"unsubscribe_url": "https://x.example/ü"},
    ],
)
def test_malformed_recipient_values_are_refused(overrides: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="not a valid"):
        compiled().render(recipient(**overrides))


def test_lines_are_crlf_and_within_the_limits_in_every_encoding() -> None:
    long_line = "<p>" + "word " * 400 + "</p>"
    cjk = "<p>" + "日本語のテキストです。" * 200 + "</p>"
    for html in (long_line, cjk, HTML):
        data = compiled(html=html).render(recipient()).data
        assert b"\n" not in data.replace(b"\r\n", b"")
        assert b"\r" not in data.replace(b"\r\n", b"")
        assert data.isascii()
        headers, body = data.split(b"\r\n\r\n", 1)
        assert max(len(line) for line in headers.split(b"\r\n")) <= 998  # RFC 5322 §2.1.1
        assert max(len(line) for line in body.split(b"\r\n")) <= 76  # RFC 2045 §6.7


def test_mostly_non_ascii_text_is_base64_and_mostly_ascii_quoted_printable() -> None:
    cjk = "<p>%contact.first_name%さん、" + "日本語のテキストです。" * 50 + "</p>"
    message = compiled(html=cjk).render(recipient())
    parsed = parse(message)
    text, html = parsed.iter_parts()
    assert text["Content-Transfer-Encoding"] == "base64"
    assert "Adaさん、日本語のテキストです。" in text.get_content()
    assert "Adaさん" in html.get_content()
    latin = parse(compiled().render(recipient()))
    assert {part["Content-Transfer-Encoding"] for part in latin.iter_parts()} == {"quoted-printable"}


def test_quoted_printable_pieces_join_without_changing_the_text() -> None:
    # Values long enough to wrap and land next to escapes: the soft breaks must vanish on decoding.
    value = "é=" * 60 + " end "
    html = "<p>" + "x" * 73 + "%contact.first_name%" + "=" * 30 + "%contact.first_name%</p>"
    _, rendered = parts(compiled(html=html).render(recipient(fields={"first_name": value})))
    assert "<p>" + "x" * 73 + value + "=" * 30 + value + "</p>" in rendered


def test_with_account_fields_an_unknown_field_tag_stays_visible() -> None:
    email = compiled(html="<p>%contact.first_name% %contact.nickname%</p>", contact_fields=["first_name"])
    text, html = parts(email.render(recipient()))
    assert "Ada %contact.nickname%" in html
    assert "Ada %contact.nickname%" in text


def test_international_recipient_domains_are_written_as_a_labels() -> None:
    message = compiled().render(recipient(email="ada@bücher.example"))
    assert parse(message)["To"].addresses[0].addr_spec == "ada@xn--bcher-kva.example"


def test_transactional_mail_has_no_footer_or_list_unsubscribe_and_needs_no_postal_address() -> None:
    account = Sender(name="Ada Owner", email="ada@owner.example", address="")
    html = '<p>Hi %contact.first_name|there%, please <a href="%confirmlink%">confirm</a>.</p>'
    email = compiled(
        html=html, subject="Confirm, %contact.first_name%", sender=account, marketing=False, tags=["confirmlink"]
    )
    link = "https://roost.example/confirm/42.abc"
    message = email.render(recipient(values={"confirmlink": link}))
    parsed = parse(message)
    assert parsed["Subject"] == "Confirm, Ada"
    assert parsed["From"] == "Ada Owner <ada@owner.example>"
    assert "List-Unsubscribe" not in parsed
    assert "List-Unsubscribe-Post" not in parsed
    text, body = parts(message)
    assert f'<a href="{link}">confirm</a>' in body
    assert link in text
    assert "roost-footer" not in body
    assert "Unsubscribe" not in body
    assert "Unsubscribe" not in text


def test_an_emails_own_tags_are_known_only_to_that_email() -> None:
    html = "<p>Follow %confirmlink|the link%.</p>"
    own = compiled(html=html, marketing=False, tags=["confirmlink"])
    assert "Follow the link." in parts(own.render(recipient()))[1]  # no value: the fallback
    assert (
        "Follow https://x.example/c." in parts(own.render(recipient(values={"confirmlink": "https://x.example/c"})))[1]
    )
    marketing = compiled(html=html)
    assert "Follow %confirmlink|the link%." in parts(marketing.render(recipient(values={"confirmlink": "x"})))[1]
