"""Open and click tracking in the HTML part (CONVENTIONS §8), prepared once per email.

At compile time the http(s) links of the HTML become slots and a slot for the open pixel is put
before `</body>`; per recipient each slot is filled with a string, so tracking stays a
substitution into precompiled pieces like the merge tags. The text part keeps the original
URLs: plain-text readers see where a link goes, and opens are only measurable in HTML anyway.

A link whose URL holds merge tags is tracked with the URL after substitution, so the redirect
goes exactly where the untracked link would have gone; when the substituted URL is not http(s)
(`href="%contact.website%"` holding "mailto:…"), that recipient's link is left untracked.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from roost.mail.merge import UNSUBSCRIBE_LINK, MergeTemplate, Slot, concat, parse

# The HTML has been serialized by the CSS inliner: lower-case names, every attribute value in
# double quotes with `&` and `"` escaped. So attributes are `name="value"` or bare names, and a
# `>` inside a quoted value cannot end the tag early.
_LINK_HREF = re.compile(r'<a((?:\s+[^\s"\'>/=]+(?:="[^"]*")?)*?)\s+href="([^"]*)"')
_HTTP = re.compile(r"https?://", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)

# Slot keys of links and of the pixel: never the name of a merge tag (tags have no ":").
_LINK_KEY = "link:{}"
OPEN_PIXEL_KEY = "open:pixel"


@dataclass(frozen=True, slots=True)
class Link:
    """One trackable link: its slot, its href as written (HTML-escaped, tags parsed), and its URL.

    `url` is `href` with the HTML entities decoded, the URL a browser would follow; `fixed_url`
    is that URL when it holds no tag, so most links cost no rendering per recipient.
    """

    key: str
    href: MergeTemplate
    url: MergeTemplate
    fixed_url: str | None


@dataclass(frozen=True, slots=True)
class TrackedHtml:
    """The HTML part with a slot per trackable link and one for the open pixel."""

    template: MergeTemplate
    links: tuple[Link, ...]

    def values(
        self,
        raw: Mapping[str, str],
        escaped: dict[str, str],
        *,
        open_url: str | None,
        click_url: Callable[[str], str] | None,
    ) -> dict[str, str]:
        """`escaped` (the recipient's values, HTML-escaped) completed with the links and the pixel.

        `raw` holds the same values unescaped: a URL is built from them, then escaped once whole.
        """
        tracked: dict[str, str] = {}  # a URL linked twice is signed once
        for link in self.links:
            url = link.fixed_url if link.fixed_url is not None else link.url.render(raw).strip()
            if click_url is None or not _HTTP.match(url):
                escaped[link.key] = link.href.render(escaped)
                continue
            if url not in tracked:
                tracked[url] = html_lib.escape(click_url(url))
            escaped[link.key] = tracked[url]
        if open_url is not None:
            escaped[OPEN_PIXEL_KEY] = pixel(open_url)
        return escaped


def pixel(open_url: str) -> str:
    """The 1x1 image whose loading records an open."""
    return (
        f'<img src="{html_lib.escape(open_url)}" width="1" height="1" alt="" border="0" '
        'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">'
    )


def _unescaped(template: MergeTemplate) -> MergeTemplate:
    """The template with HTML entities decoded in its literal text and fallbacks, tag by tag."""
    return MergeTemplate(
        tuple(html_lib.unescape(literal) for literal in template.literals),
        tuple(Slot(slot.key, html_lib.unescape(slot.fallback), slot.source) for slot in template.slots),
    )


def _trackable(href: MergeTemplate) -> bool:
    """An http(s) link, or one that starts with a tag and may turn out to be; never the unsubscribe link."""
    if UNSUBSCRIBE_LINK in href.keys:
        return False
    start = html_lib.unescape(href.literals[0]).lstrip()
    return bool(_HTTP.match(start)) or (not start and bool(href.slots))


def track(html: str, is_known: Callable[[str], bool]) -> TrackedHtml:
    """Cut serialized HTML at its merge tags, its trackable links' href values and the pixel's place."""
    ends = list(_BODY_END.finditer(html))
    pixel_at = ends[-1].start() if ends else len(html)
    pieces: list[MergeTemplate | Slot] = []
    links: list[Link] = []
    start = 0
    for match in _LINK_HREF.finditer(html, 0, pixel_at):
        href = parse(match.group(2), is_known)
        if not _trackable(href):
            continue
        url = _unescaped(href)
        link = Link(_LINK_KEY.format(len(links)), href, url, None if url.slots else url.literals[0].strip())
        links.append(link)
        pieces.append(parse(html[start : match.start(2)], is_known))
        pieces.append(Slot(link.key, "", match.group(2)))
        start = match.end(2)
    pieces.append(parse(html[start:pixel_at], is_known))
    pieces.append(Slot(OPEN_PIXEL_KEY, "", ""))
    pieces.append(parse(html[pixel_at:], is_known))
    return TrackedHtml(concat(pieces), tuple(links))
