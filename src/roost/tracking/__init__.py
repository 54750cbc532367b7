"""What recipients do with sent mail: opens, clicks and unsubscribes (CONVENTIONS §7 stats, §8)."""
