"""Outbound HTTP to URLs an account chose (webhooks, remote media): the SSRF guard and a client that applies it."""
