"""Bounds of row ids."""

from __future__ import annotations

# Ids are BIGINT: no row can have a larger one, so a larger number names nothing (and would overflow).
MAX_ID = 2**63 - 1
