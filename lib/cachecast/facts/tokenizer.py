"""The offline token estimate: characters / 4.0 times the model's tokenizer factor (a dated
fact of models.yaml). Against count_tokens on English evaluation prompts it lands within about
+/-20% (the error band every estimate reports). It lives with the model facts because the
builder needs it (a prefix below the model's minimum is not cached) long before any count."""
from __future__ import annotations

import math

from .models import model_facts

CHARS_PER_TOKEN = 4.0
ESTIMATE_ERROR_BAND = 0.20


def estimate_tokens(text: str, model: str) -> int:
    return estimate_tokens_for_chars(len(text), model)


def estimate_tokens_for_chars(chars: int, model: str) -> int:
    """The estimate from a character count alone, so a caller holding several block texts
    need not join them (6 KB per request, 100,000 times, in a build)."""
    if chars <= 0:
        return 0
    return math.ceil(chars / CHARS_PER_TOKEN * model_facts(model).tokenizer_factor)
