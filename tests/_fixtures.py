"""Fixtures for the foundation tests (config, prompts, requests, batches, lint).

`project` makes a small, self-contained run in a temp dir (prompt files, items, a config
writer) so each test states only what it changes; `pilot_build` builds the shipped pilot
config once per session because several test files lint or inspect it.
"""
from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import roles

REPO = Path(__file__).resolve().parents[1]
PILOT = REPO / "config" / "eval_config.pilot.anthropic.yaml"
PILOT_OPENAI = REPO / "config" / "eval_config.pilot.openai.yaml"
FULL = REPO / "config" / "eval_config.full.anthropic.yaml"

MODEL = roles.default()  # the current default, which the shipped configs use
# ~1,950 estimated tokens on the 2026 tokenizer (6,000+ chars / 4 x 1.3): above MODEL's minimum.
LONG_SYSTEM = "".join(f"Rule {i}: answer precisely, show each step, and state units clearly.\n"
                      for i in range(90))
SHORT_SYSTEM = "x" * 1200  # ~390 estimated tokens (300 x 1.3): below MODEL's minimum
# the project fixture's prompts are sized for MODEL's cache minimum: say so when a new default moves it
_EST = {name: math.ceil(len(text) / 4 * roles.facts(MODEL).tokenizer_factor)
        for name, text in (("SHORT_SYSTEM", SHORT_SYSTEM), ("LONG_SYSTEM", LONG_SYSTEM))}
assert _EST["SHORT_SYSTEM"] < roles.facts(MODEL).min_cache_tokens < _EST["LONG_SYSTEM"], (
    f"tests/_fixtures.py: resize SHORT_SYSTEM / LONG_SYSTEM ({_EST}) around the default model {MODEL}'s "
    f"{roles.facts(MODEL).min_cache_tokens}-token cache minimum")


def base_config() -> dict[str, Any]:
    return {
        "run_name": "t",
        "provider": {"name": "anthropic", "model": MODEL,
                     "request_overrides": {"cache_control": {"ttl": "1h"}}},
        "prompts": {"system_file": "system.md", "user_template_file": "user.txt"},
        "items": {"file": "items.jsonl"},
        "treatments": [{"name": "control"}, {"name": "concise", "system_suffix_file": "concise.md"}],
        # room for a ~410-token answer plus thinking at the default effort, for a MODEL that thinks by default
        "max_tokens": 4096,
        "output_fill_ratio": 0.1,
    }


def merge(base: dict, changes: dict) -> dict:
    """Deep-merge `changes` into a copy of `base`; a value of None deletes the key."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass
class Project:
    dir: Path

    def write(self, name: str, text: str) -> Path:
        path = self.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def items(self, rows: list[dict], name: str = "items.jsonl") -> Path:
        return self.write(name, "".join(json.dumps(r) + "\n" for r in rows))

    def config(self, changes: dict | None = None, name: str = "cfg.yaml") -> Path:
        return self.write(name, yaml.safe_dump(merge(base_config(), changes or {}), sort_keys=False))

    def load(self, changes: dict | None = None):
        from cachecast.build.config import load_config

        return load_config(self.config(changes))


@pytest.fixture
def project(tmp_path: Path) -> Project:
    p = Project(tmp_path)
    p.write("system.md", LONG_SYSTEM)
    p.write("user.txt", "Problem {id} ({topic}):\n{question}\n")
    p.write("concise.md", "Keep it short.")
    p.write("verify.md", "Add a Check: line.")
    p.items([{"id": f"q{i}", "topic": "rates", "question": f"What is {i} + {i}?"} for i in range(1, 4)])
    return p


@pytest.fixture(scope="session")
def pilot_build(tmp_path_factory) -> Path:
    """The shipped pilot config built once (1,200 requests); tests must not modify it."""
    from cachecast.build.batches import build
    from cachecast.build.config import load_config

    out = tmp_path_factory.mktemp("pilot") / "build"
    build(load_config(PILOT), out, progress=False)
    return out


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
