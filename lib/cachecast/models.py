"""Per-model caching facts (minimum cacheable prefix, tokenizer factor, sampling rules).

Kept in data/models.yaml rather than code because Anthropic changes them per model."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from .errors import ConfigError


@dataclass(frozen=True)
class ModelFacts:
    family: str
    min_cache_tokens: int
    tokenizer_factor: float
    fixed_sampling: bool


@lru_cache(maxsize=1)
def _table() -> dict[str, ModelFacts]:
    raw = yaml.safe_load(resources.files("cachecast").joinpath("data/models.yaml").read_text())
    return {name: ModelFacts(family=name, **facts) for name, facts in raw["models"].items()}


def source() -> str:
    return yaml.safe_load(resources.files("cachecast").joinpath("data/models.yaml").read_text())["source"]


def known_models() -> list[str]:
    return sorted(_table())


@lru_cache(maxsize=256)
def model_facts(model: str) -> ModelFacts:
    """Match by longest prefix so dated ids (claude-sonnet-4-5-20250929) find their family.

    Memoised: the builder asks several times per request (100,000 requests: ~0.5 s of
    sorting the table over and over before this cache; see docs/benchmarks.md)."""
    name = model.lower().replace(".", "-")
    for family in sorted(_table(), key=len, reverse=True):
        if name == family or name.startswith(family + "-") or name.startswith(family + "@"):
            return _table()[family]
    raise ConfigError(
        f"model '{model}' has no caching facts in cachecast's model table; known: {', '.join(known_models())}"
    )
