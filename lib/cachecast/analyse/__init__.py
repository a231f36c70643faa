"""Analyse: what the store holds, read back: the audit (hits, dollars saved, misses explained)
and the run ledger against its budget."""
