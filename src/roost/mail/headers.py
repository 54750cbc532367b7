"""Header syntax: domains, addresses, RFC 2047 encoded words and folding (RFC 5322, RFC 2047)."""

from __future__ import annotations

import base64
import re

# A hostname: LDH labels of at most 63 characters, at most 253 in all (RFC 1035, RFC 5890 A-labels).
_HOSTNAME = re.compile(
    r"(?=.{1,253}\Z)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\Z"
)
# Characters a phrase may show as is (atext and spaces, RFC 5322 §3.2.3); anything else is quoted.
_PLAIN_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?: [A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*\Z")
# Controls would end or corrupt a header line; CR and LF in a value are how headers get injected.
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]+")
_ADDRESS_FORBIDDEN = re.compile(r"[\x00-\x20\x7f<>()\[\]\\,;:\"]")

# RFC 5322 §2.1.1: lines SHOULD stay within 78 characters; RFC 2047 §2: an encoded word within 75.
LINE_LIMIT = 78
_WORD_PREFIX = "=?utf-8?b?"
# 42 bytes are 56 base64 characters, a 68-character word: even after "Subject: " the line stays
# within 78 characters.
_WORD_PAYLOAD_BYTES = 42


def normalize_domain(domain: str) -> str:
    """The domain in lower case ASCII (IDNA A-labels); ValueError when it is not a hostname."""
    candidate = domain.strip().rstrip(".").lower()
    if not candidate.isascii():
        try:
            candidate = candidate.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"{domain!r} is not a valid domain name") from exc
    if not _HOSTNAME.match(candidate):
        raise ValueError(f"{domain!r} is not a valid domain name")
    return candidate


def normalize_address(address: str) -> str:
    """An addr-spec fit for a header and the SMTP envelope: the domain as ASCII, the local part as given.

    A non-ASCII local part stays UTF-8 (it needs SMTPUTF8, RFC 6531); ValueError on anything that is
    not `local@domain` or that could break out of a header or an SMTP command.
    """
    local, at, domain = address.rpartition("@")
    if not at or not local or len(local) > 64 or _ADDRESS_FORBIDDEN.search(local):
        raise ValueError(f"{address!r} is not a valid email address")
    return f"{local}@{normalize_domain(domain)}"


def domain_of(address: str) -> str:
    """The normalized domain of an email address."""
    return normalize_domain(address.rpartition("@")[2])


def clean(value: str) -> str:
    """The value with line breaks and other controls turned into spaces, safe inside one header."""
    return _CONTROLS.sub(" ", value)


def encoded_words(text: str) -> list[str]:
    """The text as RFC 2047 base64 encoded words of at most 75 characters, never splitting a character."""
    words: list[str] = []
    chunk = bytearray()
    for char in text:
        encoded = char.encode("utf-8", "surrogatepass")
        if len(chunk) + len(encoded) > _WORD_PAYLOAD_BYTES:
            words.append(_WORD_PREFIX + base64.b64encode(chunk).decode("ascii") + "?=")
            chunk.clear()
        chunk += encoded
    if chunk or not words:
        words.append(_WORD_PREFIX + base64.b64encode(chunk).decode("ascii") + "?=")
    return words


def unstructured(text: str) -> str:
    """An unstructured header value (Subject) ready to fold: plain ASCII as is, otherwise encoded words."""
    text = clean(text)
    # "=?" would read as the start of an encoded word; an overlong word could not be folded.
    if text.isascii() and "=?" not in text and all(len(word) < 900 for word in text.split(" ")):
        return text
    return " ".join(encoded_words(text))


def phrase(display_name: str) -> str:
    """A display name as an RFC 5322 phrase: atoms as is, other ASCII quoted, non-ASCII encoded."""
    name = clean(display_name).strip()
    if not name:
        return ""
    if not name.isascii():
        return " ".join(encoded_words(name))
    if _PLAIN_PHRASE.match(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mailbox(display_name: str, address: str) -> str:
    """`Name <address>`, or the bare address when there is no name."""
    shown = phrase(display_name)
    return f"{shown} <{address}>" if shown else address


def header_line(name: str, value: str) -> bytes:
    """`Name: value` folded at spaces to about 78 characters and ended by CRLF.

    Folding only inserts CRLF before an existing space, so unfolding gives the value back.
    """
    line = f"{name}: {value}"
    if len(line) <= LINE_LIMIT:
        return line.encode("utf-8") + b"\r\n"
    lines: list[str] = []
    current = f"{name}:"
    for word in value.split(" "):
        if len(current) + 1 + len(word) > LINE_LIMIT and current.strip() and not current.endswith(":"):
            lines.append(current)
            current = " " + word
        else:
            current += " " + word
    lines.append(current)
    return "\r\n".join(lines).encode("utf-8") + b"\r\n"
