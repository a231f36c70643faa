"""The API key never leaves ANTHROPIC_API_KEY (issue 7): not into error messages, even when
the server echoes it back, not into configs or files cachecast writes.

(The submit flow's own secrets test is in test_api.py; the full run with reports and the
database is scanned in test_report_safety.py.)
"""
from __future__ import annotations

import ast
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cachecast.cli import main

KEY = "sk-ant-api03-CANARYkey-7d1e0c55a9b84f2e-do-not-leak"
LIB = Path(__file__).resolve().parents[1] / "lib" / "cachecast"
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*(KEY|TOKEN|SECRET)$")  # an environment variable holding a secret


def run(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


class _Echo(BaseHTTPRequestHandler):
    """A hostile server: every answer is an error whose message quotes the key it was sent."""

    status = 401

    def log_message(self, *args) -> None:
        pass

    def _reply(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        key = self.headers.get("x-api-key") or self.headers.get("authorization", "").removeprefix("Bearer ")
        self.server.seen_keys.append(key)
        body = json.dumps({"type": "error", "error": {
            "type": "authentication_error" if self.status == 401 else "invalid_request_error",
            "message": f"invalid x-api-key: {key} (full key: {key})"}}).encode()
        self.send_response(self.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("x-should-retry", "false")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _reply


@pytest.fixture(autouse=True)
def own_token_store(tmp_path, monkeypatch):
    """count --exact remembers counts in a store; a shared one would answer without a call."""
    monkeypatch.setenv("CACHECAST_DB", str(tmp_path / "token-counts.duckdb"))


@pytest.fixture(params=[401, 400, 500], ids=["401", "400", "500"])
def echo_server(request, monkeypatch):
    handler = type("Handler", (_Echo,), {"status": request.param})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.seen_keys = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def small_build(project, capsys) -> Path:
    out = project.dir / "build"
    assert run(capsys, "build", project.config(), "--out", out)[0] == 0
    return out


def _assert_redacted_error(rc: int, out: str, err: str, command: str) -> None:
    assert KEY not in out + err, err
    assert "CANARYkey" not in out + err  # not even a fragment long enough to recognise
    assert rc == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith(f"cachecast {command}: error: "), err


@pytest.mark.parametrize("command", ["submit", "count", "status"])
def test_api_errors_that_echo_the_key_are_redacted(echo_server, small_build, capsys, command):
    argv = {"submit": ["submit", small_build, "--force", "--max-retries", "0"],
            "count": ["count", small_build, "--exact"],
            "status": ["status", "msgbatch_0123456789", "--max-retries", "0"]}[command]
    rc, out, err = run(capsys, *argv)
    assert echo_server.seen_keys and set(echo_server.seen_keys) == {KEY}  # the server did echo it
    _assert_redacted_error(rc, out, err, command)
    if echo_server.RequestHandlerClass.status != 401:
        assert "[redacted]" in err  # the server's message got through, minus the key
    for path in small_build.rglob("*"):  # nothing the command wrote down holds it either
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_key_with_a_trailing_newline_is_still_redacted(monkeypatch, capsys):
    """A key pasted from a CRLF file carries '\\r'; messages quote the key without it."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY + "\r\n")
    from cachecast.errors import ApiError, redact

    assert KEY not in redact(f"server said: bad key {KEY}")

    def boom(args):
        raise ApiError(f"the server quoted {KEY}")

    import argparse
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args",
                        lambda self, argv=None: argparse.Namespace(run=boom, command="status"))
    rc, out, err = run(capsys, "status", "x")
    assert rc == 2 and KEY not in err and "[redacted]" in err


def test_internal_errors_are_redacted_too(monkeypatch, capsys):
    """A bug of ours whose exception text holds the key: still one redacted line, exit 3."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)

    def boom(args):
        raise RuntimeError(f"unexpected state while holding {KEY}")

    import argparse
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args",
                        lambda self, argv=None: argparse.Namespace(run=boom, command="audit"))
    rc, out, err = run(capsys, "audit")
    assert rc == 3 and KEY not in err and "internal error" in err and "Traceback" not in err


def test_a_key_in_the_config_is_refused_without_echoing_it(project, capsys, monkeypatch):
    """There is no config key for the API key; putting one there is an error that names the
    setting, never its value (even when ANTHROPIC_API_KEY holds something else)."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-some-other-key-0000")
    for changes in ({"provider": {"api_key": KEY}}, {"api_key": KEY}, {"anthropic_api_key": KEY}):
        rc, out, err = run(capsys, "build", project.config(changes), "--out", project.dir / "out")
        assert rc == 2 and "unknown key" in err and KEY not in out + err


def test_the_key_is_read_from_the_environment_only():
    """Static: every read of the key is os.environ[...ANTHROPIC_API_KEY...]; no module reads a key
    file, a config field or another variable, and no SDK client is made with a literal key."""
    reads, clients = [], []
    for path in sorted(LIB.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and ENV_NAME.match(node.value):
                reads.append((path.name, node.value))
            if isinstance(node, ast.keyword) and node.arg == "api_key":
                clients.append((path.name, ast.unparse(node.value)))
    # ANTHROPIC_ADMIN_KEY: the Admin API key of `cachecast reconcile` (send.api.admin_key), redacted alike
    assert {name for _, name in reads} == {"ANTHROPIC_API_KEY", "ANTHROPIC_ADMIN_KEY"}, reads
    assert all(not value.startswith(("'", '"')) for _, value in clients), clients
    from cachecast.build.config import RunConfig

    def fields(model) -> set[str]:
        names = set(model.model_fields)
        for f in model.model_fields.values():
            sub = getattr(f.annotation, "model_fields", None)
            if sub:
                names |= fields(f.annotation)
        return names

    assert not any("key" in n.lower() or "secret" in n.lower() for n in fields(RunConfig))


def test_count_works_with_a_key_ending_in_a_newline(fake_api, small_build, capsys, monkeypatch):
    """The SDK refuses a header value with '\r\n' and says only "Connection error": strip it."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY + "\r\n")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_api.url)
    rc, out, err = run(capsys, "count", small_build, "--exact", "--json")
    assert rc == 0, err
    assert json.loads(out) and KEY not in out + err
