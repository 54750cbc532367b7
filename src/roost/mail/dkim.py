"""DKIM (RFC 6376): RSA keys, their DNS record, and relaxed/relaxed RSA-SHA256 signatures.

Keys live in `<data_dir>/dkim/<domain>.pem` (PKCS#8, mode 0600) beside `<domain>.selector`, a
one-line file naming the DNS selector. Signing uses OpenSSL through `cryptography`: a
pure-Python RSA signature would cost milliseconds per message.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from roost.config import Settings
from roost.mail.headers import normalize_domain

DEFAULT_SELECTOR = "roost"
# What the signature covers, in this order (the composer emits exactly these headers once each).
SIGNED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)
# RFC 8301: verifiers reject RSA keys under 1024 bits; 2048 is what providers expect today.
MIN_KEY_BITS = 1024
_SELECTOR = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\Z")
# Only runs of two or more, or a tab, change under relaxed canonicalization: matching single
# spaces too would make the substitution visit every word of the body.
_BODY_WSP_RUN = re.compile(rb"\t[ \t]*| [ \t]+")


@dataclass(frozen=True, slots=True)
class DkimKey:
    """A signing identity: the d= domain, the s= selector and the RSA private key."""

    domain: str
    selector: str
    private_key: rsa.RSAPrivateKey

    @property
    def record_name(self) -> str:
        """Where the public key is published: `<selector>._domainkey.<domain>`."""
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def record_value(self) -> str:
        """The TXT record value: `v=DKIM1; k=rsa; p=<base64 SubjectPublicKeyInfo>`."""
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode("ascii")


def normalize_selector(selector: str) -> str:
    """The selector in lower case; ValueError when it is not a sequence of DNS labels."""
    candidate = selector.strip().lower()
    if not _SELECTOR.match(candidate):
        raise ValueError(f"{selector!r} is not a valid DKIM selector")
    return candidate


def generate_key(domain: str, selector: str = DEFAULT_SELECTOR, *, bits: int = 2048) -> DkimKey:
    """A new RSA key (exponent 65537) for the domain and selector."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return DkimKey(normalize_domain(domain), normalize_selector(selector), private_key)


def private_key_pem(key: DkimKey) -> bytes:
    """The private key as unencrypted PKCS#8 PEM."""
    return key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def key_directory(settings: Settings) -> Path:
    """Where DKIM keys are kept: `<data_dir>/dkim`."""
    return settings.data_dir / "dkim"


def write_key(directory: Path, key: DkimKey, *, replace: bool = False) -> Path:
    """Store the key as `<domain>.pem` (0600) and its selector; FileExistsError unless `replace`.

    Replacing a key whose public half is in DNS breaks verification until the record changes, hence
    the explicit flag.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem_path = directory / f"{key.domain}.pem"
    if pem_path.exists() and not replace:
        raise FileExistsError(pem_path)
    _write_private(directory / f"{key.domain}.selector", key.selector.encode("ascii") + b"\n")
    _write_private(pem_path, private_key_pem(key))
    return pem_path


def _write_private(path: Path, content: bytes) -> None:
    # Written under a temporary name created 0600 and renamed, so the key is never readable by others
    # and a reader never sees half a file.
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(descriptor, content)
        os.fchmod(descriptor, 0o600)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)


def load_key(pem: bytes, *, domain: str, selector: str) -> DkimKey:
    """A key from PEM; ValueError unless it is an unencrypted RSA key of at least 1024 bits."""
    private_key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private_key, rsa.RSAPrivateKey) or private_key.key_size < MIN_KEY_BITS:
        raise ValueError("a DKIM key must be an RSA key of at least 1024 bits")
    return DkimKey(normalize_domain(domain), normalize_selector(selector), private_key)


class DkimKeyring:
    """The keys of a directory by domain, loaded once and reloaded when their files change."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache: dict[str, tuple[tuple[int, int], DkimKey]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> DkimKeyring:
        """The keyring of `<data_dir>/dkim`."""
        return cls(key_directory(settings))

    def for_domain(self, domain: str) -> DkimKey | None:
        """The key for the domain, or None when none is configured (the mail then goes unsigned)."""
        name = normalize_domain(domain)
        pem_path = self.directory / f"{name}.pem"
        selector_path = self.directory / f"{name}.selector"
        try:
            pem_stamp = pem_path.stat().st_mtime_ns
        except FileNotFoundError:
            self._cache.pop(name, None)
            return None
        try:
            selector_stamp = selector_path.stat().st_mtime_ns
        except FileNotFoundError:
            selector_stamp = -1
        stamp = (pem_stamp, selector_stamp)
        cached = self._cache.get(name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        selector = selector_path.read_text().strip() if selector_stamp >= 0 else DEFAULT_SELECTOR
        key = load_key(pem_path.read_bytes(), domain=name, selector=selector)
        self._cache[name] = (stamp, key)
        return key


def relaxed_header(line: bytes) -> bytes:
    """One header field in relaxed canonical form (RFC 6376 §3.4.2), ending in CRLF.

    Splitting on whitespace and joining with single spaces unfolds, compresses and strips in one
    pass at C speed; it differs from the letter of the RFC only on malformed folding (a CRLF not
    followed by whitespace), which no header of ours has.
    """
    name, _, value = line.partition(b":")
    return name.strip().lower() + b":" + b" ".join(value.split()) + b"\r\n"


def relaxed_lines(data: bytes) -> bytes:
    """Relaxed canonical form of whole CRLF-ended lines: WSP runs become one space, none ends a line.

    It works line by line, so the canonical form of a body is the concatenation of those of pieces
    that each end at a line end; the composer canonicalizes its invariant pieces only once.
    """
    # `in` scans at memory speed; most pieces need no regex at all.
    if b"\t" in data or b"  " in data:
        data = _BODY_WSP_RUN.sub(b" ", data)
    # After the compression a trailing run is a single space. Like dkimpy, whitespace after the
    # last CRLF is left alone (the composer's bodies always end with CRLF).
    if b" \r\n" in data:
        data = data.replace(b" \r\n", b"\r\n")
    return data


def relaxed_body(body: bytes) -> bytes:
    """The body in relaxed canonical form (RFC 6376 §3.4.4); the body must use CRLF line ends."""
    body = relaxed_lines(body)
    end = len(body)
    while body.endswith(b"\r\n", 0, end):  # empty lines at the end are ignored
        end -= 2
    return body[:end] + b"\r\n" if end else b""


class DkimSigner:
    """Signs messages for one key: relaxed/relaxed, rsa-sha256, over SIGNED_HEADERS."""

    def __init__(self, key: DkimKey, extra_headers: Sequence[str] = ()) -> None:
        """`extra_headers`: names signed after SIGNED_HEADERS, in that order (an email's Cc, Reply-To)."""
        self.key = key
        self._tags = (
            f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={key.domain}; s={key.selector};\r\n"
            f" h={':'.join(name.lower() for name in (*SIGNED_HEADERS, *extra_headers))};\r\n"
        )

    def signature_header(self, signed_lines: Sequence[bytes], canonical_body: bytes, timestamp: int) -> bytes:
        """The `DKIM-Signature: …` line to put first in the message.

        `signed_lines` are the complete header lines (name, value, CRLF) of SIGNED_HEADERS and the
        extra headers in that order (absent ones left out); `canonical_body` is `relaxed_body(body)`,
        or the same bytes built another way.
        """
        body_hash = base64.b64encode(hashlib.sha256(canonical_body).digest()).decode("ascii")
        unsigned = f"DKIM-Signature: {self._tags} t={timestamp}; bh={body_hash};\r\n b=".encode("ascii")
        # RFC 6376 §3.7: the signature header itself is hashed last, with an empty b= and no CRLF.
        signed_data = b"".join(relaxed_header(line) for line in signed_lines) + relaxed_header(unsigned)[:-2]
        signature = self.key.private_key.sign(signed_data, padding.PKCS1v15(), hashes.SHA256())
        encoded = base64.b64encode(signature)
        return unsigned + b"\r\n  ".join(encoded[i : i + 72] for i in range(0, len(encoded), 72)) + b"\r\n"
