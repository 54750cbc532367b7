"""DKIM: signatures that dkimpy verifies, canonicalization as dkimpy does it, keys on disk."""

from __future__ import annotations

import base64
import os
import random
import re
import stat
from pathlib import Path

import dkim as dkimpy
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from dkim.canonicalization import Relaxed

from roost.mail import DkimKey, DkimKeyring, generate_key, write_key
from roost.mail.dkim import SIGNED_HEADERS, load_key, relaxed_body, relaxed_header
from tests.mail.test_compose import compiled, recipient

# One key for the module: RSA-2048 generation takes a noticeable fraction of a second.
KEY = generate_key("shop.example", "s2026")


def verifies(data: bytes, key: DkimKey = KEY) -> bool:
    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == f"{key.selector}._domainkey.{key.domain}.".encode()
        return key.record_value.encode()

    return bool(dkimpy.verify(data, dnsfunc=dns))


@pytest.fixture
def keyring(tmp_path: Path) -> DkimKeyring:
    write_key(tmp_path, KEY)
    return DkimKeyring(tmp_path)


def signature_tags(data: bytes) -> dict[str, str]:
    header = data.split(b"\r\n\r\n", 1)[0].decode()
    value = re.search(r"^DKIM-Signature:(.*?)\r\n(?=\S)", header, re.MULTILINE | re.DOTALL)
    assert value is not None
    tags = (tag.strip().split("=", 1) for tag in re.sub(r"\s+", "", value.group(1)).split(";") if tag.strip())
    return {name: content for name, content in tags}


def test_a_rendered_message_is_signed_and_dkimpy_verifies_it(keyring: DkimKeyring) -> None:
    message = compiled(dkim=keyring).render(recipient())
    assert message.data.startswith(b"DKIM-Signature: ")
    assert verifies(message.data)
    tags = signature_tags(message.data)
    assert (tags["v"], tags["a"], tags["c"], tags["d"], tags["s"]) == (
        "1",
        "rsa-sha256",
        "relaxed/relaxed",
        "shop.example",
        "s2026",
    )
    assert tags["h"].split(":") == [name.lower() for name in SIGNED_HEADERS]


def test_signatures_verify_with_non_ascii_text_many_tags_and_base64_parts(keyring: DkimKeyring) -> None:
    html = "<p>%contact.first_name%  and\t%contact.first_name%   </p>" * 30 + "<p>" + "日本語。" * 300 + "</p>"
    email = compiled(html=html, subject="Grüße %contact.first_name% ☀️" * 4, dkim=keyring)
    for first_name in ("Jürgen", "", "  spaced\tout  ", "x" * 200):
        message = email.render(recipient(name="Zoë Ünal", fields={"first_name": first_name}))
        assert verifies(message.data), first_name


def test_changing_a_signed_header_or_the_body_breaks_the_signature(keyring: DkimKeyring) -> None:
    data = compiled(dkim=keyring).render(recipient()).data
    assert not verifies(data.replace(b"Subject: Hi Ada", b"Subject: Hi Eve"))
    assert not verifies(data.replace(b"See the deals", b"See the ideas"))
    assert not verifies(data.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: x"))


def test_mail_from_a_domain_without_a_key_goes_unsigned(tmp_path: Path) -> None:
    message = compiled(dkim=DkimKeyring(tmp_path)).render(recipient())
    assert b"DKIM-Signature" not in message.data


def test_our_canonicalization_matches_dkimpys() -> None:
    rng = random.Random(6376)  # noqa: S311 - seeded for reproducible inputs, not secrecy
    tokens = [b"a", b"word", b" ", b"  ", b"\t", b" \t ", b"\r\n", b"=\r\n", b"\r\n\r\n"]
    for _ in range(500):
        body = b"".join(rng.choice(tokens) for _ in range(rng.randrange(0, 40)))
        assert relaxed_body(body) == Relaxed.canonicalize_body(body), body
    for line in [b"Subject:  Hello \t World  \r\n", b"To: a,\r\n\tb@example.com\r\n", b"FROM :x\r\n", b"X-A:\r\n"]:
        name, _, value = line.partition(b":")
        [(expected_name, expected_value)] = Relaxed.canonicalize_headers([(name, value)])
        assert relaxed_header(line) == expected_name + b":" + expected_value


def test_keys_are_written_private_and_never_overwritten_by_accident(tmp_path: Path) -> None:
    path = write_key(tmp_path / "dkim", KEY)
    assert path == tmp_path / "dkim" / "shop.example.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert (tmp_path / "dkim" / "shop.example.selector").read_text().strip() == "s2026"
    with pytest.raises(FileExistsError):
        write_key(tmp_path / "dkim", generate_key("shop.example", "other"))
    write_key(tmp_path / "dkim", generate_key("shop.example", "other"), replace=True)
    replaced = DkimKeyring(tmp_path / "dkim").for_domain("shop.example")
    assert replaced is not None
    assert replaced.selector == "other"


def test_the_keyring_finds_keys_by_domain_caches_them_and_sees_replacements(tmp_path: Path) -> None:
    write_key(tmp_path, KEY)
    keyring = DkimKeyring(tmp_path)
    first = keyring.for_domain("SHOP.example")
    assert first is not None
    assert first.selector == "s2026"
    assert keyring.for_domain("shop.example") is first  # cached
    assert keyring.for_domain("other.example") is None
    replacement = generate_key("shop.example", "s2027")
    write_key(tmp_path, replacement, replace=True)
    os.utime(tmp_path / "shop.example.pem", ns=(1, 1))  # a different mtime even within the clock's granularity
    reloaded = keyring.for_domain("shop.example")
    assert reloaded is not None
    assert reloaded.selector == "s2027"
    assert reloaded.record_value == replacement.record_value
    (tmp_path / "shop.example.pem").unlink()
    assert keyring.for_domain("shop.example") is None


def test_a_key_without_a_selector_file_uses_the_default_selector(tmp_path: Path) -> None:
    write_key(tmp_path, KEY)
    (tmp_path / "shop.example.selector").unlink()
    key = DkimKeyring(tmp_path).for_domain("shop.example")
    assert key is not None
    assert key.selector == "roost"


def test_the_dns_record_publishes_the_public_key() -> None:
    assert KEY.record_name == "s2026._domainkey.shop.example"
    value = KEY.record_value
    assert value.startswith("v=DKIM1; k=rsa; p=")
    public = serialization.load_der_public_key(base64.b64decode(value.split("p=", 1)[1]))
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.public_numbers() == KEY.private_key.public_key().public_numbers()


def test_only_rsa_keys_are_accepted() -> None:
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="RSA"):
        load_key(pem, domain="shop.example", selector="s1")


@pytest.mark.parametrize(("domain", "selector"), [("../x", "s1"), ("shop.example", "bad selector"), ("", "s")])
def test_bad_domains_and_selectors_are_refused(domain: str, selector: str) -> None:
    with pytest.raises(ValueError, match="not a valid"):
        generate_key(domain, selector, bits=1024)
