"""Roost: self-hosted email marketing."""
