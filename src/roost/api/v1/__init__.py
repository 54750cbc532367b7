"""The BirdSend-compatible face: /v1 (seeds 000, 001, 002; CONVENTIONS §5–§7)."""
