"""Two real CPU engines drawing units of one problem: each has its own random stream, recorded
with every sample it drew, and together they repeat no more texts than one engine does."""
from collections import Counter

import pytest

from sampler.seeds import engine_seed

pytestmark = pytest.mark.engine

PROMPT = "Write one unusual sentence about a random animal."


def draw(num_engines: int, cpus: int, seed: int) -> list[dict]:
    import ray
    from transformers import AutoTokenizer

    from sampler.driver import sample
    from sampler.model import EMBEDDED, resolve_model

    path = resolve_model(EMBEDDED)
    tok = AutoTokenizer.from_pretrained(path)
    text = tok.apply_chat_template([{"role": "user", "content": PROMPT}], tokenize=False, add_generation_prompt=True)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    rows: list[dict] = []
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        stats = sample([{"problem_id": "p", "n": 128, "prompt_token_ids": list(ids)}], sink=rows.extend, model=path,
                       sampling={"temperature": 1.0, "max_tokens": 12}, seed=seed, num_engines=num_engines,
                       cpus_per_engine=cpus, unit_size=16, inflight=32, kv_cache_gib=1,
                       engine_args={"enforce_eager": True, "max_model_len": 512}, progress=False)
    finally:
        if started:
            ray.shutdown()
    assert stats["sampled"] == 128
    return rows


def repeats(rows: list[dict]) -> int:
    return sum(c - 1 for c in Counter(r["text"] for r in rows).values())


def test_two_engines_draw_distinct_streams():
    two = draw(2, 1, seed=4)
    assert sorted(r["sample_index"] for r in two) == list(range(128))
    by_engine = Counter(r["engine"] for r in two)
    assert set(by_engine) == {"engine-0", "engine-1"}, by_engine   # both engines drew units of the one problem
    assert {(r["engine"], r["engine_seed"]) for r in two} == {("engine-0", engine_seed(4, 0, 0)),
                                                             ("engine-1", engine_seed(4, 1, 0))}
    one = draw(1, 2, seed=4)
    assert {r["engine_seed"] for r in one} == {engine_seed(4, 0, 0)}
    print(f"repeated texts: two engines {repeats(two)}, one engine {repeats(one)}")
    assert repeats(two) <= repeats(one) + 2
