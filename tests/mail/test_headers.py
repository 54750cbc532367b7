"""Header syntax: encoded words, folding, phrases, addresses and domains."""

from __future__ import annotations

import email.policy
from email import message_from_bytes

import pytest

from roost.mail.headers import (
    encoded_words,
    header_line,
    mailbox,
    normalize_address,
    normalize_domain,
    phrase,
    unstructured,
)


def parsed_header(line: bytes, name: str) -> str:
    message = message_from_bytes(line + b"\r\nbody", policy=email.policy.default)
    return str(message[name])


@pytest.mark.parametrize("text", ["Grüße aus Köln", "日本語のメール" * 10, "🎉" * 40, "a", ""])
def test_encoded_words_stay_within_75_characters_and_decode_back(text: str) -> None:
    words = encoded_words(text)
    assert all(len(word) <= 75 for word in words)
    assert parsed_header(header_line("Subject", " ".join(words)), "Subject") == text


@pytest.mark.parametrize(
    "subject",
    [
        "Short and plain",
        "A long plain subject " * 12,
        "Spaces  kept   as  they are, even   when folded " * 4,
        "Sommerangebote für Ihre Familie – nur diese Woche " * 3,
        "looks like =?utf-8?q?an_encoded_word?=",
        "x" * 1200,
    ],
)
def test_subjects_fold_to_short_lines_and_read_back_unchanged(subject: str) -> None:
    line = header_line("Subject", unstructured(subject))
    assert line.endswith(b"\r\n")
    assert all(len(physical) <= 78 for physical in line[:-2].split(b"\r\n"))
    assert parsed_header(line, "Subject") == subject


def test_line_breaks_in_a_value_cannot_inject_a_header() -> None:
    line = header_line("Subject", unstructured("Hello\r\nBcc: victim@example.com"))
    message = message_from_bytes(line + b"\r\nbody", policy=email.policy.default)
    assert message["Bcc"] is None
    assert message["Subject"] == "Hello Bcc: victim@example.com"


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Ada Lovelace", "Ada Lovelace"),
        ("Lovelace, Ada", '"Lovelace, Ada"'),
        ('Ada "the Countess"', '"Ada \\"the Countess\\""'),
        ("", ""),
        ("  ", ""),
    ],
)
def test_ascii_display_names_are_quoted_only_when_needed(name: str, shown: str) -> None:
    assert phrase(name) == shown


@pytest.mark.parametrize("name", ["Zoë Durand", "Ada <admin@example.com>", "Lovelace, Ada", "李小龙"])
def test_mailboxes_read_back_with_name_and_address(name: str) -> None:
    message = message_from_bytes(
        header_line("To", mailbox(name, "ada@example.com")) + b"\r\nbody", policy=email.policy.default
    )
    address = message["To"].addresses[0]
    assert (address.display_name, address.addr_spec) == (name, "ada@example.com")


def test_domains_are_lowered_and_internationalized_names_become_a_labels() -> None:
    assert normalize_domain("Example.COM.") == "example.com"
    assert normalize_domain("bücher.example") == "xn--bcher-kva.example"
    assert normalize_address("Ada@Bücher.Example") == "Ada@xn--bcher-kva.example"


@pytest.mark.parametrize("domain", ["", "../etc", "exa mple.com", "-bad.com", "a..b", "x" * 64 + ".com", "a/b"])
def test_bad_domains_are_refused(domain: str) -> None:
    with pytest.raises(ValueError, match="not a valid domain"):
        normalize_domain(domain)


@pytest.mark.parametrize(
    "address", ["no-at-sign", "@example.com", "a b@example.com", "a<b@example.com", "a\r\n@example.com", "a@"]
)
def test_bad_addresses_are_refused(address: str) -> None:
    with pytest.raises(ValueError, match="not a valid"):
        normalize_address(address)
