"""Tokens: exact counts through count_tokens, each distinct text counted once and remembered in
the store; calibration of the offline estimate (facts.tokenizer) from real usage."""
