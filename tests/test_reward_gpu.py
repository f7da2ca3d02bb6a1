"""A real reward model through vLLM's pooling runner, on a GPU machine.

No reward checkpoint ships offline, and an 8B reward model does not fit a CPU test run, so this
test is marked `gpu` (skipped elsewhere, saying why) and reads the checkpoint from
$MONKEYS_REWARD_MODEL: a local directory of a sequence-classification reward model such as
Skywork/Skywork-Reward-Llama-3.1-8B-v0.2 (ArmoRM's custom head is not a vLLM architecture).
It checks that the reward separates right from wrong GSM8K answers."""
import os

import pytest

pytestmark = [pytest.mark.gpu, pytest.mark.engine]

CASES = [
    ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many "
     "clips did Natalia sell altogether in April and May?",
     "In May she sold 48 / 2 = 24 clips. Altogether 48 + 24 = 72 clips. The answer is 72.",
     "In May she sold 48 * 2 = 96 clips. Altogether 48 + 96 = 144 clips. The answer is 144."),
    ("Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did "
     "she earn?",
     "She earns 12 / 60 = $0.2 per minute, so 0.2 * 50 = $10. The answer is 10.",
     "She earns 12 * 50 = $600. The answer is 600."),
]


def test_a_reward_model_prefers_right_answers():
    path = os.environ.get("MONKEYS_REWARD_MODEL")
    if not path:
        pytest.skip("set MONKEYS_REWARD_MODEL to a local reward model checkpoint (none ships offline)")
    import ray

    from sampler.scorer import ScorerPool

    ray.init(address="local", include_dashboard=False)
    try:
        pool = ScorerPool(path, "reward", engine_args={"max_model_len": 4096})
        items = [{"question": q, "answer": a} for q, right, wrong in CASES for a in (right, wrong)]
        scores = dict(pool.run([("all", items)]))["all"]
        pool.close()
    finally:
        ray.shutdown()
    right, wrong = scores[0::2], scores[1::2]
    assert all(r > w for r, w in zip(right, wrong)), scores
