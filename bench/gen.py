"""Generated benchmark inputs: Message Batches results files with their manifests, and run
configs of any size. Everything lands in bench/out/ (git-ignored) and is reused across runs
when the same size and seed were generated before (a stamp file records the parameters).

Results lines follow the real Message Batches shape (FACTS.md): a full Message with usage
(cache_creation split by TTL, service_tier "batch"), an answer text of realistic length
(about 4 characters per output token, with newlines, quotes and a few non-ASCII symbols
that JSON must escape), in shuffled order (results come in any order). Mixed outcomes:
~0.6% errored (three error types), ~0.3% expired, ~0.1% canceled; ~2% stop at max_tokens;
one wave of 1h cache writes, then reads, a few misses that rewrite. Message ids start with
msg_bench_ (load, not simulator output).

The writer is a template: a pool of pre-escaped answer paragraphs is sliced per line and
the JSON is formatted with f-strings, so a 1,000,000-line file (about 1.5 GB) takes
seconds, not the minutes json.dumps per line would.

    .venv/bin/python bench/gen.py results --lines 200000      # -> bench/out/results-200000/
    .venv/bin/python bench/gen.py config --requests 100000    # -> bench/out/config-100000/
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import yaml

from cachecast.facts.usage import Usage
from cachecast.facts.models import default_model

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"
GEN_VERSION = 4  # bump when the output format changes, so cached files are regenerated

TREATMENTS = ("control", "concise", "verify")
TEMPS = ((0.0, "t0"), (0.7, "t0p7"))
# the current default model of the dated table (lib/cachecast/facts/data/models.yaml `roles`): what a
# new run would use; the API echoes the id the request named
MODELS = ((default_model(), default_model()),)
SUFFIX_TOKENS = {"control": 0, "concise": 23, "verify": 37}
PREFIX_TOKENS = 1896  # the sample system prompt, estimated on the 2026 tokenizer (the pilot build's figure)
ERRORS = (("overloaded_error", "Overloaded"),
          ("invalid_request_error", "messages.0.content.0.text: text content blocks must be non-empty"),
          ("api_error", "Internal server error"))

_SENTENCES = (
    "First convert both quantities to the same unit, then compare them.",
    "The discount applies to the already reduced price, so the two percentages do not simply add.",
    "Let x be the unknown number of hours; the combined rate is 1/3 + 1/9 = 4/9 of the tank per hour.",
    "So the time is 9/4 = 2.25 hours, which is 2 hours and 15 minutes.",
    "Check: 24 × 57 + 24 × 82 = 1368 + 1968 = 3336, and 3336 / 48 = 69.5.",
    "The mean of the whole group is a weighted mean, not the mean of the two means.",
    "Rounded to two decimals the answer is ≈ 128.44 dollars.",
    'The question says "per unit", so we divide the total cost by the number of units.',
    "Step 2: subtract the fixed fee before dividing by the distance travelled.",
    "Both trains move towards each other, so their speeds add: 60 + 45 = 105 km/h.",
    "The probability of neither event is (1 − 0.3) × (1 − 0.2) = 0.56, so at least one is 0.44.",
    "Units: metres per second times seconds gives metres, as expected.",
    "A common mistake is to apply the percentage to the wrong base; here the base is the original price.",
    "Therefore the final answer is 42.",
    "Answer: 17.5 (kg).",
    "We can verify by substituting back: 3(4) + 5 = 17 ✓.",
    "The ratio 3 : 5 means 3 parts out of 8 in total, i.e. 37.5%.",
    "Interest compounds yearly, so after n years the amount is P(1 + r)^n.",
)


def _answer_pool(rng: random.Random, size: int = 4000) -> list[tuple[str, int]]:
    """Pre-escaped JSON string bodies (without quotes) of 4-32 sentences, with their length."""
    pool = []
    for _ in range(size):
        paras = []
        for _ in range(rng.randint(2, 4)):
            paras.append(" ".join(rng.choice(_SENTENCES) for _ in range(rng.randint(2, 8))))
        text = "\n\n".join(paras)
        pool.append((json.dumps(text, ensure_ascii=False)[1:-1], len(text)))
    return pool


def custom_id(i: int) -> tuple[str, str, str, float]:
    """Request i of a run: 6 requests per item (3 treatments x 2 temperatures)."""
    item = f"q{i // 6 + 1:06d}"
    treatment = TREATMENTS[i % 3]
    temp, tlabel = TEMPS[(i // 3) % 2]
    return f"{item}__{treatment}__{tlabel}__r1", item, treatment, temp


def _usage(rng: random.Random, i: int, treatment: str, out_tokens: int, first_wave: int) -> str:
    rest = rng.randint(28, 140) + SUFFIX_TOKENS[treatment]
    roll = rng.random()
    if i < first_wave or roll < 0.02:  # first wave writes; later a few best-effort misses rewrite
        create, read, w1h = PREFIX_TOKENS, 0, PREFIX_TOKENS
    elif roll < 0.025:  # a miss with no cache activity at all
        create, read, w1h = 0, 0, 0
        rest += PREFIX_TOKENS
    else:
        create, read, w1h = 0, PREFIX_TOKENS, 0
    return USAGE_TEMPLATE % (rest, create, read, w1h, out_tokens)


def _usage_template() -> str:
    """The usage JSON of a benchmark line, generated once from the one usage object
    (cachecast.facts.usage, the SDK's JSON shape): its counts are sentinels turned into %d, in
    the order _usage passes them, so each line costs one % format, not a json.dumps."""
    marks = (-9101, -9102, -9103, -9104, -9105)  # input, creation, read, 1h writes, output
    usage = Usage(input_tokens=marks[0], output_tokens=marks[4], cache_creation_input_tokens=marks[1],
                  cache_read_input_tokens=marks[2], cache_write_5m_tokens=0, cache_write_1h_tokens=marks[3],
                  service_tier="batch")
    text = json.dumps(usage.to_json(), separators=(",", ":"))
    where = [text.index(str(m)) for m in marks]
    assert where == sorted(where), "the usage template's counts are not in _usage's order"
    for m in marks:
        text = text.replace(str(m), "%d")
    return text


USAGE_TEMPLATE = _usage_template()


def result_line(rng: random.Random, i: int, pool: list[tuple[str, int]], first_wave: int) -> str:
    cid, item, treatment, _ = custom_id(i)
    roll = rng.random()
    if roll < 0.006:
        etype, msg = ERRORS[int(roll * 500) % 3]
        return ('{"custom_id":"%s","result":{"type":"errored","error":{"type":"error","error":{"type":"%s",'
                '"message":"%s"},"request_id":"req_bench_%010d"}}}\n' % (cid, etype, msg, i))
    if roll < 0.009:
        return '{"custom_id":"%s","result":{"type":"expired"}}\n' % cid
    if roll < 0.010:
        return '{"custom_id":"%s","result":{"type":"canceled"}}\n' % cid
    text, chars = pool[rng.randrange(len(pool))]
    if roll < 0.03:
        stop, out_tokens = "max_tokens", 1024
    else:
        stop, out_tokens = "end_turn", max(5, chars // 4 + rng.randint(-20, 40))
    usage = _usage(rng, i, treatment, out_tokens, first_wave)
    _, model = MODELS[0]
    return ('{"custom_id":"%s","result":{"type":"succeeded","message":{"id":"msg_bench_%016x","type":"message",'
            '"role":"assistant","model":"%s","content":[{"type":"text","text":"%s"}],"stop_reason":"%s",'
            '"stop_sequence":null,"usage":%s}}}\n' % (cid, rng.getrandbits(64), model, text, stop, usage))


def manifest_row(i: int) -> str:
    cid, item, treatment, temp = custom_id(i)
    model, _ = MODELS[0]
    return json.dumps({"custom_id": cid, "item_id": item, "treatment": treatment, "temperature": temp, "repeat": 1,
                       "model": model, "ttl": "1h", "prefix_hash": "5f0c2a9d41b7e3c8", "cacheable": True,
                       "skip_reason": None, "est_prefix_tokens": PREFIX_TOKENS,
                       "est_rest_tokens": 60 + SUFFIX_TOKENS[treatment], "breakpoints": 1,
                       "shard": f"requests-{i // 100_000 + 1:04d}.jsonl"}) + "\n"


def _fresh(stamp: Path, params: dict) -> bool:
    return stamp.exists() and json.loads(stamp.read_text()) == params


def results(lines: int, seed: int = 7) -> Path:
    """bench/out/results-N/ with results.jsonl (shuffled) and manifest.jsonl; reused when present."""
    d = OUT / f"results-{lines}"
    stamp = d / "stamp.json"
    params = {"lines": lines, "seed": seed, "version": GEN_VERSION}
    if _fresh(stamp, params):
        return d
    d.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    rng = random.Random(seed)
    pool = _answer_pool(rng)
    order = list(range(lines))
    rng.shuffle(order)
    first_wave = min(100, lines)  # one wave of 100 concurrent requests writes the 1h entry
    with open(d / "results.jsonl", "w", encoding="utf-8", buffering=1 << 22) as fh:
        fh.writelines(result_line(rng, i, pool, first_wave) for i in order)
    with open(d / "manifest.jsonl", "w", encoding="utf-8", buffering=1 << 22) as fh:
        fh.writelines(manifest_row(i) for i in range(lines))
    (d / "build.json").write_text(json.dumps({"requests": lines, "generated_by": "bench/gen.py"}) + "\n")
    stamp.write_text(json.dumps(params))
    return d


def items(n: int) -> Path:
    """An items file of n items: the 5,000 shipped items, cycled with new ids and a variant
    note so every item text is distinct (the token estimate memoises identical texts)."""
    path = OUT / f"items-{n}.jsonl"
    if path.exists() and sum(1 for _ in open(path, "rb")) == n:
        return path
    base = [json.loads(line) for line in open(REPO / "data" / "items.jsonl", encoding="utf-8") if line.strip()]
    OUT.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for k in range(n):
            item = dict(base[k % len(base)])
            item["id"] = f"q{k + 1:06d}"
            if k >= len(base):
                item["question"] = f"{item['question']} (variant {k // len(base) + 1})"
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    return path


def config(requests: int) -> Path:
    """The full reference config (3 treatments x 2 temperatures) over enough items for
    `requests` requests; absolute paths so it can live in bench/out/."""
    src = REPO / "config" / "eval_config.full.anthropic.yaml"
    raw = yaml.safe_load(src.read_text())
    n_items = -(-requests // 6)
    raw["run_name"] = f"bench{requests}"
    for key in ("system_file", "user_template_file"):
        raw["prompts"][key] = str((src.parent / raw["prompts"][key]).resolve())
    for t in raw["treatments"]:
        if "system_suffix_file" in t:
            t["system_suffix_file"] = str((src.parent / t["system_suffix_file"]).resolve())
    raw["items"]["file"] = str(items(n_items))
    raw["items"]["limit"] = n_items
    path = OUT / f"config-{requests}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    r = sub.add_parser("results")
    r.add_argument("--lines", type=int, default=200_000)
    r.add_argument("--seed", type=int, default=7)
    c = sub.add_parser("config")
    c.add_argument("--requests", type=int, default=100_000)
    args = ap.parse_args()
    print(results(args.lines, args.seed) if args.what == "results" else config(args.requests))


if __name__ == "__main__":
    main()
