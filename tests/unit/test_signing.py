from __future__ import annotations

import pytest

from roost.kit.signing import Signer


def test_a_signed_value_comes_back_and_survives_lower_casing() -> None:
    signer = Signer("secret", "bounce")
    signed = signer.sign("1234")
    assert signer.unsign(signed) == "1234"
    assert signer.unsign(signed.upper().replace("X", "x")) == "1234"


@pytest.mark.parametrize(
    "tampered", ["1235.{sig}", "1234.{sig}0", "1234", "", ".{sig}x", "1234.deadbeef", "1234.é{sig}", "1234.\x00"]
)
def test_tampered_values_are_refused(tampered: str) -> None:
    signer = Signer("secret", "bounce")
    sig = signer.signature("1234")
    assert signer.unsign(tampered.format(sig=sig)) is None


def test_signatures_are_bound_to_their_purpose_and_key() -> None:
    signed = Signer("secret", "unsubscribe").sign("1234")
    assert Signer("secret", "bounce").unsign(signed) is None
    assert Signer("other", "unsubscribe").unsign(signed) is None


def test_the_separator_cannot_be_smuggled_into_a_value() -> None:
    with pytest.raises(ValueError, match="cannot contain"):
        Signer("secret", "x").sign("1.2")
