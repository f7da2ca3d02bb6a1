"""Tasks: the registry, seeded subsets, few-shot draws, the Minerva prompt, stop strings."""
import hashlib
import json
import random

import pytest

from experiments import config, tasks
from experiments.tasks import TaskError, _draw, load_problems

IDS = [{"problem_id": f"p{i}", "text": f"t{i}"} for i in range(100)]


def _ids(problems):
    return [p["problem_id"] for p in problems]


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ------------------------------------------------------------------------------------ registry


def test_every_module_registers_one_task():
    assert sorted(tasks.TASKS) == ["codecontests", "gsm8k", "humaneval", "math500", "mbpp", "stdio"]
    from verifiers.api import KINDS
    assert {t.verifier for t in tasks.TASKS.values()} <= set(KINDS)
    with pytest.raises(TaskError, match="unknown task 'gsm'.*gsm8k"):
        tasks.get_task("gsm")


# ------------------------------------------------------------------------------------ subsets


def test_subset_is_pinned():
    # Pinned: a change in the algorithm changes these and must be deliberate (it changes which
    # problems every seeded run draws).
    assert _ids(_draw.subset(IDS, 5, 0)) == ["p66", "p80", "p79", "p30", "p2"]
    assert _ids(_draw.subset(IDS, 5, 1)) == ["p49", "p45", "p89", "p54", "p94"]


def test_subset_ignores_row_order_and_nests():
    shuffled = IDS[:]
    random.Random(3).shuffle(shuffled)
    assert _ids(_draw.subset(shuffled, 20, 0)) == _ids(_draw.subset(IDS, 20, 0))
    assert _ids(_draw.subset(IDS, 32, 9))[:8] == _ids(_draw.subset(IDS, 8, 9))


def test_subset_larger_than_the_source_is_refused():
    with pytest.raises(TaskError, match="task.subset = 101 is more than the 100 problems"):
        _draw.subset(IDS, 101, 0)


def test_gsm8k_subset_records_source_rows(data_file):
    opts = {"source": str(data_file("gsm8k/test.jsonl")), "subset": 8}
    problems = load_problems("gsm8k", opts)
    assert _ids(problems) == ["gsm8k/475", "gsm8k/221", "gsm8k/1219", "gsm8k/508", "gsm8k/231", "gsm8k/119",
                              "gsm8k/596", "gsm8k/273"]
    rows = [json.loads(line) for line in data_file("gsm8k/test.jsonl").open()]
    for p in problems:
        assert rows[p["index"]]["question"] in p["raw"]
    # limit keeps the first M of the subset: the subset of size M
    assert _ids(load_problems("gsm8k", dict(opts, limit=3))) == _ids(problems)[:3]
    assert _ids(load_problems("gsm8k", dict(opts, subset=3))) == _ids(problems)[:3]


def test_limit_alone_is_the_first_rows(tmp_path):
    src = _jsonl(tmp_path / "test.jsonl", [{"question": f"q{i}?", "answer": f"#### {i}"} for i in range(10)])
    problems = load_problems("gsm8k", {"source": str(src), "limit": 4})
    assert _ids(problems) == ["gsm8k/0", "gsm8k/1", "gsm8k/2", "gsm8k/3"]
    assert [p["index"] for p in problems] == [0, 1, 2, 3]


# ------------------------------------------------------------------------------------ few-shot


def test_shot_draw_is_pinned():
    pool = [{"id": f"e{i}", "text": f"t{i}"} for i in range(20)]
    problem = {"problem_id": "p3", "text": "t3"}
    assert [e["id"] for e in _draw.shots(problem, pool, 5, 0)] == ["e17", "e19", "e10", "e2", "e16"]
    assert [e["id"] for e in _draw.shots(problem, pool, 5, 7)] == ["e10", "e19", "e17", "e0", "e5"]


def test_few_shot_never_includes_the_problem(tmp_path):
    # The pool is the problems' own file: each of the 6 problems must get exactly the other 5.
    rows = [{"question": f"How many apples does person {i} have?", "answer": f"They have {i}.\n#### {i}"}
            for i in range(6)]
    src = _jsonl(tmp_path / "test.jsonl", rows)
    problems = load_problems("gsm8k", {"source": str(src), "shots": 5, "shots_source": str(src), "prompt": "raw"})
    for p, row in zip(problems, rows):
        assert sorted(p["shots"]) == sorted(f"train/{j}" for j in range(6) if f"train/{j}" != f"train/{p['index']}")
        assert p["raw"].count(row["question"]) == 1 and p["raw"].endswith(f"Question: {row['question']}\nAnswer:")
    # the same text with other whitespace is the same problem too
    spaced = [dict(rows[0], question="How  many apples does\nperson 0 have?")] + rows[1:]
    pool = _jsonl(tmp_path / "pool.jsonl", spaced)
    first = load_problems("gsm8k", {"source": str(src), "shots": 5, "shots_source": str(pool)})[0]
    assert "train/0" not in first["shots"]
    with pytest.raises(TaskError, match="shots = 6 but only 5 few-shot examples"):
        load_problems("gsm8k", {"source": str(src), "shots": 6, "shots_source": str(src)})


def test_gsm8k_raw_few_shot_is_the_papers_form(tmp_path):
    src = _jsonl(tmp_path / "test.jsonl", [{"question": "What is 2+2?", "answer": "2+2=<<2+2=4>>4\n#### 4"}])
    train = [{"question": f"Train question {i}?", "answer": f"Work <<{i}+0={i}>>{i}.\n#### {i}"} for i in range(9)]
    _jsonl(tmp_path / "train.jsonl", train)  # found beside test.jsonl
    p = load_problems("gsm8k", {"source": str(src), "shots": 5, "shots_seed": 4})[0]
    chosen = [train[int(s.split("/")[1])] for s in p["shots"]]
    assert len(set(p["shots"])) == 5
    assert p["raw"] == "".join(f"Question: {r['question']}\nAnswer: {r['answer']}\n\n" for r in chosen) + \
        "Question: What is 2+2?\nAnswer:"
    # chat: the same examples as worked turns, calculator marks removed
    assert len(p["messages"]) == 11 and p["messages"][1]["content"].endswith(f"The answer is {chosen[0]['answer'][-1]}.")
    assert "<<" not in p["messages"][1]["content"]
    # the draw depends on the seed, and not on which other problems are in the run
    other = load_problems("gsm8k", {"source": str(src), "shots": 5, "shots_seed": 5})[0]
    assert other["shots"] != p["shots"]


def test_few_shot_without_a_train_file_says_what_to_set(tmp_path):
    src = _jsonl(tmp_path / "test.jsonl", [{"question": "q?", "answer": "#### 1"}])
    with pytest.raises(TaskError, match="shots_source"):
        load_problems("gsm8k", {"source": str(src), "shots": 2})


@pytest.mark.parametrize("name", ["humaneval", "mbpp", "stdio"])
def test_zero_shot_tasks_refuse_shots(name):
    with pytest.raises(TaskError, match=f"task.shots = 3: task '{name}' has no few-shot examples; set shots = 0"):
        load_problems(name, {"shots": 3})


# ------------------------------------------------------------------------------------ MATH / Minerva

# sha256 of the four Minerva examples as the raw prompt joins them; the text is
# lm-evaluation-harness's list_fewshot_samples (byte-identical to the paper's MATH_COT_PROMPT).
MINERVA_SHA256 = "cf554c636c1223bc176d80669b7f4a29c6205ccae73ac61dfaadaf1c5b075a03"


def _minerva_block():
    from experiments.tasks.math500 import MINERVA
    return "\n\n".join(f"Problem:\n{ex['text']}\n\nSolution:\n{ex['solution']}" for ex in MINERVA)


def test_minerva_prompt_format(tmp_path):
    src = _jsonl(tmp_path / "math.jsonl", [{"problem": "What is $1+1$?", "answer": "2", "unique_id": "test/x/1.json"}])
    p = load_problems("math500", {"source": str(src), "shots": 4, "prompt": "raw"})[0]
    assert p["raw"] == _minerva_block() + "\n\nProblem:\nWhat is $1+1$?\n\nSolution:"
    assert p["raw"].startswith("Problem:\nFind the domain of the expression  $\\frac{\\sqrt{x-2}}{\\sqrt{5-x}}$.}"
                               "\n\nSolution:\nThe expressions inside each square root")
    assert p["raw"].count("Problem:\n") == 5 and p["raw"].count("Final Answer: The final answer is $") == 4
    assert "=\\boxed{16}\n\\end{align*}\nFinal Answer: The final answer is $16$. I hope it is correct." in p["raw"]
    assert hashlib.sha256(_minerva_block().encode()).hexdigest() == MINERVA_SHA256
    assert p["shots"] == ["minerva/1", "minerva/2", "minerva/3", "minerva/4"]
    assert len(p["messages"]) == 9 and p["messages"][-1]["content"].endswith("Problem: What is $1+1$?")
    zero = load_problems("math500", {"source": str(src), "prompt": "raw"})[0]
    assert zero["raw"] == "Problem: What is $1+1$?\nSolution:"


@pytest.mark.parametrize("shots", [1, 2, 5])
def test_minerva_is_all_four_or_none(shots):
    with pytest.raises(TaskError, match=f"task.shots = {shots}: task 'math500' has one fixed 4-shot prompt; "
                                        "set shots = 4 for it or 0 for none"):
        load_problems("math500", {"shots": shots})


def test_math_rows_without_answer_use_the_last_boxed(tmp_path):
    src = _jsonl(tmp_path / "math.jsonl", [{"problem": "p", "solution": "so $\\boxed{3}$ then $\\boxed{\\frac12}$"},
                                           {"problem": "q", "solution": "no box"}])
    with pytest.raises(TaskError, match="row 2: no 'answer' field and no \\\\boxed"):
        load_problems("math500", {"source": str(src)})
    src.write_text(src.read_text().splitlines()[0] + "\n")
    assert load_problems("math500", {"source": str(src)})[0]["reference"] == {"answer": "\\frac12"}


def test_math500_and_mbpp_load_the_shared_files(data_file):
    math = load_problems("math500", {"source": str(data_file("math/math500_test.jsonl"))})
    assert len(math) == 500 and math[0]["problem_id"] == "test/precalculus/807.json"
    mbpp = load_problems("mbpp", {"source": str(data_file("mbpp/sanitized-mbpp.json"))})
    assert len(mbpp) == 427 and mbpp[0]["problem_id"] == "mbpp/2" and mbpp[0]["reference"]["test_list"]


# ------------------------------------------------------------------------------------ stop strings and options


def _cfg(task="gsm8k", prompt="raw", **sampling):
    return {"name": "t", "model": "m", "task": {"name": task, "prompt": prompt}, "sampling": {"n": 1, **sampling}}


def _resolve(raw):
    return tasks.resolve(config.check(raw, "test"))


def test_default_stop_strings_and_precedence():
    assert _resolve(_cfg()).sampling.stop == ["Q:", "Question:"]
    assert _resolve(_cfg("math500")).sampling.stop == ["Problem:"]
    assert _resolve(_cfg("codecontests")).sampling.stop == ["Q:", "Question:"]
    assert _resolve(_cfg("humaneval")).sampling.stop == ["\nclass", "\ndef", "\n#", "\nif", "\nprint"]
    assert _resolve(_cfg(prompt="chat")).sampling.stop == []
    # an explicit list replaces the default, an empty one included
    assert _resolve(_cfg(stop=["\n\n"])).sampling.stop == ["\n\n"]
    assert _resolve(_cfg(stop=[])).sampling.stop == []


def test_task_options_are_filled_or_refused():
    assert _resolve(_cfg("codecontests")).task.time_buffer == 10.0
    assert _resolve({**_cfg("codecontests"), "task": {"name": "codecontests", "time_buffer": 0.5}}
                    ).task.time_buffer == 0.5
    with pytest.raises(TaskError, match="task.time_buffer applies only to codecontests, not 'gsm8k'"):
        _resolve({**_cfg(), "task": {"name": "gsm8k", "time_buffer": 2}})
    with pytest.raises(TaskError, match="task.shots_source: task 'math500' draws no examples"):
        _resolve({**_cfg(), "task": {"name": "math500", "shots": 4, "shots_source": "x.jsonl"}})
