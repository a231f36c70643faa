"""Which requests really share a cached prefix, and where the others differ.

The cache key is the exact text up to a breakpoint, so one date or trailing space in the
system prompt gives each request its own entry and the batch pays write prices throughout.
Requests are grouped by model and breakpoint position. Each treatment is expected to use
one prefix (the one most of its requests use); a treatment whose prefix is not the overall
majority's is a variant (a design choice that costs extra writes: a warning), and a request
off its treatment's prefix is drift (an error), shown with the first differing characters.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .requests import PREFIX_SEP

if TYPE_CHECKING:  # lint imports this module; avoid a cycle at runtime
    from .lint import Findings

KEEP_TEXTS = 64  # prefix texts kept per group; counts and ids are kept for every hash
SHOW_IDS = 5
CONTEXT = 40  # characters of context shown around the first difference
SEP = PREFIX_SEP  # block separator inside a prefix text, as hashed for the manifest


@dataclass
class _Cell:
    """Requests of one treatment under one prefix hash."""

    count: int = 0
    custom_ids: list[str] = field(default_factory=list)


@dataclass
class _Prefix:
    text: str | None = None
    cells: dict[str | None, _Cell] = field(default_factory=dict)  # treatment (None: unknown) -> requests

    @property
    def count(self) -> int:
        return sum(c.count for c in self.cells.values())


Group = dict[str, _Prefix]  # prefix hash -> what shares it, in first-seen order


class PrefixTracker:
    """Streams (model, breakpoint k, hash, prefix) and reports outliers at the end."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, int], Group] = {}

    def add(self, model: str, k: int, digest: str, texts: tuple[str, ...], cid: str,
            treatment: str | None) -> None:
        group = self._groups.setdefault((model, k), {})
        p = group.get(digest)
        if p is None:
            p = group[digest] = _Prefix(text=SEP.join(texts) if len(group) < KEEP_TEXTS else None)
        cell = p.cells.setdefault(treatment, _Cell())
        cell.count += 1
        if len(cell.custom_ids) < SHOW_IDS:
            cell.custom_ids.append(cid)

    def report(self, findings: Findings) -> None:
        """Per model, report the first breakpoint position where prefixes split: deeper
        breakpoints then differ too, and repeating that would bury the cause."""
        for model in dict.fromkeys(m for m, _ in self._groups):
            for k in sorted(k for m, k in self._groups if m == model):
                if _report_group(model, k, self._groups[(model, k)], findings):
                    break


def _report_group(model: str, k: int, group: Group, findings: Findings) -> bool:
    """Each treatment is expected to use one prefix (its most common one). A treatment whose
    prefix is not the majority's is a variant; a request off its treatment's prefix is drift."""
    if len(group) < 2:
        return False
    majority = max(group, key=lambda h: group[h].count)  # ties: first seen
    arms = dict.fromkeys(t for p in group.values() for t in p.cells)
    expected = {t: _expected(t, group, majority) for t in arms}
    variants: dict[str, list[str]] = {}
    for t, h in expected.items():
        if h is not None and h != majority and t is not None:
            variants.setdefault(h, []).append(t)
    for h, ts in variants.items():
        _report_variant(model, k, h, ts, group, majority, findings)
    drift = [(h, t) for h, p in group.items() for t in p.cells if expected[t] != h]
    if drift:
        _report_drift(model, k, drift, group, expected, majority, findings)
    return True


def _expected(t: str | None, group: Group, majority: str) -> str | None:
    """The prefix treatment t mostly uses; None when no two of its requests agree."""
    if t is None:
        return majority if group[majority].count > 1 else None
    counts = {h: p.cells[t].count for h, p in group.items() if t in p.cells}
    best = max(counts, key=lambda h: (counts[h], h == majority))
    return None if counts[best] == 1 and sum(counts.values()) > 1 else best


def _where(model: str, k: int) -> str:
    return f"{model}, breakpoint {k + 1}"


def _report_variant(model: str, k: int, h: str, ts: list[str], group: Group, majority: str,
                    findings: Findings) -> None:
    p, base = group[h], group[majority]
    shared = ", ".join(sorted(t for t in base.cells if t)) or "the majority"
    f = findings.add(
        "warning", "variant-breaks-shared-prefix",
        f"treatment {', '.join(sorted(ts))} has its own cached prefix ({h}), not the one shared by {shared} "
        f"({majority}) [{_where(model, k)}]; each arm pays its own cache writes",
        "for a shared-control design, put the arm's extra text after the breakpoint "
        "(treatments[].system_suffix_file instead of system_file)",
        detail=first_difference(base.text, p.text), count=sum(p.cells[t].count for t in ts))
    for t in ts:
        f.custom_ids.extend(p.cells[t].custom_ids[: max(SHOW_IDS - len(f.custom_ids), 0)])


def _report_drift(model: str, k: int, drift: list[tuple[str, str | None]], group: Group,
                  expected: dict[str | None, str | None], majority: str, findings: Findings) -> None:
    """One finding for all drifting requests of a group, showing where the first two part."""
    drift.sort(key=lambda ht: -group[ht[0]].cells[ht[1]].count)
    n = sum(group[h].cells[t].count for h, t in drift)
    total = sum(p.count for p in group.values())
    if all(h is None for h in expected.values()):
        what = f"all {n} requests have different cached prefixes"
    else:
        what = (f"{n} of {total} requests have a cached prefix unlike the rest of their treatment "
                f"({len({h for h, _ in drift})} variant(s))")
    details = []
    for h, t in drift[:2]:
        base = expected[t] or majority
        if base == h:
            base = next(other for other in group if other != h)
        details.append(first_difference(group[base].text, group[h].text))
    f = findings.add(
        "error", "prefix-drift", f"{what} [{_where(model, k)}]; they cannot read each other's cache entries",
        "make the text before the breakpoint identical in every request: move dates, ids and other "
        "per-request values after the breakpoint (into the user template) and strip stray whitespace",
        detail="; next: ".join(dict.fromkeys(details)), count=n)
    for h, t in drift:
        f.custom_ids.extend(group[h].cells[t].custom_ids[: max(SHOW_IDS - len(f.custom_ids), 0)])


def first_difference(a: str | None, b: str | None) -> str:
    """Where two prefixes part, with a little shared context, whitespace made visible."""
    if a is None or b is None:
        return "prefix text not kept (too many distinct prefixes); compare two of the listed requests"
    i = 0
    n = min(len(a), len(b))
    while i < n and a[i] == b[i]:
        i += 1
    before = _show(a[max(0, i - CONTEXT): i])
    return (f"first difference at character {i} (block {a[:i].count(SEP) + 1}), after {before}: "
            f"expected {_show(a[i: i + CONTEXT]) if i < len(a) else '(end of prefix)'}, "
            f"this has {_show(b[i: i + CONTEXT]) if i < len(b) else '(end of prefix)'}")


def _show(text: str) -> str:
    return json.dumps(text.replace(SEP, " | "), ensure_ascii=False)
