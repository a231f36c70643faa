"""What a run config may ask of its model, checked before any request is built.

Why before: the Batches API validates each request's params asynchronously, so a config
that asks for a removed parameter or a thinking shape the model rejects comes back as
thousands of errored lines hours later. Here it is one sentence at load time, naming the
config key and the ways out. The rules themselves live in `models` (one place for the
builder, lint and the test server); this module turns them into config errors.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import models

# room wanted for adaptive thinking: this many times the dated planning assumption of thinking
# tokens per effort (data/price_corrections.yaml, the figure projections use), because how much
# a model thinks varies with the question
THINKING_ROOM_FACTOR = 2


@dataclass
class RuleReport:
    errors: list[tuple[str, str]] = field(default_factory=list)  # (config key, sentence)
    warnings: list[str] = field(default_factory=list)


def sampling_models(api_version: str = "2023-06-01") -> list[str]:
    """Callable models that still take a non-default temperature under `api_version`."""
    return [f.id for f in models.all_models()
            if f.sampling_params(api_version) and models.lifecycle_on(f, models.today()) != "retired"]


def check_sampling(report: RuleReport, facts: models.ModelFacts, api_version: str,
                   temperatures: list[float | None], thinking_on: bool) -> None:
    temps = [t for t in temperatures if t is not None]
    if not temps:
        return
    if api_version != "2023-06-01":
        report.errors.append(("temperatures", (
            f"sets {temps[0]}, but anthropic-version {api_version} (provider.api_version, what SDK 2.x sends) "
            "removed temperature, top_p and top_k, so every request would be rejected at any value; either drop "
            "'temperatures' and use 'repeats: N' to draw N samples per item, or pin provider.api_version: "
            f"\"2023-06-01\" on a model that still accepts one ({', '.join(sampling_models())})")))
        return
    non_default = [t for t in temps if t != 1.0]
    if non_default and not facts.sampling_2023:
        report.errors.append(("temperatures", (
            f"sets {non_default[0]}, but {facts.id} rejects any non-default temperature even under 2023-06-01; "
            f"drop 'temperatures' and use 'repeats', or choose one of {', '.join(sampling_models())}")))
    elif non_default and thinking_on:
        report.errors.append(("temperatures", (
            f"sets {non_default[0]}, but with thinking on the temperature must stay at its default 1.0; "
            "drop 'temperatures' or turn thinking off")))


def thinking_on(facts: models.ModelFacts, thinking: dict[str, Any] | None) -> bool:
    kind = (thinking or {}).get("type")
    return kind in ("adaptive", "enabled") or (kind is None and facts.thinks_by_default)


def check_thinking(report: RuleReport, facts: models.ModelFacts, thinking: dict[str, Any] | None,
                   effort: str | None, max_tokens: int, fill_ratio: float, batch: bool = True) -> None:
    problem = models.thinking_problem(facts, thinking, effort, max_tokens)
    if problem:
        report.errors.append(("thinking", problem))
        return
    cap = models.output_cap(facts, models.request_betas(facts, {"max_tokens": max_tokens}), in_batch=batch)
    if cap and max_tokens > cap:
        beta = (f" (up to {facts.max_output_batch_beta:,} in a batch, with the {models.OUTPUT_300K_BETA} beta the "
                "build then records)" if facts.max_output_batch_beta and not batch else "")
        report.errors.append(("max_tokens", f"is {max_tokens:,}, above {facts.id}'s {cap:,}-token maximum output"
                              f"{beta}"))
    if thinking_on(facts, thinking):
        _room_warning(report, facts, thinking, effort, max_tokens, fill_ratio)


def _room_warning(report: RuleReport, facts: models.ModelFacts, thinking: dict[str, Any] | None,
                  effort: str | None, max_tokens: int, fill_ratio: float) -> None:
    """Thinking tokens count toward max_tokens: too little room cuts answers off mid-way."""
    answer = round(max_tokens * fill_ratio)
    room = max_tokens - answer
    budget = (thinking or {}).get("budget_tokens")
    level = effort or facts.default_effort
    need = budget if budget else _expected_thinking(level) * THINKING_ROOM_FACTOR
    if room < need:
        what = f"budget_tokens {budget:,}" if budget else f"effort {level} (planning threshold ~{need:,})"
        report.warnings.append(
            f"max_tokens {max_tokens:,} leaves ~{room:,} tokens for thinking after a ~{answer:,}-token answer "
            f"(output_fill_ratio {fill_ratio}); {facts.id} thinks at {what}, so answers may stop at max_tokens; "
            "raise max_tokens or lower thinking.effort")


def _expected_thinking(effort: str | None) -> int:
    from .pricing import thinking_assumption  # lazy: only configs whose model thinks need it

    return int(thinking_assumption().tokens_per_request.get(effort or "", 0))


def check_run(model: str, api_version: str, temperatures: list[float | None],
              thinking: dict[str, Any] | None, effort: str | None, max_tokens: int,
              fill_ratio: float, batch: bool = True) -> RuleReport:
    """Every model rule for one Anthropic run config; lifecycle is checked by the commands
    that spend money (build, lint, project, count, submit), not here, so old configs still load
    for ingest, audit and reports."""
    report = RuleReport()
    facts = models.find(model)
    if facts is None:
        report.errors.append(("provider.model", models.unknown_model_message(model)))
        return report
    if models.lifecycle_on(facts, models.today()) == "retired":
        return report  # serves no requests: the commands that spend say "retired, use X", which is the fix
    if facts.api_only:
        report.warnings.append(
            f"model {facts.id} is not in cachecast's model table: its facts come from the {facts.source}; for "
            f"what the Models API does not give cachecast assumes {', '.join(facts.assumed)}; its price comes "
            "from genai-prices or --prices, and a command that prices it stops without one")
    check_sampling(report, facts, api_version, temperatures, thinking_on(facts, thinking))
    check_thinking(report, facts, thinking, effort, max_tokens, fill_ratio, batch)
    return report
