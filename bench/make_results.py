"""Write a synthetic Message Batches results file for the ingest/audit benchmark.

Lines look like real batch results (full Message with usage and ~1 KB of answer text) so
the file size per line matches production (~1.5 KB). Mostly cache reads, some 1h writes,
a few errored/expired lines. Message ids start with msg_bench_ (not msg_sim_: these are
not simulator output, just load). Deterministic for a given seed.

    python bench/make_results.py OUT.jsonl --lines 200000 [--manifest DIR]
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

WORDS = ("the answer follows from the given rates so we multiply the quantity by the unit price "
         "then subtract the discount and check the units before rounding to two decimals").split()


_POOL: dict[int, list[str]] = {}


def _texts(words: int) -> list[str]:
    """97 answer texts of `words` words, made once (drawing words per line is the slow part)."""
    if words not in _POOL:
        rng = random.Random(words)
        _POOL[words] = [" ".join(rng.choice(WORDS) for _ in range(words)) for _ in range(97)]
    return _POOL[words]


def result_line(i: int, rng: random.Random, text_words: int) -> dict:
    cid = f"q{i // 6 + 1:06d}__{('control', 'concise', 'verify')[i % 3]}__t{('0', '0p7')[(i // 3) % 2]}__r1"
    roll = rng.random()
    if roll < 0.005:
        return {"custom_id": cid, "result": {"type": "expired"}}
    if roll < 0.01:
        return {"custom_id": cid, "result": {"type": "errored", "error": {
            "type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"},
            "request_id": f"req_bench_{i:08d}"}}}
    write = i < 40 or rng.random() < 0.03
    prefix = 1458
    usage = {"input_tokens": rng.randint(30, 90),
             "cache_creation_input_tokens": prefix if write else 0,
             "cache_read_input_tokens": 0 if write else prefix,
             "cache_creation": {"ephemeral_5m_input_tokens": 0,
                                "ephemeral_1h_input_tokens": prefix if write else 0},
             "output_tokens": rng.randint(80, 400), "service_tier": "batch"}
    text = _texts(text_words)[i % 97]
    message = {"id": f"msg_bench_{i:010d}", "type": "message", "role": "assistant",
               "model": "claude-sonnet-4-5-20250929",
               "content": [{"type": "text", "text": text}],
               "stop_reason": "end_turn", "stop_sequence": None, "usage": usage}
    return {"custom_id": cid, "result": {"type": "succeeded", "message": message}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--text-words", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with open(args.out, "w") as fh:
        for i in range(args.lines):
            fh.write(json.dumps(result_line(i, rng, args.text_words), separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
