"""Open and click tracking in composed mail: what a recipient's mail program gets in the HTML part."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from roost.delivery.addressing import Addressing
from roost.kit.signing import Signer
from roost.mail import DkimKeyring, RenderedMessage, write_key
from tests.mail.test_compose import compiled, parts, recipient
from tests.mail.test_dkim import KEY, verifies

ADDRESSING = Addressing(
    base_url="https://roost.example",
    bounce_domain="bounce.roost.example",
    message=Signer("mail-test-key", "message"),
    click=Signer("mail-test-key", "click"),
    confirm=Signer("mail-test-key", "confirm"),
    visitor=Signer("mail-test-key", "visitor"),
)
MESSAGE_ID = 42
CLICK_PREFIX = f"https://roost.example/t/c/{ADDRESSING.token(MESSAGE_ID)}?"
HTML = """<html><body>
<p><a href="https://shop.example/deals?a=1&amp;b=2">Deals</a></p>
<p><a class="btn" title="a > b" href="http://shop.example/Ünïcode path">Plain http</a></p>
<p><a href="mailto:help@shop.example">Mail us</a> <a href="#top">Top</a> <a href="tel:+1555">Call</a></p>
<p><a href="https://shop.example/me?e=%contact.email%&amp;n=%contact.first_name|friend%">Me</a></p>
<p><a href="%contact.website%">My site</a></p>
</body></html>"""


def tracked(**overrides: Any) -> dict[str, Any]:
    return {
        "open_url": ADDRESSING.open_url(MESSAGE_ID),
        "click_url": ADDRESSING.links(MESSAGE_ID).click_url,
        **overrides,
    }


class _Tags(HTMLParser):
    """The hrefs of links and the srcs of images, decoded as a browser would."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(value or "" for name, value in attrs if name == "href")
        if tag == "img":
            self.images.append(dict(attrs))


def tags(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


def target(href: str) -> str:
    """Where a tracked link leads: the URL its signature binds to the message, else a failure."""
    assert href.startswith(CLICK_PREFIX), href
    query = parse_qs(urlsplit(href).query, keep_blank_values=True)
    assert set(query) == {"url", "sig"}
    url, signature = query["url"][0], query["sig"][0]
    found = ADDRESSING.click_target(MESSAGE_ID, url, signature)
    assert found is not None
    return found


def render(html: str = HTML, **fields: Any) -> RenderedMessage:
    values = {"first_name": "Ada", "website": "https://ada.example/?x=1&y=2"} | fields.pop("fields", {})
    return compiled(html=html).render(recipient(fields=values, **fields))


def test_every_http_link_leads_through_its_signed_click_url() -> None:
    _, html = parts(render(**tracked()))
    hrefs = tags(html).hrefs
    assert [target(href) for href in hrefs if href.startswith(CLICK_PREFIX)] == [
        "https://shop.example/deals?a=1&b=2",
        "http://shop.example/Ünïcode path",
        "https://shop.example/me?e=ada@example.com&n=Ada",
        "https://ada.example/?x=1&y=2",
    ]
    outside_click_urls = re.sub(r'href="https://roost\.example/t/c/[^"]*"', "", html)
    assert "shop.example/deals" not in outside_click_urls
    assert "shop.example/me" not in outside_click_urls


def test_a_click_url_cannot_be_pointed_elsewhere() -> None:
    _, html = parts(render(**tracked()))
    href = tags(html).hrefs[0]
    query = parse_qs(urlsplit(href).query)
    url, signature = query["url"][0], query["sig"][0]
    assert ADDRESSING.click_target(MESSAGE_ID, "https://evil.example/", signature) is None
    assert ADDRESSING.click_target(MESSAGE_ID + 1, url, signature) is None  # another message's link
    assert ADDRESSING.click_target(MESSAGE_ID, url, "0" * len(signature)) is None


def test_other_links_and_the_unsubscribe_link_are_left_as_written() -> None:
    _, html = parts(render(**tracked()))
    hrefs = tags(html).hrefs
    assert {"mailto:help@shop.example", "#top", "tel:+1555"} <= set(hrefs)
    assert "https://roost.example/u/m42?sig=abc&x=1" in hrefs  # the footer's link goes straight to the page


def test_query_strings_are_escaped_once_in_the_attribute() -> None:
    _, html = parts(render(**tracked()))
    raw_hrefs = re.findall(r'href="([^"]*)"', html)
    tracked_hrefs = [href for href in raw_hrefs if href.startswith(CLICK_PREFIX.replace("?", ""))]
    assert len(tracked_hrefs) == 4
    for href in tracked_hrefs:
        assert "&amp;sig=" in href
        assert "&amp;amp;" not in href
        assert re.search(r"&(?!amp;)", href) is None  # every & of the attribute is escaped


def test_a_tag_in_a_url_is_substituted_before_the_url_is_tracked() -> None:
    fields = {"first_name": "", "website": "mailto:ada@example.com?subject=a&body=b"}
    _, html = parts(render(email="a+b@example.com", fields=fields, **tracked()))
    hrefs = tags(html).hrefs
    tracked_targets = [target(href) for href in hrefs if href.startswith(CLICK_PREFIX)]
    assert tracked_targets[2:] == ["https://shop.example/me?e=a+b@example.com&n=friend"]
    # A URL that turns out not to be http(s) for this recipient stays an ordinary link, escaped.
    assert "mailto:ada@example.com?subject=a&body=b" in hrefs
    assert 'href="mailto:ada@example.com?subject=a&amp;body=b"' in html


def test_the_open_pixel_ends_the_body_after_the_footer() -> None:
    _, html = parts(render(**tracked()))
    pixel = f'<img src="{ADDRESSING.open_url(MESSAGE_ID)}" width="1" height="1"'
    assert pixel in html
    assert html.index("roost-footer") < html.index(pixel) < html.index("</body>")
    html_without_body_tag = parts(compiled(html="<p>Hi</p>").render(recipient(**tracked())))[1]
    assert pixel in html_without_body_tag


def test_the_text_part_keeps_the_original_urls() -> None:
    text, _ = parts(render(**tracked()))
    assert "[Deals](https://shop.example/deals?a=1&b=2)" in text
    assert "https://shop.example/me?e=ada@example.com&n=Ada" in text
    assert "/t/c/" not in text
    assert "/t/o/" not in text


def test_without_tracking_nothing_changes() -> None:
    plain = render()
    _, html = parts(plain)
    assert "/t/c/" not in html
    assert "/t/o/" not in html
    assert "https://shop.example/deals?a=1&amp;b=2" in html
    only_opens = render(open_url=ADDRESSING.open_url(MESSAGE_ID))
    _, html = parts(only_opens)
    assert "/t/o/" in html
    assert "/t/c/" not in html


def test_links_in_a_base64_part_are_tracked_too() -> None:
    cjk = '<p><a href="https://shop.example/jp">日本語のリンク</a>' + "日本語のテキストです。" * 50 + "</p>"
    message = compiled(html=cjk).render(recipient(**tracked()))
    assert b"Content-Transfer-Encoding: base64" in message.data
    _, html = parts(message)
    assert target(tags(html).hrefs[0]) == "https://shop.example/jp"


def test_a_tracked_message_is_signed_correctly(tmp_path: Path) -> None:
    write_key(tmp_path, KEY)
    message = compiled(html=HTML, dkim=DkimKeyring(tmp_path)).render(recipient(**tracked()))
    assert verifies(message.data)


def test_a_malformed_open_url_is_refused() -> None:
    with pytest.raises(ValueError, match="not a valid open URL"):
        render(**tracked(open_url='https://roost.example/t/o/1"><script>'))
