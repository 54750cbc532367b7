"""One-off emails to the contacts that condition groups select (CONVENTIONS §7: broadcasts)."""
