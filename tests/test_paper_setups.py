"""The paper's setups: their configs, and a prepared run that records what it used (subset,
seeds, stop strings) and sends the resolved stop strings to the model server."""
import json
import threading
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from experiments import config, pipeline, tasks
from experiments.cli import CONFIGS
from experiments.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent
PAPER = sorted(CONFIGS.glob("paper-*.toml"))


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.name)
def test_paper_configs_hold_the_papers_settings(path):
    cfg = tasks.resolve(config.load(path))
    t, s = cfg.task, cfg.sampling
    assert (s.temperature, s.top_p, t.prompt) == (0.6, 0.95, "raw")
    cpu = path.stem.endswith("-cpu")
    if not cpu:
        assert s.n == 10000 and s.max_tokens == 1024
    if t.name == "gsm8k":
        assert (t.subset, t.shots, s.stop) == (32 if cpu else 128, 5, ["Q:", "Question:"])
    elif t.name == "math500":
        assert (t.subset, t.shots, s.stop) == (128, 4, ["Problem:"])
    else:
        assert (t.name, t.subset, t.shots, t.time_buffer) == ("codecontests", 0, 2, 10)
    assert f"experiments/configs/{path.name}" in (ROOT / "docs" / "paper-setups.md").read_text()


class _Server:
    """An OpenAI-compatible completions endpoint on 127.0.0.1 that records each payload."""

    def __init__(self):
        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                seen.append(payload)
                n = payload.get("n", 1)
                body = json.dumps({"choices": [{"index": i, "text": " 6 - 2 = 4\n#### 4", "finish_reason": "stop"}
                                               for i in range(n)],
                                   "usage": {"prompt_tokens": 50, "completion_tokens": 8 * n}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.httpd.shutdown()


def _gsm8k(tmp_path):
    rows = [{"question": f"Ann has {i} apples and eats 2. How many are left?", "answer": f"{i} - 2 = {i - 2}\n#### {i - 2}"}
            for i in range(3, 23)]
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    train = [{"question": f"Bob has {i} pears. He buys {i}. How many now?", "answer": f"{i} + {i} = {2 * i}\n#### {2 * i}"}
             for i in range(30)]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train))
    return rows


def test_a_prepared_run_records_and_sends_what_it_used(tmp_path, server):
    rows = _gsm8k(tmp_path)
    text = (CONFIGS / "paper-gsm8k-smollm2-cpu.toml").read_text()
    text = text.replace('model = "embedded:smollm2-135m-instruct"',
                        f'model = "m"\nbackend = "openai"').replace("subset = 32", "subset = 4")
    text = text.replace('source = "../shared/data/gsm8k/test.jsonl"', f'source = "{tmp_path / "test.jsonl"}"')
    text = text.replace("n = 32", "n = 2").replace("[engine]", f'[engine]\nbase_url = "{server.url}"')
    (tmp_path / "exp.toml").write_text(text)
    cfg = config.load(tmp_path / "exp.toml")
    assert cfg.sampling.stop is None  # left to the task
    run = pipeline.prepare(cfg, tmp_path / "run")

    recorded = tomllib.loads((run / "config.toml").read_text())
    assert recorded["sampling"]["stop"] == ["Q:", "Question:"]
    assert {k: recorded["task"][k] for k in ("subset", "subset_seed", "shots", "shots_seed")} == \
        {"subset": 4, "subset_seed": 0, "shots": 5, "shots_seed": 0}
    problems = pq.read_table(run / "problems.parquet").to_pylist()
    assert len(problems) == 4
    for p in problems:
        question = rows[p["source_index"]]["question"]
        assert p["problem_id"] == f"gsm8k/{p['source_index']}"
        assert p["prompt"].endswith(f"Question: {question}\nAnswer:") and p["prompt"].count("Question: ") == 6

    pipeline.stage_sample(run, progress=False)
    assert len(server.seen) == 4
    assert all(s["stop"] == ["Q:", "Question:"] and s["prompt"].startswith("Question: Bob has") for s in server.seen)
    assert {s["prompt"] for s in server.seen} == {p["prompt"] for p in problems}

    # the same experiment reopens; a larger subset keeps the first four; another draw is refused
    pipeline.prepare(cfg, run)
    pipeline.prepare(config.load(tmp_path / "exp.toml", ["task.subset=6"]), run)
    again = pq.read_table(run / "problems.parquet").to_pylist()
    assert [p["problem_id"] for p in again][:4] == [p["problem_id"] for p in problems] and len(again) == 6
    for key, value in (("subset_seed", 1), ("shots_seed", 1)):
        with pytest.raises(ConfigError, match=f"task.{key}: 0 in the run, 1 now"):
            pipeline.prepare(config.load(tmp_path / "exp.toml", [f"task.{key}={value}"]), run)
    with pytest.raises(ConfigError, match="sampling.stop"):
        pipeline.prepare(config.load(tmp_path / "exp.toml", ['sampling.stop=["\\n\\n"]']), run)


def test_raw_prompts_keep_the_tokenizers_bos():
    class Tok:  # a Llama-3-like tokenizer: BOS id 1 when special tokens are added
        def __call__(self, text, add_special_tokens=True):
            return {"input_ids": ([1] if add_special_tokens else []) + [len(w) + 2 for w in text.split()]}

    assert pipeline.prompt_token_ids(Tok(), "Question: hi\nAnswer:", "raw") == [1, 11, 4, 9]
    assert pipeline.prompt_token_ids(Tok(), "<|begin_of_text|>hi", "chat") == [21]
