"""Email composition (CONVENTIONS §8): compile once per email, render bytes per recipient.

`compile_email` does the expensive work once: the footer, CSS inlining (css-inline), the text part
derived from the HTML (inscriptis), merge-tag parsing, sender values, header encoding and the MIME
skeleton. `CompiledEmail.render` then only substitutes the recipient's values into pre-encoded
pieces and joins bytes, which is what lets a single process compose thousands of messages a
second; building an `email.message` per recipient costs about 1.7 ms of CPU.

Marketing email carries the footer with the postal address and unsubscribe link and the
List-Unsubscribe headers. Transactional email (a double opt-in confirmation, a notification to
the account) is compiled with `marketing=False` and carries neither: it is mail its recipient
asked for or needs, not a mailing to leave.
"""

from __future__ import annotations

import base64
import binascii
import html as html_lib
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

import css_inline
from inscriptis import get_text
from inscriptis.model.config import ParserConfig

from roost.mail.dkim import DkimKey, DkimKeyring, DkimSigner, relaxed_lines
from roost.mail.headers import (
    clean,
    domain_of,
    header_line,
    mailbox,
    normalize_address,
    normalize_domain,
    unstructured,
)
from roost.mail.links import TrackedHtml, track
from roost.mail.merge import CONTACT_EMAIL, UNSUBSCRIBE_LINK, MergeTemplate, parse, tag_recognizer

# Remote stylesheets are never fetched: an email's HTML comes from users and must not make the
# server issue requests. @media rules cannot be inlined, so they stay in a <style> tag.
_CSS_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)
_TEXT_CONFIG = ParserConfig(display_links=True)
_SAME_TEXT_LINK = re.compile(r"\[([^\]\n]+)\]\(\1\)")
_BLANK_LINES = re.compile(r"\n{3,}")
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)

# The local parts that carry a message's token back: the VERP return path and the
# List-Unsubscribe mailbox (roost.bounce reads both).
BOUNCE_LOCAL_PREFIX = "bounces+"
UNSUBSCRIBE_LOCAL_PREFIX = "unsubscribe+"
_VERP_TOKEN = re.compile(r"[A-Za-z0-9_=.-]{1,52}\Z")  # "unsubscribe+" + token stays within 64 octets
_MESSAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_=+.-]{0,127}\Z")
_HTTP_URL = re.compile(r"https?://[\x21\x23-\x3b\x3d\x3f-\x7e]+\Z")  # printable ASCII but space " < >

# Above this share of non-ASCII bytes, base64 is smaller than quoted-printable (3 bytes per byte).
_BASE64_THRESHOLD = 0.2
_QP_LINE = 76  # RFC 2045 §6.7: encoded lines of at most 76 characters


@dataclass(frozen=True, slots=True)
class Sender:
    """Who an email is from, with the postal address and footer every marketing email carries."""

    name: str
    email: str
    address: str
    company: str = ""
    footer_html: str = ""


@dataclass(frozen=True, slots=True)
class Recipient:
    """One recipient of a compiled email and the per-message values the delivery engine assigns.

    `fields` holds the contact's field values by key (first_name, last_name, custom keys);
    `verp_token` identifies the message in the bounce and unsubscribe addresses;
    `message_id` is the unique left part of the Message-ID;
    `values` holds the values of the email's own tags (`compile_email(tags=…)`), e.g. its confirmation link.
    With `open_url` the HTML part carries a pixel loading it; with `click_url` every http(s) link
    of the HTML part leads to `click_url(its URL)` instead (roost.mail.links).
    """

    email: str
    verp_token: str
    unsubscribe_url: str
    message_id: str
    name: str = ""
    fields: Mapping[str, object] = field(default_factory=dict)
    values: Mapping[str, str] = field(default_factory=dict)
    open_url: str | None = None
    click_url: Callable[[str], str] | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with an email; `inline` ones are shown in the HTML where it says `cid:<filename>`."""

    filename: str
    content_type: str
    content: bytes
    inline: bool = False


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """A message ready for SMTP: the VERP envelope sender, the Message-ID and the RFC 5322 bytes."""

    envelope_from: str
    message_id: str
    data: bytes


def footer_html(sender: Sender) -> str:
    """The sender's footer, or a plain one, with the unsubscribe link and postal address ensured."""
    is_known = tag_recognizer()
    footer = sender.footer_html.strip()
    if not footer:
        company = f"{html_lib.escape(sender.company)}<br>" if sender.company.strip() else ""
        footer = f"<p>{company}%sender.address%</p>"
    present = parse(footer, is_known).keys
    if "sender.address" not in present and html_lib.escape(sender.address.strip()) not in footer:
        footer += "<p>%sender.address%</p>"
    if UNSUBSCRIBE_LINK not in present:
        footer += '<p><a href="%unsubscribelink%">Unsubscribe</a></p>'
    return (
        '<div class="roost-footer" style="margin-top:32px;font-size:12px;line-height:18px;'
        f'color:#6b7280;text-align:center">{footer}</div>'
    )


def with_footer(html: str, footer: str) -> str:
    """The HTML with the footer placed just before its last </body>, or at the end."""
    ends = list(_BODY_END.finditer(html))
    if not ends:
        return html + footer
    at = ends[-1].start()
    return html[:at] + footer + html[at:]


def html_to_text(html: str) -> str:
    """The text/plain rendering of the HTML: layout kept, links shown as [text](url)."""
    text = get_text(html, _TEXT_CONFIG)
    text = _SAME_TEXT_LINK.sub(r"\1", text)  # a link whose text is its URL needs showing once
    text = "\n".join(line.rstrip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", text).strip("\n") + "\n"


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _qp_piece(text: str) -> bytes:
    """Quoted-printable of a piece of a part, ending at a line end so that pieces join freely.

    A piece not ending in a newline gets a soft line break (`=` CRLF), which decoders drop: this is
    what lets the invariant pieces be encoded once and only the recipient's values per message.
    """
    if not text:
        return b""
    # With LF-only input b2a_qp writes LF for hard and soft breaks alike; both become CRLF.
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")
    if encoded.endswith(b"\r\n"):
        return encoded
    line_start = encoded.rfind(b"\n") + 1
    if len(encoded) - line_start >= _QP_LINE:  # no room left for the "=" of the soft break
        cut = line_start + _QP_LINE - 1
        if encoded[cut - 1] == ord("="):
            cut -= 1
        elif encoded[cut - 2] == ord("="):
            cut -= 2  # never split an =XX escape
        encoded = encoded[:cut] + b"=\r\n" + encoded[cut:]
    return encoded + b"=\r\n"


class _Part:
    """One text/* part: its MIME headers and its template, encoded for a recipient as pieces.

    Quoted-printable pieces each end at a line end, so the literal ones (and their DKIM canonical
    form) are computed once and a message only encodes its values. A base64 part is encoded whole.
    """

    def __init__(self, subtype: str, template: MergeTemplate) -> None:
        literal_text = "".join(template.literals)
        size = len(literal_text.encode("utf-8"))
        non_ascii = size - len(literal_text.encode("ascii", "ignore"))
        self.template = template
        self.base64 = size > 0 and non_ascii / size > _BASE64_THRESHOLD
        self.content_type = f"text/{subtype}; charset=utf-8"
        self.encoding = "base64" if self.base64 else "quoted-printable"
        self.head = (f"Content-Type: {self.content_type}\r\nContent-Transfer-Encoding: {self.encoding}\r\n\r\n").encode(
            "ascii"
        )
        self._literals = tuple(_qp_piece(literal) for literal in template.literals)
        self._canonical_literals = tuple(relaxed_lines(literal) for literal in self._literals)
        self._fallbacks = tuple(_qp_piece(slot.fallback) for slot in template.slots)
        self._canonical_fallbacks = tuple(relaxed_lines(fallback) for fallback in self._fallbacks)
        self.keys = template.keys
        self._fixed = self._encode_whole(template.render({})) if self.base64 and not template.slots else None

    @staticmethod
    def _encode_whole(text: str) -> bytes:
        return base64.encodebytes(text.replace("\n", "\r\n").encode("utf-8")).replace(b"\n", b"\r\n")

    def encode(self, values: Mapping[str, str], *, canonical: bool) -> tuple[list[bytes], list[bytes]]:
        """The encoded content with the values substituted, as pieces, and with `canonical` their
        DKIM relaxed form (RFC 6376 §3.4.4), computed once per value rather than per occurrence."""
        if self.base64:
            whole = self._fixed if self._fixed is not None else self._encode_whole(self.template.render(values))
            return [whole], [whole]  # base64 lines hold no whitespace: already canonical
        encoded = {key: _qp_piece(value) for key, value in values.items()}
        pieces = [self._literals[0]]
        for slot, fallback, literal in zip(self.template.slots, self._fallbacks, self._literals[1:], strict=True):
            pieces.append(encoded.get(slot.key) or fallback)
            pieces.append(literal)
        if not canonical:
            return pieces, []
        canonical_values = {key: relaxed_lines(piece) for key, piece in encoded.items()}
        canonical_pieces = [self._canonical_literals[0]]
        for slot, fallback, literal in zip(
            self.template.slots, self._canonical_fallbacks, self._canonical_literals[1:], strict=True
        ):
            canonical_pieces.append(canonical_values.get(slot.key) or fallback)
            canonical_pieces.append(literal)
        return pieces, canonical_pieces


_date_cache: tuple[int, bytes] = (-1, b"")


def _date_line(timestamp: int) -> bytes:
    # Formatting a date costs more than the rest of a header; messages of the same second share it.
    global _date_cache
    if _date_cache[0] != timestamp:
        formatted = format_datetime(datetime.fromtimestamp(timestamp, UTC))
        _date_cache = (timestamp, f"Date: {formatted}\r\n".encode("ascii"))
    return _date_cache[1]


def _html_value(key: str, value: str) -> str:
    escaped = html_lib.escape(value)
    # A postal address is usually written on several lines; HTML would run them together.
    return escaped.replace("\n", "<br>\n") if key == "sender.address" else escaped


def _context(
    values: Mapping[str, str], keys: frozenset[str], form: Callable[[str, str], str] | None = None
) -> dict[str, str]:
    """The values a part needs, line ends normalized and, with `form`, put in that part's form."""
    if form is None:
        return {key: _lf(values[key]) for key in keys if key in values}
    return {key: form(key, _lf(values[key])) for key in keys if key in values}


_TOKEN = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+\Z")
_SAFE_PARAMETER = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,200}\Z")  # printable ASCII but " and \\


def _parameter(name: str, value: str) -> str:
    """A MIME parameter: quoted when printable ASCII, else RFC 2231 UTF-8 percent-encoding."""
    if _SAFE_PARAMETER.match(value):
        return f'{name}="{value}"'
    return f"{name}*=utf-8''{urllib.parse.quote(value, safe='')}"


def _attachment_part(attachment: Attachment) -> bytes:
    """One file as a base64 MIME part, its head included, ending with CRLF."""
    content_type = attachment.content_type if _TOKEN.match(attachment.content_type) else "application/octet-stream"
    filename = clean(attachment.filename).strip() or "attachment"
    disposition = "inline" if attachment.inline else "attachment"
    lines = [
        header_line("Content-Type", f"{content_type}; {_parameter('name', filename)}"),
        header_line("Content-Disposition", f"{disposition}; {_parameter('filename', filename)}"),
        b"Content-Transfer-Encoding: base64\r\n",
    ]
    if attachment.inline:
        # `<img src="cid:logo.png">` names the part whose Content-ID is <logo.png> (seed 003).
        lines.append(f"Content-ID: <{urllib.parse.quote(filename, safe='@.-_~!$&+=')}>\r\n".encode("ascii"))
    encoded = base64.encodebytes(attachment.content).replace(b"\n", b"\r\n")
    return b"".join((*lines, b"\r\n", encoded))


def _attachments(body_head: bytes, attachments: tuple[Attachment, ...], *, related: bool) -> tuple[str, bytes, bytes]:
    """The Content-Type of a message with files, and what goes before and after its body part.

    multipart/mixed holds the body then the attached files; with inline images and an HTML part,
    the body and those images sit together in a multipart/related first.
    """
    mixed = "=_roost_mixed_" + secrets.token_hex(8)
    opening = f"--{mixed}\r\n".encode("ascii")
    ending: list[bytes] = []
    attached = attachments
    if related:
        together = "=_roost_related_" + secrets.token_hex(8)
        opening += header_line("Content-Type", f'multipart/related; boundary="{together}"') + b"\r\n"
        opening += f"--{together}\r\n".encode("ascii")
        for attachment in attachments:
            if attachment.inline:
                ending.append(f"\r\n--{together}\r\n".encode("ascii") + _attachment_part(attachment))
        ending.append(f"\r\n--{together}--\r\n".encode("ascii"))
        attached = tuple(attachment for attachment in attachments if not attachment.inline)
    for attachment in attached:
        ending.append(f"\r\n--{mixed}\r\n".encode("ascii") + _attachment_part(attachment))
    ending.append(f"\r\n--{mixed}--\r\n".encode("ascii"))
    return f'multipart/mixed; boundary="{mixed}"', opening + body_head, b"".join(ending)


class CompiledEmail:
    """One email prepared for fast per-recipient rendering; build it with `compile_email`."""

    def __init__(
        self,
        *,
        subject: MergeTemplate,
        html: MergeTemplate | None,
        tracked_html: TrackedHtml | None,
        text: MergeTemplate,
        sender: Sender,
        message_id_domain: str,
        bounce_domain: str,
        dkim_key: DkimKey | None,
        list_unsubscribe: bool = True,
        own_tags: frozenset[str] = frozenset(),
        to_line: bytes | None = None,
        extra_lines: tuple[bytes, ...] = (),
        extra_names: tuple[str, ...] = (),
        attachments: tuple[Attachment, ...] = (),
    ) -> None:
        self.sender = sender
        self.dkim_key = dkim_key
        self.message_id_domain = message_id_domain
        self.bounce_domain = bounce_domain
        self._subject = subject
        self._subject_line = None if subject.slots else header_line("Subject", unstructured(subject.render({})))
        self._html = _Part("html", html) if html is not None else None
        # A second encoding of the HTML, cut at its links and the pixel's place, for tracked messages.
        self._tracking = tracked_html
        self._tracked_html = _Part("html", tracked_html.template) if tracked_html is not None else None
        self._text = _Part("plain", text)
        used = subject.keys | text.keys | (html.keys if html is not None else frozenset())
        self._field_keys = tuple(
            (key, key.partition(".")[2]) for key in sorted(used) if key.startswith("contact.") and key != CONTACT_EMAIL
        )
        self._own_tags = tuple(sorted(own_tags & used))
        self._list_unsubscribe = list_unsubscribe
        self._from_line = header_line("From", mailbox(sender.name, normalize_address(sender.email)))
        self._to_line = to_line
        self._extra_lines = extra_lines
        boundary = "=_roost_" + secrets.token_hex(12)  # "=_" never occurs in quoted-printable or base64
        self._html_head = self._closing = b""
        # Header lines outside the DKIM signature's list (SIGNED_HEADERS).
        self._unsigned_lines: tuple[bytes, ...] = ()
        if self._html is None:  # text only: the text part is the body, or the first part beside the files
            content_type, body_head = self._text.content_type, self._text.head
            self._text_head = b""
            if not attachments:
                self._unsigned_lines = (f"Content-Transfer-Encoding: {self._text.encoding}\r\n".encode("ascii"),)
        else:
            content_type = f'multipart/alternative; boundary="{boundary}"'
            body_head = header_line("Content-Type", content_type) + b"\r\n"
            self._text_head = f"--{boundary}\r\n".encode("ascii") + self._text.head
            self._html_head = f"\r\n--{boundary}\r\n".encode("ascii") + self._html.head
            self._closing = f"\r\n--{boundary}--\r\n".encode("ascii")
        self._opening = self._ending = b""
        if attachments:
            related = self._html is not None and any(attachment.inline for attachment in attachments)
            content_type, self._opening, self._ending = _attachments(body_head, attachments, related=related)
        self._mime_lines = (b"MIME-Version: 1.0\r\n", header_line("Content-Type", content_type))
        self._canonical_opening, self._canonical_ending = relaxed_lines(self._opening), relaxed_lines(self._ending)
        self._signer = DkimSigner(dkim_key, extra_names) if dkim_key is not None else None

    def render(self, recipient: Recipient, *, now: datetime | None = None) -> RenderedMessage:
        """The message for one recipient; ValueError when one of its addresses or ids is malformed."""
        address = normalize_address(recipient.email)
        if not _VERP_TOKEN.match(recipient.verp_token):
            raise ValueError(f"{recipient.verp_token!r} is not a valid VERP token")
        if not _MESSAGE_ID.match(recipient.message_id):
            raise ValueError(f"{recipient.message_id!r} is not a valid Message-ID left part")
        if not _HTTP_URL.match(recipient.unsubscribe_url):
            raise ValueError(f"{recipient.unsubscribe_url!r} is not a valid unsubscribe URL")
        if recipient.open_url is not None and not _HTTP_URL.match(recipient.open_url):
            raise ValueError(f"{recipient.open_url!r} is not a valid open URL")
        values = self._values(recipient)
        timestamp = int(now.timestamp()) if now is not None else int(time.time())
        message_id = f"<{recipient.message_id}@{self.message_id_domain}>"
        headers = (
            self._from_line,
            self._to_line or header_line("To", mailbox(recipient.name, address)),
            self._subject_line or header_line("Subject", unstructured(self._subject.render(values))),
            _date_line(timestamp),
            f"Message-ID: {message_id}\r\n".encode("ascii"),
            *self._mime_lines,
            *(self._list_unsubscribe_lines(recipient) if self._list_unsubscribe else ()),
            *self._extra_lines,
        )
        signed = self._signer is not None
        text, canonical_text = self._text.encode(_context(values, self._text.keys), canonical=signed)
        html, canonical_html = self._encode_html(recipient, values, canonical=signed)
        body = b"".join((self._opening, self._text_head, *text, self._html_head, *html, self._closing, self._ending))
        signature = b""
        if self._signer is not None:
            canonical = (
                self._canonical_opening,
                self._text_head,
                *canonical_text,
                self._html_head,
                *canonical_html,
                self._closing,
                self._canonical_ending,
            )
            signature = self._signer.signature_header(headers, b"".join(canonical), timestamp)
        return RenderedMessage(
            envelope_from=f"{BOUNCE_LOCAL_PREFIX}{recipient.verp_token}@{self.bounce_domain}",
            message_id=message_id,
            data=b"".join((signature, *headers, *self._unsigned_lines, b"\r\n", body)),
        )

    def _list_unsubscribe_lines(self, recipient: Recipient) -> tuple[bytes, bytes]:
        return (
            header_line(
                "List-Unsubscribe",
                f"<mailto:{UNSUBSCRIBE_LOCAL_PREFIX}{recipient.verp_token}@{self.bounce_domain}?subject=unsubscribe>, "
                f"<{recipient.unsubscribe_url}>",
            ),
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",  # RFC 8058 one-click
        )

    def _encode_html(
        self, recipient: Recipient, values: Mapping[str, str], *, canonical: bool
    ) -> tuple[list[bytes], list[bytes]]:
        if self._html is None:
            return [], []
        if (
            self._tracking is None
            or self._tracked_html is None
            or (recipient.open_url is None and recipient.click_url is None)
        ):
            return self._html.encode(_context(values, self._html.keys, _html_value), canonical=canonical)
        # The plain part's keys: they include the tags inside links, which an untracked link needs.
        escaped = self._tracking.values(
            values,
            _context(values, self._html.keys, _html_value),
            open_url=recipient.open_url,
            click_url=recipient.click_url,
        )
        return self._tracked_html.encode(escaped, canonical=canonical)

    def _values(self, recipient: Recipient) -> dict[str, str]:
        values = {CONTACT_EMAIL: recipient.email, UNSUBSCRIBE_LINK: recipient.unsubscribe_url}
        fields = recipient.fields
        for key, field_key in self._field_keys:
            value = fields.get(field_key)
            values[key] = "" if value is None else str(value)
        for key in self._own_tags:
            values[key] = recipient.values.get(key, "")
        return values


def compile_email(
    *,
    subject: str,
    html: str | None,
    sender: Sender,
    message_id_domain: str,
    bounce_domain: str,
    dkim: DkimKeyring | None = None,
    contact_fields: Collection[str] | None = None,
    marketing: bool = True,
    tags: Collection[str] = (),
    text: str | None = None,
    list_unsubscribe: bool | None = None,
    to: Sequence[str] = (),
    cc: Sequence[str] = (),
    reply_to: str | None = None,
    attachments: Sequence[Attachment] = (),
) -> CompiledEmail:
    """Prepare an email for rendering: footer, inlined CSS, text part, merge tags, tracked links, MIME skeleton.

    The DKIM key is the keyring's key for the sender's domain, if any. With `contact_fields` (the
    account's field keys), `%contact.x%` for another key is an unknown tag and stays as written.
    `tags` names the email's own merge tags, valued per recipient by `Recipient.values`. With
    `marketing=False` (transactional mail) there is no footer and no postal address is needed.
    List-Unsubscribe is written for marketing mail unless `list_unsubscribe` says otherwise.

    For mail written by an API client rather than composed here (a Bird channel message): `text` is
    its own text/plain part (else one is derived from `html`); with no `html` the email is that text
    alone; `to` and `cc` are the addresses every copy shows (else To shows the recipient);
    `reply_to` and `attachments` are added as given. ValueError when an address, the postal address
    a marketing email needs or a domain is unusable.
    """
    if marketing and not sender.address.strip():
        raise ValueError("a marketing email must show the sender's postal address")
    is_known = tag_recognizer(contact_fields, tags)
    sender_values = {
        "sender.name": sender.name,
        "sender.email": sender.email,
        "sender.company": sender.company,
        "sender.address": _lf(sender.address.strip()),
    }
    # Sender values go in before inlining so that the text part lays them out like the HTML (a
    # multi-line address). Like the body, they are the account's own text, so a tag they contain
    # is honoured rather than guarded against.
    sender_html = {key: _html_value(key, value) for key, value in sender_values.items()}
    inlined = None
    if html is not None:
        full_html = parse(with_footer(html, footer_html(sender)) if marketing else html, is_known)
        inlined = _lf(_CSS_INLINER.inline(full_html.bind(sender_html).source))
    plain = _lf(text) if text is not None else html_to_text(inlined or "")
    extra: list[tuple[str, str]] = []
    if cc:
        extra.append(("Cc", ", ".join(normalize_address(address) for address in cc)))
    if reply_to:
        extra.append(("Reply-To", normalize_address(reply_to)))
    return CompiledEmail(
        subject=parse(clean(subject), is_known).bind({key: clean(value) for key, value in sender_values.items()}),
        html=parse(inlined, is_known) if inlined is not None else None,
        tracked_html=track(inlined, is_known) if inlined is not None else None,
        text=parse(plain, is_known).bind(sender_values),
        sender=sender,
        message_id_domain=normalize_domain(message_id_domain),
        bounce_domain=normalize_domain(bounce_domain),
        dkim_key=dkim.for_domain(domain_of(sender.email)) if dkim is not None else None,
        list_unsubscribe=marketing if list_unsubscribe is None else list_unsubscribe,
        own_tags=frozenset(tags),
        to_line=header_line("To", ", ".join(normalize_address(address) for address in to)) if to else None,
        extra_lines=tuple(header_line(name, value) for name, value in extra),
        extra_names=tuple(name for name, _ in extra),
        attachments=tuple(attachments),
    )
