"""Signed values for links and addresses that must not be forged (CONVENTIONS §8).

A signature is a truncated HMAC-SHA256 in lower-case hex: 96 bits are plenty against
guessing over the network, and hex survives mail systems that change the case of an
address's local part. Each purpose has its own key, derived from the secret key, so a
signature made for one use (an unsubscribe link) is worthless for another (a bounce address).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEX_CHARS = 24
SEPARATOR = "."


class Signer:
    def __init__(self, secret_key: str, purpose: str) -> None:
        self._key = hmac.new(secret_key.encode(), purpose.encode(), hashlib.sha256).digest()

    def signature(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:SIGNATURE_HEX_CHARS]

    def sign(self, value: str) -> str:
        """`value.signature`; the value must not contain the separator."""
        if SEPARATOR in value:
            raise ValueError(f"a signed value cannot contain {SEPARATOR!r}")
        return f"{value}{SEPARATOR}{self.signature(value)}"

    def verify(self, value: str, signature: str) -> bool:
        """Whether `signature` is the value's, in either case; in constant time, whatever the input."""
        # Compared as bytes: compare_digest refuses non-ASCII strings, and input comes from anyone.
        return hmac.compare_digest(signature.lower().encode(), self.signature(value).encode())

    def unsign(self, signed: str) -> str | None:
        """The value, or None when the signature does not match (tampered, or another purpose)."""
        value, separator, signature = signed.rpartition(SEPARATOR)
        if not separator or not self.verify(value, signature):
            return None
        return value
