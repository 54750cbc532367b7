"""Bounces and complaints: reading DSNs and ARF reports, applying them, and the SMTP listener they arrive at."""
