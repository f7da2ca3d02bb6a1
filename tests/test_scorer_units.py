"""The judge's arithmetic and prompts, with the embedded model's tokenizer (no engine)."""
import math
from types import SimpleNamespace

import pytest

from sampler.scorer import JUDGE_QUESTION, NO, YES, fit_prompt, judge_text, p_yes, reward_text, single_tokens


@pytest.fixture(scope="module")
def tok():
    from transformers import AutoTokenizer

    from sampler.model import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model("embedded:smollm2-135m-instruct"))


def test_yes_no_variants_are_single_tokens_only(tok):
    yes, no = single_tokens(tok, YES), single_tokens(tok, NO)
    assert [tok.decode([t]) for t in yes] == ["Yes", " Yes", "yes", " yes"]       # "YES" is two tokens here
    assert set(tok.decode([t]) for t in no) == {"No", " No", "no", " no", "NO", " NO"}
    assert not set(yes) & set(no)


def test_p_yes_normalises_over_the_variants():
    yes, no = [1, 2], [3]
    lp = {1: math.log(0.2), 2: math.log(0.1), 3: math.log(0.1), 9: math.log(0.6)}   # 9: another token
    assert p_yes(lp, yes, no) == pytest.approx(0.3 / 0.4)
    assert p_yes({k: SimpleNamespace(logprob=v) for k, v in lp.items()}, yes, no) == pytest.approx(0.75)  # vLLM's
    assert p_yes({9: 0.0}, yes, no) == 0.5
    assert p_yes({3: 0.0}, yes, no) == 0.0


def test_judge_prompt_asks_about_the_answer_in_the_models_own_template(tok):
    text = judge_text(tok, "What is 2+2?", "It is 4.")
    assert text.index("What is 2+2?") < text.index("It is 4.") < text.index(JUDGE_QUESTION)
    assert text.endswith("<|im_start|>assistant\n")
    assert reward_text(tok, "Q?", "A.").rstrip().endswith("A.<|im_end|>")


def test_an_answer_too_long_keeps_its_end(tok):
    answer = "blah " * 3000 + "so the final answer is 4217."
    ids = fit_prompt(tok, judge_text, "What is the number?", answer, 512)
    text = tok.decode(ids)
    assert len(ids) <= 512
    assert "final answer is 4217." in text and "What is the number?" in text and text.endswith("assistant\n")
    short = fit_prompt(tok, judge_text, "Q?", "A.", 512)
    assert short == tok(judge_text(tok, "Q?", "A."), add_special_tokens=False)["input_ids"]
