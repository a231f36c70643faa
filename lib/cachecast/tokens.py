"""Token counts: an offline estimate (always available) and exact counts via the API.

The estimate is characters / 4.0 times the model's tokenizer factor. Against
count_tokens on English evaluation prompts it lands within about +/-20% (the error band
we report); `calibrate` fits the real ratio from an audited pilot.
"""
from __future__ import annotations

import math

from .models import model_facts

CHARS_PER_TOKEN = 4.0
ESTIMATE_ERROR_BAND = 0.20


def estimate_tokens(text: str, model: str) -> int:
    if not text:
        return 0
    return math.ceil(len(text) / CHARS_PER_TOKEN * model_facts(model).tokenizer_factor)
