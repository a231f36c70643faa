"""Prompt adapter: Anthropic gets blocks with a breakpoint on the reusable system block;
OpenAI (and anything else) gets the plain strings it always got."""
from __future__ import annotations

import json

import pytest

from _fixtures import LONG_SYSTEM
from cachecast.errors import ConfigError, InputError
from cachecast.build.prompts import iter_items, render_payload

EPHEMERAL = {"type": "ephemeral"}
CACHE_OFF = {"provider": {"request_overrides": {"cache_control": {"enable_system_cache": False}}}}
OPENAI = {"provider": {"name": "openai", "model": "gpt-4.1-mini", "request_overrides": None}}


def _render(cfg, treatment="control"):
    item = next(iter_items(cfg))
    return render_payload(cfg, item, next(t for t in cfg.treatments if t.name == treatment))


def test_anthropic_system_block_carries_the_breakpoint(project):
    payload = _render(project.load(), "concise")
    system, user = payload["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    assert system["content"] == [
        {"type": "text", "text": LONG_SYSTEM, "cache_control": EPHEMERAL},
        {"type": "text", "text": "Keep it short."},  # the arm's text sits after the breakpoint
    ]
    assert user["content"] == [{"type": "text", "text": "Problem q1 (rates):\nWhat is 1 + 1?\n"}]
    assert "tools" not in payload


def test_anthropic_without_caching_has_no_cache_control(project):
    payload = _render(project.load(CACHE_OFF), "concise")
    assert "cache_control" not in json.dumps(payload)
    assert payload["messages"][0]["content"][0] == {"type": "text", "text": LONG_SYSTEM}


def test_openai_gets_plain_strings_as_without_caching(project):
    payload = _render(project.load(OPENAI), "concise")
    assert payload == {"messages": [
        {"role": "system", "content": LONG_SYSTEM + "\n\nKeep it short."},
        {"role": "user", "content": "Problem q1 (rates):\nWhat is 1 + 1?\n"},
    ]}


def test_openai_rendering_ignores_cache_settings(project):
    """Cache options in an OpenAI config must not change what OpenAI receives."""
    plain = _render(project.load(OPENAI))
    with_opts = _render(project.load({"provider": {"name": "openai", "model": "gpt-4.1-mini", "request_overrides": {
        "cache_control": {"enable_system_cache": True, "ttl": "1h", "tools": True}}}}))
    assert plain == with_opts


def test_openai_and_uncached_anthropic_carry_the_same_text(project):
    def texts(payload):
        return [c if isinstance(c, str) else "\n\n".join(b["text"] for b in c)
                for c in (m["content"] for m in payload["messages"])]

    assert texts(_render(project.load(OPENAI), "concise")) == texts(_render(project.load(CACHE_OFF), "concise"))


def test_context_block_gets_its_own_breakpoint(project):
    project.write("units.md", "1 mile = 1.609 km")
    ctx = {"provider": {"request_overrides": {"cache_control": {"context": {"name": "units", "file": "units.md"}}}}}
    user = _render(project.load(ctx))["messages"][1]["content"]
    assert user == [{"type": "text", "text": "1 mile = 1.609 km", "cache_control": EPHEMERAL},
                    {"type": "text", "text": "Problem q1 (rates):\nWhat is 1 + 1?\n"}]
    oa = _render(project.load({**ctx, "provider": {**ctx["provider"], "name": "openai", "model": "gpt-4.1"}}))
    assert oa["messages"][1]["content"] == "1 mile = 1.609 km\n\nProblem q1 (rates):\nWhat is 1 + 1?\n"


@pytest.mark.parametrize("flag", [True, False])
def test_tools_breakpoint_only_when_asked(project, flag):
    tools = [{"name": "calc", "description": "add", "input_schema": {"type": "object"}},
             {"name": "lookup", "description": "find", "input_schema": {"type": "object"}}]
    project.write("tools.json", json.dumps(tools))
    cfg = project.load({"prompts": {"tools_file": "tools.json"},
                        "provider": {"request_overrides": {"cache_control": {"tools": flag}}}})
    got = _render(cfg)["tools"]
    assert got[0] == tools[0]
    assert got[1] == ({**tools[1], "cache_control": EPHEMERAL} if flag else tools[1])


def test_bad_tools_file(project):
    project.write("tools.json", '{"name": "calc"}')
    with pytest.raises(ConfigError, match="tools.json: tools file must be a JSON list"):
        _render(project.load({"prompts": {"tools_file": "tools.json"}}))


def test_template_field_missing_names_file_line_and_field(project):
    project.items([{"id": "a", "topic": "t", "question": "q"}, {"id": "b", "question": "q"}])
    cfg = project.load()
    items = list(iter_items(cfg))
    with pytest.raises(InputError) as exc:
        render_payload(cfg, items[1], cfg.treatments[0])
    assert str(exc.value) == f"{project.dir / 'items.jsonl'}:2: item 'b' has no field 'topic' used by the template user.txt"


def test_template_with_stray_brace_is_a_config_error(project):
    project.write("user.txt", "Answer {question\n")
    with pytest.raises(ConfigError, match="user.txt: bad template"):
        _render(project.load())


@pytest.mark.parametrize("text, message", [
    ('{"id": "a"}\nnot json\n', "items.jsonl:2: not valid JSON"),
    ('{"id": "a"}\n{"id": "a"}\n', "items.jsonl:2: duplicate item id 'a'"),
    ('{"id": "a"}\n[1, 2]\n', "items.jsonl:2: expected a JSON object per line, got list"),
    ('{"id": "a"}\n\n{"question": "no id"}\n', "items.jsonl:3: item has no 'id' field"),
    ("", "items.jsonl: no items (the file is empty)"),
    ("\n\n", "items.jsonl: no items (the file is empty)"),
])
def test_bad_items_file(project, text, message):
    project.write("items.jsonl", text)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        list(iter_items(project.load()))


def test_items_limit_and_custom_id_field(project):
    project.items([{"qid": f"x{i}", "topic": "t", "question": "q", "id": 0} for i in range(5)])
    cfg = project.load({"items": {"id_field": "qid", "limit": 2}})
    assert [i.id for i in iter_items(cfg)] == ["x0", "x1"]
