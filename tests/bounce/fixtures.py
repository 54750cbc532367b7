"""Bounce and complaint mail as real MTAs and feedback loops write it (samples/*.eml).

The samples hold placeholders for what differs per test: {{RETURN_PATH}} (the VERP address the
original went out with), {{RECIPIENT}} (the address that bounced or complained), {{TOKEN}}
(the message token in the returned List-Unsubscribe header) and {{FBL_ADDRESS}} (where a
feedback loop sends its reports).
"""

from __future__ import annotations

import re
from pathlib import Path

SAMPLES = Path(__file__).parent / "samples"
_PLACEHOLDER = re.compile(rb"\{\{([A-Z_]+)\}\}")


def sample(name: str, **values: str) -> bytes:
    """The sample with every placeholder filled from `values` (lower-case keys); a missing one is an error."""
    data = (SAMPLES / f"{name}.eml").read_bytes().replace(b"\n", b"\r\n")
    return _PLACEHOLDER.sub(lambda found: values[found.group(1).decode().lower()].encode(), data)
