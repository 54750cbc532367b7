"""The public face: what recipients of mail reach without a token (tracking, unsubscribe and confirmation pages)."""
