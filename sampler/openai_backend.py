"""Sample from any OpenAI-compatible HTTP server: `vllm serve`, SGLang, hosted APIs.

Used for models that live on another machine and for single-shot frontier baselines. Each
request asks for `count` samples of one prompt through the API's `n`, so the server computes
the prompt once; requests run concurrently so the server's batch stays full.

Plain `urllib` rather than the `openai` client: the retry policy (which statuses, how long,
Retry-After, what to say on 401) is the point of this module and is easier to own outright
than to wrap around the client's own retries, the responses are small JSON documents, and the
sampler gains no dependency.

Per-request `seed` is off unless `seed` is given: the CPU build of vLLM crashes on seeded
requests, and hosted APIs treat seeds as best effort anyway.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Iterable, Iterator

from .seeds import sample_seed

DEFAULT_MAX_N = 128  # OpenAI's documented ceiling for `n`; vLLM allows far more.
_RETRY_STATUSES = {408, 409, 425, 429}  # plus every 5xx
_MAX_RETRY_AFTER_S = 600.0  # a server asking for longer is treated as asking for this


class BackendError(RuntimeError):
    """The server answered in a way sampling cannot continue from."""


class AuthError(BackendError):
    """401/403: the key is missing or wrong; retrying will not help."""


class UnreachableError(BackendError):
    """No answer from the server after every retry."""


def sample_openai(base_url: str, model: str, requests: Iterable[dict], *, n: int | None = None,
                  temperature: float | None = 1.0, top_p: float | None = None,
                  max_tokens: int | None = 512, api_key_env: str = "OPENAI_API_KEY", chat: bool = True,
                  concurrency: int = 8, seed: int | None = None, timeout: float = 600.0,
                  max_n: int = DEFAULT_MAX_N, max_attempts: int = 6, backoff_s: float = 1.0,
                  max_backoff_s: float = 60.0, extra_body: dict | None = None) -> list[dict]:
    """All samples for `requests`, ordered by request then sample_index.

    A request is {"problem_id", "messages" or "prompt", "start", "count"}; `count` defaults to
    `n`, `start` to 0. Sample indices run start .. start+count-1. See `iter_openai` for the rest.
    """
    reqs = list(requests)
    order: dict[str, int] = {}
    for i, req in enumerate(reqs):
        order.setdefault(str(req.get("problem_id")), i)
    out: list[dict] = []
    for batch in iter_openai(base_url, model, reqs, n=n, temperature=temperature, top_p=top_p,
                             max_tokens=max_tokens, api_key_env=api_key_env, chat=chat,
                             concurrency=concurrency, seed=seed, timeout=timeout, max_n=max_n,
                             max_attempts=max_attempts, backoff_s=backoff_s,
                             max_backoff_s=max_backoff_s, extra_body=extra_body):
        out.extend(batch)
    out.sort(key=lambda s: (order[s["problem_id"]], s["sample_index"]))
    return out


def iter_openai(base_url: str, model: str, requests: Iterable[dict], *, n: int | None = None,
                temperature: float | None = 1.0, top_p: float | None = None,
                max_tokens: int | None = 512, api_key_env: str = "OPENAI_API_KEY", chat: bool = True,
                concurrency: int = 8, seed: int | None = None, timeout: float = 600.0,
                max_n: int = DEFAULT_MAX_N, max_attempts: int = 6, backoff_s: float = 1.0,
                max_backoff_s: float = 60.0, extra_body: dict | None = None) -> Iterator[list[dict]]:
    """Yield each finished HTTP call's samples as soon as it completes, for streaming to the store.

    - Each sample's `worker` is "openai:<host:port>"; `elapsed_s` is its share of the wall time
      of the HTTP call that produced it (the call's time split evenly among its choices); `prompt_tokens` is the prompt's
      length, repeated on each sample.
    - `n` is the default `count` for requests that carry none.
    - `max_n`: most samples asked for in one call; larger counts are split. A server that
      rejects `n` (HTTP 400 naming it) or returns fewer choices than asked is asked again for
      the rest, and the smaller size is remembered for later calls.
    - `seed`: when given, each call sends a seed derived from (seed, problem_id, first sample
      index), recorded as every sample's `seed`; when None, no seed is sent and `seed` is None.
    - `extra_body`: merged into every payload (for example {"return_token_ids": True} on vLLM,
      which makes each sample's `completion_tokens` exact instead of apportioned).
    - None for `temperature`, `top_p` or `max_tokens` leaves the field out (some hosted
      reasoning models reject them).
    - The API key is read from the environment variable `api_key_env`; unset is fine for local
      servers. 401/403 raise AuthError at once; 429, 408, 5xx and connection errors are retried
      with exponential backoff and jitter, honouring Retry-After, up to `max_attempts` tries.
    """
    client = _Client(base_url, api_key_env, timeout, max_attempts, backoff_s, max_backoff_s)
    endpoint = "/chat/completions" if chat else "/completions"
    cap = _Cap(max(1, max_n))
    units = [_unit(req, n, chat) for req in requests]

    def run(unit: dict) -> list[dict]:
        return _sample_unit(client, endpoint, model, unit, chat=chat, temperature=temperature,
                            top_p=top_p, max_tokens=max_tokens, seed=seed, cap=cap,
                            extra_body=extra_body)

    if not units:
        return
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="openai") as pool:
        pending = {pool.submit(run, u) for u in units}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        finally:
            for fut in pending:
                fut.cancel()


def _unit(req: dict, n: int | None, chat: bool) -> dict:
    """Validate one request and normalise it to problem_id/input/start/count."""
    if "problem_id" not in req:
        raise ValueError(f"request without 'problem_id': {sorted(req)}")
    pid = str(req["problem_id"])
    count = req.get("count", n)
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"request {pid!r}: 'count' (or n=) must be a positive integer, got {count!r}")
    start = req.get("start", 0)
    if chat:
        messages = req.get("messages")
        if messages is None and isinstance(req.get("prompt"), str):
            messages = [{"role": "user", "content": req["prompt"]}]
        if not messages:
            raise ValueError(f"request {pid!r}: chat=True needs 'messages' (or a string 'prompt')")
        body = {"messages": messages}
    else:
        if "prompt" not in req:
            raise ValueError(f"request {pid!r}: chat=False needs 'prompt' (completions endpoint)")
        body = {"prompt": req["prompt"]}
    return {"problem_id": pid, "body": body, "start": int(start), "count": count}


class _Cap:
    """Largest `n` the server has accepted so far, shared by all threads."""

    def __init__(self, value: int):
        self.value = value
        self._lock = threading.Lock()

    def lower(self, value: int) -> None:
        with self._lock:
            self.value = max(1, min(self.value, value))


def _sample_unit(client: "_Client", endpoint: str, model: str, unit: dict, *, chat: bool,
                 temperature, top_p, max_tokens, seed, cap: _Cap, extra_body) -> list[dict]:
    """Every sample of one unit, splitting by the server's cap on `n`."""
    samples: list[dict] = []
    next_index, end = unit["start"], unit["start"] + unit["count"]
    while next_index < end:
        ask = min(cap.value, end - next_index)
        payload = {"model": model, **unit["body"], "n": ask}
        for key, value in (("temperature", temperature), ("top_p", top_p), ("max_tokens", max_tokens)):
            if value is not None:
                payload[key] = value
        call_seed = None if seed is None else sample_seed(seed, unit["problem_id"], next_index)
        if call_seed is not None:
            payload["seed"] = call_seed
        if extra_body:
            payload.update(extra_body)
        t0 = time.monotonic()
        try:
            data = client.post(endpoint, payload)
        except _NTooLarge as err:
            if ask == 1:
                raise BackendError(f"{client.url(endpoint)} rejects n=1: {err}") from None
            cap.lower(err.limit if err.limit and err.limit < ask else ask // 2)
            continue
        elapsed = time.monotonic() - t0
        got = _parse(data, client.url(endpoint), chat, max_tokens)
        if not got:
            raise BackendError(f"{client.url(endpoint)} returned no choices for problem "
                               f"{unit['problem_id']!r} (asked n={ask})")
        got = got[:ask]
        if len(got) < ask:
            cap.lower(len(got))
        for offset, choice in enumerate(got):
            samples.append({
                "problem_id": unit["problem_id"],
                "sample_index": next_index + offset,
                "seed": call_seed,
                "text": choice["text"],
                "prompt_tokens": choice["prompt_tokens"],
                "completion_tokens": choice["completion_tokens"],
                "finish_reason": choice["finish_reason"],
                "worker": client.worker,
                "elapsed_s": elapsed / len(got),
            })
        next_index += len(got)
    return samples


def _parse(data, url: str, chat: bool, max_tokens: int | None = None) -> list[dict]:
    """Choices in index order, each with text, finish_reason and per-sample token counts.

    Completion tokens come from the choice's `token_ids` when the server returns them, from
    `usage` when there is one choice, and otherwise from `usage.completion_tokens` shared out:
    a choice cut at the length limit has exactly `max_tokens`, the rest is split in proportion
    to text length (approximate per sample, the total stays exact).
    """
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        raise BackendError(f"{url} answered without a 'choices' list: {_snippet(data)}")
    usage = data.get("usage") or {}
    choices = sorted(data["choices"], key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)
    parsed = []
    for c in choices:
        if not isinstance(c, dict):
            raise BackendError(f"{url} returned a malformed choice: {_snippet(c)}")
        if chat:
            message = c.get("message") or {}
            text = message.get("content") or ""
        else:
            text = c.get("text") or ""
        ids = c.get("token_ids")
        parsed.append({"text": text, "finish_reason": c.get("finish_reason"),
                       "completion_tokens": len(ids) if isinstance(ids, list) else None})
    prompt_tokens = usage.get("prompt_tokens")
    if prompt_tokens is None and isinstance(data.get("prompt_token_ids"), list):
        prompt_tokens = len(data["prompt_token_ids"])
    total = usage.get("completion_tokens")
    if any(p["completion_tokens"] is None for p in parsed):
        _apportion(parsed, total, max_tokens)
    for p in parsed:
        p["prompt_tokens"] = prompt_tokens
    return parsed


def _apportion(parsed: list[dict], total, max_tokens: int | None) -> None:
    """Fill missing completion_tokens from the call's `total`, keeping the sum where possible."""
    if total is None:
        return
    if len(parsed) == 1:
        parsed[0]["completion_tokens"] = int(total)
        return
    total = int(total)
    open_ = []
    for p in parsed:
        if p["completion_tokens"] is not None:
            total -= p["completion_tokens"]
        elif max_tokens and p["finish_reason"] == "length":
            p["completion_tokens"] = max_tokens
            total -= max_tokens
        else:
            open_.append(p)
    if not open_:
        return
    total = max(0, total)
    weights = [max(1, len(p["text"])) for p in open_]
    scale = total / sum(weights)
    shares = [int(w * scale) for w in weights]
    rest = total - sum(shares)
    by_remainder = sorted(range(len(open_)), key=lambda i: -(weights[i] * scale - shares[i]))
    for i in by_remainder[:rest]:
        shares[i] += 1
    for p, share in zip(open_, shares):
        p["completion_tokens"] = min(share, max_tokens) if max_tokens else share


class _NTooLarge(Exception):
    def __init__(self, message: str, limit: int | None):
        super().__init__(message)
        self.limit = limit


class _Client:
    """POST JSON with the retry policy; one instance per sampling call, shared by threads."""

    def __init__(self, base_url: str, api_key_env: str, timeout: float, max_attempts: int,
                 backoff_s: float, max_backoff_s: float):
        self.base = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.key = os.environ.get(api_key_env) or None
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.worker = "openai:" + (urllib.parse.urlsplit(self.base).netloc or self.base)

    def url(self, endpoint: str) -> str:
        return self.base + endpoint

    def post(self, endpoint: str, payload: dict):
        url = self.url(endpoint)
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        last = ""
        for attempt in range(self.max_attempts):
            retry_after = None
            try:
                req = urllib.request.Request(url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    raw = resp.read()
                return _decode(raw, url)
            except urllib.error.HTTPError as err:
                status, text = err.code, _read(err)
                if status in (401, 403):
                    state = "is set but was refused" if self.key else "is not set"
                    raise AuthError(f"{url} answered HTTP {status}: the API key {state}; put a valid "
                                    f"key in the environment variable {self.api_key_env} "
                                    f"(server said: {text[:200]})") from None
                if status in _RETRY_STATUSES or status >= 500:
                    last = f"HTTP {status}: {text[:200]}"
                    retry_after = _retry_after(err.headers.get("Retry-After"))
                elif status in (400, 422) and payload.get("n", 1) > 1 and _mentions_n(text):
                    raise _NTooLarge(text[:200], _n_limit(text)) from None
                else:
                    hint = " (check base_url, which usually ends in /v1, and the model name)" \
                        if status == 404 else ""
                    raise BackendError(f"{url} answered HTTP {status}{hint}: {text[:300]}") from None
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout,
                    TimeoutError) as err:
                reason = getattr(err, "reason", err)
                last = f"{type(err).__name__}: {reason}"
            if attempt + 1 < self.max_attempts:
                time.sleep(self._delay(attempt, retry_after))
        if last.startswith("HTTP"):
            raise BackendError(f"{url} still failing after {self.max_attempts} attempts; last answer {last}")
        raise UnreachableError(f"could not reach {url} after {self.max_attempts} attempts ({last}); "
                               "is the server running and is base_url right?")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Jittered exponential backoff, never shorter than the server's Retry-After."""
        ceiling = min(self.max_backoff_s, self.backoff_s * (2 ** attempt))
        delay = random.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            delay = max(delay, min(retry_after, _MAX_RETRY_AFTER_S))
        return delay


def _decode(raw: bytes, url: str):
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BackendError(f"{url} returned a body that is not JSON: {raw[:200]!r}") from None


def _read(err: urllib.error.HTTPError) -> str:
    try:
        raw = err.read()
    except OSError:
        return ""
    text = raw.decode("utf-8", "replace")
    try:
        detail = json.loads(text)
    except ValueError:
        return text.strip()
    if isinstance(detail, dict) and isinstance(detail.get("error"), dict):
        return str(detail["error"].get("message", text))
    return text.strip()


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds, from either delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _mentions_n(text: str) -> bool:
    return bool(re.search(r"(?<![\w-])['\"`]?n['\"`]?(?![\w-])", text))


def _n_limit(text: str) -> int | None:
    match = re.search(r"(?:at most|<=|less than or equal to|maximum(?: of)?|max(?:imum)? is)\s*(\d+)", text)
    return int(match.group(1)) if match else None


def _snippet(value) -> str:
    return json.dumps(value)[:200] if not isinstance(value, str) else value[:200]
