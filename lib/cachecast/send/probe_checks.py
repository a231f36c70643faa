"""The three free checks a probe makes before its one billed call (cachecast.send.probe).

Why these: a `messages.create` with `max_tokens: 0` and no cache_control validates most of a
request, but not its breakpoints (they are removed so nothing is written) and not its
max_tokens (0 is sent). So, per request shape, before that call:

1. `count_tokens` with the request as it will be sent, cache_control included (free; the
   API validates the structure there; whether it applies the breakpoint limits is not
   documented, hence 2);
2. cachecast's own batch rules, which no synchronous call can show: what only the Message
   Batches API refuses (max_tokens below 1, stream, speed) and the breakpoint rules
   (at most 4, a 5th automatic one included; the top-level TTL against the last block's own;
   1h before 5m), from the functions lint and the builder use;
3. the Models API's `max_tokens` for the model (`models.retrieve`, free), compared with the
   request's max_tokens: the real cap. Above the synchronous limit with the output-300k beta
   in a batch, the cap is the models overview's (data/models.yaml): the Models API does not
   report it and no synchronous call accepts such a max_tokens, so it is not API-validated.
"""
from __future__ import annotations

from typing import Any

from ..build.requests import cache_control_problem
from ..errors import ApiError
from ..facts import model_cache, models, request_rules


def local_problem(params: dict) -> str | None:
    """What the batch would refuse that no synchronous call can tell (see the module docstring)."""
    problem = request_rules.batch_problem(params)
    if problem:
        return problem
    if params.get("speed") not in (None, "standard"):
        return "speed: fast mode is not available in the Message Batches API"
    return cache_control_problem(params)


def count_params(params: dict) -> dict:
    """The request as count_tokens takes it: every key its SDK type declares (cache_control,
    system, messages, tools, tool_choice, thinking, output_config, speed, ...), the rest
    (max_tokens, metadata, stop_sequences, ...) left out."""
    from anthropic.types.message_count_tokens_params import MessageCountTokensParams

    from ..facts.sdk_types import fields

    accepted = fields(MessageCountTokensParams)[0]
    return {k: v for k, v in params.items() if k in accepted}


def model_cap(client: Any, model: str, betas: tuple[str, ...], seen: dict[str, Any]) -> tuple[int | None, str]:
    """(the max_tokens the API takes for `model`, where that figure comes from). One Models
    API call per model (`seen` remembers it); the answer is checked like a refresh row."""
    if model not in seen:
        info = client.models.retrieve(model)
        try:
            seen[model] = model_cache.check_row(info.model_dump(mode="json", warnings=False), "models.retrieve")
        except ValueError as exc:
            raise ApiError(f"{exc}; the probe cannot check max_tokens against it") from None
    api = seen[model]
    facts = models.find(model)
    if facts is not None and models.OUTPUT_300K_BETA in betas and facts.max_output_batch_beta:
        return facts.max_output_batch_beta, (f"the Message Batches limit with {models.OUTPUT_300K_BETA} (models "
                                             "overview; the Models API does not report it)")
    if api.get("max_tokens") is not None:
        return api["max_tokens"], f"the Models API's max_tokens for {model}"
    cap = facts.max_output if facts is not None else None
    return cap, f"cachecast's model table (the Models API gives no max_tokens for {model})"


def always_thinks(params: dict) -> bool:
    """Adaptive thinking on a model that cannot turn it off, per the model table."""
    facts = models.find(params.get("model", ""))
    return facts is not None and request_rules.always_thinks(facts, params)
