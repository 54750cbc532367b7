"""Who receives mail: saved segments and the recipient groups of broadcasts (CONVENTIONS §7)."""
