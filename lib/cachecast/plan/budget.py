"""The budget rule: three figures for a run, and which of them may refuse it.

- **ceiling**: every request writes the cached prefix at the configured TTL, none reads,
  and every output reaches `max_tokens`. Thinking is billed as output and counts toward
  `max_tokens` (usage.output_tokens is the billed total, thinking included), so no request
  can bill more output than its `max_tokens`: with the prompt as counted, this is the most
  the run can cost.
- **worst expected**: the same cache worst case (concurrent requests of a batch all pay the
  write, so it can happen) at the calibrated or assumed output (answer plus thinking).
- **expected**: the expected hit rate at the configured TTL, the same output.

The budget is judged on the worst expected by default: a run of answers that all run to
`max_tokens` is a broken run, not a planning case, but the ceiling says what one would cost.
When the ceiling is above the budget and the worst expected is not, the gate warns with the
ceiling and how to lower it; `--budget-basis ceiling` makes the ceiling the figure that
refuses. Prompt tokens are whatever the projection counted (an estimate unless exact).

Imports nothing from cachecast.plan.projection (which uses it); `figures` takes a
Projection.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:
    from .projection import Projection

BASES = ("worst_expected", "ceiling")
DEFAULT_BASIS = "worst_expected"


def check_basis(basis: str) -> str:
    if basis not in BASES:
        raise InputError(f"budget basis {basis!r} is not one of {', '.join(BASES)}")
    return basis


@dataclass(frozen=True)
class BudgetFigures:
    """The three figures of one run in dollars (exact), the budget and the basis judged on."""

    ceiling: Decimal
    worst_expected: Decimal
    expected: Decimal
    budget: Decimal | None
    basis: str = DEFAULT_BASIS
    max_tokens: int | None = None  # None: unknown, the ceiling is the worst expected
    per_output_token: Decimal = Decimal(0)  # dollars of ceiling per token of max_tokens (all requests)
    ttl: str | None = None  # the TTL written in the cache worst case; None: nothing is cached
    effort: str | None = None  # thinking effort the output assumes, for the advice
    expected_hit_rate: Decimal | None = None

    @property
    def judged(self) -> Decimal:
        """The figure the budget is judged on."""
        return self.ceiling if self.basis == "ceiling" else self.worst_expected

    @property
    def within(self) -> bool | None:
        return None if self.budget is None else self.judged <= self.budget

    @property
    def ceiling_over_only(self) -> bool:
        """The ceiling is above the budget, the judged figure is not: warn, do not refuse."""
        return self.budget is not None and self.basis != "ceiling" and self.ceiling > self.budget >= self.judged

    def plus(self, extra: Decimal) -> "BudgetFigures":
        """Every figure plus money spent whatever happens (the synchronous probes)."""
        return replace(self, ceiling=self.ceiling + extra, worst_expected=self.worst_expected + extra,
                       expected=self.expected + extra)

    def max_tokens_within_budget(self) -> int | None:
        """The largest max_tokens whose ceiling fits the budget (None: no budget, no cap
        known, or even max_tokens 1 does not fit)."""
        if self.budget is None or self.max_tokens is None or self.per_output_token <= 0:
            return None
        fixed = self.ceiling - self.per_output_token * self.max_tokens  # prompt side of the ceiling
        fit = math.floor((self.budget - fixed) / self.per_output_token)
        return fit if fit >= 1 else None

    # ---------------------------------------------------------------- words

    def ceiling_words(self) -> str:
        cache = f"every request writes the {self.ttl} cache, none reads" if self.ttl else "nothing is cached"
        cap = (f"every output reaches max_tokens {self.max_tokens:,}, thinking included"
               if self.max_tokens is not None else "max_tokens unknown: output as expected")
        return f"{cache}, {cap}"

    def worst_words(self) -> str:
        cache = f"every request writes the {self.ttl} cache, none reads" if self.ttl else "nothing is cached"
        return f"{cache}, output as expected"

    def expected_words(self) -> str:
        if self.ttl and self.expected_hit_rate is not None:
            return f"{self.ttl}, {self.expected_hit_rate:.0%} hit rate"
        return "no cache"

    def summary(self) -> str:
        """The three figures in one line, and which one the budget is judged on."""
        judged = "the ceiling" if self.basis == "ceiling" else "the worst expected"
        return (f"ceiling ${self.ceiling:,.2f} ({self.ceiling_words()}); worst expected "
                f"${self.worst_expected:,.2f} ({self.worst_words()}); expected ${self.expected:,.2f} "
                f"({self.expected_words()}); a budget is judged on {judged}")

    def how_to_lower(self) -> str:
        """How to bring the ceiling down: max_tokens (to the figure that fits), and the effort
        so that fewer answers are cut off at the lower max_tokens."""
        advice = []
        fit = self.max_tokens_within_budget()
        if self.max_tokens is not None and self.per_output_token > 0:
            per_k = self.per_output_token * 1000
            head = f"lower max_tokens (now {self.max_tokens:,}; each 1,000 tokens of it is ${per_k:,.2f} of ceiling)"
            advice.append(head + (f" to at most {fit:,}" if fit is not None else ""))
        effort = f" (now {self.effort})" if self.effort else ""
        advice.append(f"lower thinking.effort{effort}, so that thinking leaves room for the answer "
                      "under a smaller max_tokens")
        return "; ".join(advice)

    def ceiling_warning(self) -> str | None:
        """The warning when only the ceiling is above the budget, else None."""
        if not self.ceiling_over_only:
            return None
        return (f"warning: the ceiling, ${self.ceiling:,.2f} ({self.ceiling_words()}), is above the "
                f"${self.budget:,.2f} budget; the worst expected, ${self.worst_expected:,.2f}, is within it. "
                f"To lower the ceiling: {self.how_to_lower()}; --budget-basis ceiling refuses on it")

    def json(self) -> dict[str, Any]:
        """The `gate` object of `project --json` (DESIGN.md)."""
        return {"ceiling_usd": _f(self.ceiling), "worst_expected_usd": _f(self.worst_expected),
                "expected_usd": _f(self.expected), "basis": self.basis}


def figures(p: "Projection", basis: str | None = None) -> BudgetFigures:
    """The three figures of a projection (basis: the projection's own unless given)."""
    from ..facts.costs import token_cost  # the one cost formula: one output token of every request

    per_token = token_cost(p.rates, output=p.requests, tier_tokens=p.tokens.system + p.tokens.user_mean).output
    return BudgetFigures(ceiling=p.ceiling.total, worst_expected=p.worst_case.total, expected=p.expected.total,
                         budget=p.budget_usd, basis=check_basis(basis or p.budget_basis), max_tokens=p.max_tokens,
                         per_output_token=per_token,
                         ttl=p.worst_case_ttl, effort=p.thinking_effort, expected_hit_rate=p.expected_hit_rate)


def _f(value: Decimal, places: int = 6) -> float:
    return float(round(value, places))
