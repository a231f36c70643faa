"""cachecast: budget and verify Anthropic prompt caching for batch evaluations."""
__version__ = "0.1.0"
