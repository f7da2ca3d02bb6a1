"""OpenAI-compatible backend against a scripted HTTP server on 127.0.0.1 (real sockets)."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sampler.openai_backend import AuthError, BackendError, UnreachableError, iter_openai, sample_openai

FAST = dict(backoff_s=0.01, max_backoff_s=0.05)


class Script:
    """What the server answers: a queue of (status, body, headers); then a default reply."""

    def __init__(self, *replies, default=None, max_n=None):
        self.replies = list(replies)
        self.default = default
        self.max_n = max_n
        self.seen = []
        self.lock = threading.Lock()

    def next(self, payload):
        with self.lock:
            self.seen.append(payload)
            if self.replies:
                return self.replies.pop(0)
        if self.default:
            return self.default(payload)
        return ok(payload, self.max_n)


def ok(payload, max_n=None):
    """A well-formed reply; choice i has 2*(i+1) tokens, cut at max_tokens ("length").

    `max_n` truncates the choices like a server that caps `n` silently.
    """
    n = payload.get("n", 1)
    if max_n:
        n = min(n, max_n)
    limit = payload.get("max_tokens") or 10**9
    chat = "messages" in payload
    choices, total = [], 0
    for i in range(n):
        tokens = min(2 * (i + 1), limit)
        total += tokens
        text = f"answer {i} " * (i + 1)
        choice = {"index": i, "finish_reason": "length" if tokens == limit else "stop"}
        choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
        if payload.get("return_token_ids"):
            choice["token_ids"] = list(range(tokens))
        choices.append(choice)
    body = {"choices": choices, "usage": {"prompt_tokens": 7, "completion_tokens": total}}
    return 200, json.dumps(body).encode(), {}


@pytest.fixture
def server():
    started = []

    def start(script):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length))
                payload["_path"] = self.path
                payload["_auth"] = self.headers.get("Authorization")
                status, body, headers = script.next(payload)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        started.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}/v1"

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


def err(status, message, headers=None):
    return status, json.dumps({"error": {"message": message}}).encode(), headers or {}


REQS = [{"problem_id": "a", "messages": [{"role": "user", "content": "1+1?"}], "start": 0, "count": 3},
        {"problem_id": 7, "prompt": "2+2?", "start": 5, "count": 2}]


def test_chat_samples_have_the_store_schema(server, monkeypatch):
    monkeypatch.setenv("TEST_KEY", "sk-test")
    script = Script()
    url = server(script)
    out = sample_openai(url, "m", REQS, temperature=0.7, max_tokens=32, api_key_env="TEST_KEY", **FAST)
    assert [(s["problem_id"], s["sample_index"]) for s in out] == [
        ("a", 0), ("a", 1), ("a", 2), ("7", 5), ("7", 6)]
    first = out[0]
    assert set(first) == {"problem_id", "sample_index", "seed", "text", "prompt_tokens",
                          "completion_tokens", "finish_reason", "worker", "elapsed_s"}
    assert first["text"].startswith("answer 0") and first["prompt_tokens"] == 7
    assert [s["finish_reason"] for s in out[:3]] == ["stop", "stop", "stop"]
    # usage.completion_tokens (12) is shared out over the three choices, total kept exact
    assert sum(s["completion_tokens"] for s in out[:3]) == 12
    assert all(s["seed"] is None for s in out) and first["worker"].startswith("openai:127.0.0.1:")
    sent = script.seen[0]
    assert sent["_path"] == "/v1/chat/completions" and sent["_auth"] == "Bearer sk-test"
    assert "seed" not in sent and sent["temperature"] == 0.7 and sent["max_tokens"] == 32
    by_pid = {p["messages"][0]["content"]: p["n"] for p in script.seen}
    assert by_pid == {"1+1?": 3, "2+2?": 2}


def test_token_ids_give_exact_counts_and_completions_endpoint(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    script = Script()
    url = server(script)
    out = sample_openai(url, "m", [{"problem_id": "p", "prompt": "x", "count": 3}], chat=False,
                        top_p=None, extra_body={"return_token_ids": True}, **FAST)
    assert [s["completion_tokens"] for s in out] == [2, 4, 6]
    assert script.seen[0]["_path"] == "/v1/completions" and script.seen[0]["_auth"] is None
    assert "top_p" not in script.seen[0]


def test_apportioned_counts_use_the_length_limit(server):
    url = server(Script())
    out = sample_openai(url, "m", [{"problem_id": "p", "prompt": "x", "count": 3}], max_tokens=4, **FAST)
    assert [s["finish_reason"] for s in out] == ["stop", "length", "length"]
    assert [s["completion_tokens"] for s in out] == [2, 4, 4]


def test_429_then_200_is_retried_honouring_retry_after(server):
    script = Script(err(429, "slow down", {"Retry-After": "0.3"}))
    url = server(script)
    t0 = time.monotonic()
    out = sample_openai(url, "m", REQS[:1], **FAST)
    assert len(out) == 3 and len(script.seen) == 2
    assert time.monotonic() - t0 >= 0.3


def test_500s_are_retried_then_give_up_with_status(server):
    url = server(Script(err(500, "boom"), err(503, "busy")))
    assert len(sample_openai(url, "m", REQS[:1], **FAST)) == 3
    url = server(Script(default=lambda p: err(502, "bad gateway")))
    with pytest.raises(BackendError, match=r"after 3 attempts.*HTTP 502"):
        sample_openai(url, "m", REQS[:1], max_attempts=3, **FAST)


def test_401_fails_at_once_naming_url_and_env_var(server, monkeypatch):
    monkeypatch.delenv("MY_KEY", raising=False)
    script = Script(default=lambda p: err(401, "invalid api key"))
    url = server(script)
    with pytest.raises(AuthError) as info:
        sample_openai(url, "m", REQS[:1], api_key_env="MY_KEY", concurrency=1, **FAST)
    assert url in str(info.value) and "MY_KEY" in str(info.value) and "not set" in str(info.value)
    assert len(script.seen) == 1


def test_malformed_json_is_a_clear_error(server):
    url = server(Script(default=lambda p: (200, b"<html>not json", {})))
    with pytest.raises(BackendError, match="not JSON") as info:
        sample_openai(url, "m", REQS[:1], **FAST)
    assert url in str(info.value)
    url = server(Script(default=lambda p: (200, b'{"data": []}', {})))
    with pytest.raises(BackendError, match="choices"):
        sample_openai(url, "m", REQS[:1], **FAST)


def test_unreachable_server_names_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(UnreachableError, match=f"127.0.0.1:{port}.*after 2 attempts"):
        sample_openai(url, "m", REQS[:1], max_attempts=2, **FAST)


def test_n_is_split_by_max_n_and_by_servers_that_cap(server):
    script = Script()
    url = server(script)
    out = sample_openai(url, "m", [{"problem_id": "p", "prompt": "x", "count": 5}], max_n=2, **FAST)
    assert [s["sample_index"] for s in out] == [0, 1, 2, 3, 4]
    assert [p["n"] for p in script.seen] == [2, 2, 1]

    def strict(payload):  # rejects n > 3 like a server with a hard limit
        if payload["n"] > 3:
            return err(400, "n must be at most 3, got %d." % payload["n"])
        return ok(payload)
    script = Script(default=strict)
    url = server(script)
    out = sample_openai(url, "m", [{"problem_id": "p", "prompt": "x", "count": 7}], concurrency=1, **FAST)
    assert [s["sample_index"] for s in out] == list(range(7))
    assert [p["n"] for p in script.seen] == [7, 3, 3, 1]

    script = Script(max_n=2)  # silently returns fewer choices than asked
    url = server(script)
    out = sample_openai(url, "m", [{"problem_id": "p", "prompt": "x", "count": 5}], **FAST)
    assert [s["sample_index"] for s in out] == list(range(5))


def test_seed_is_sent_only_when_given_and_is_reproducible(server):
    script = Script()
    url = server(script)
    out1 = sample_openai(url, "m", REQS, seed=123, **FAST)
    out2 = sample_openai(url, "m", REQS, seed=123, **FAST)
    assert [s["seed"] for s in out1] == [s["seed"] for s in out2]
    assert all(isinstance(s["seed"], int) for s in out1)
    assert all("seed" in p for p in script.seen)
    assert out1[0]["seed"] != out1[3]["seed"]


def test_other_4xx_is_not_retried(server):
    script = Script(default=lambda p: err(404, "model 'm' not found"))
    url = server(script)
    with pytest.raises(BackendError, match=r"HTTP 404.*ends in /v1"):
        sample_openai(url, "m", REQS[:1], **FAST)
    assert len(script.seen) == 1


def test_bad_requests_are_rejected_before_sending():
    with pytest.raises(ValueError, match="count"):
        sample_openai("http://127.0.0.1:9/v1", "m", [{"problem_id": "p", "prompt": "x"}])
    with pytest.raises(ValueError, match="messages"):
        sample_openai("http://127.0.0.1:9/v1", "m", [{"problem_id": "p", "count": 1}])


def test_iter_yields_each_call_as_it_finishes(server):
    def slow_first(payload):
        if payload["prompt"] == "slow":
            time.sleep(1.0)
        return ok(payload)
    url = server(Script(default=slow_first))
    reqs = [{"problem_id": "slow", "prompt": "slow", "count": 1}, {"problem_id": "fast", "prompt": "fast", "count": 1}]
    t0 = time.monotonic()
    stream = iter_openai(url, "m", reqs, chat=False, concurrency=2, **FAST)
    first = next(stream)
    assert first[0]["problem_id"] == "fast" and time.monotonic() - t0 < 0.9
    assert next(stream)[0]["problem_id"] == "slow"
