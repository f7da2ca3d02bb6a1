"""`verify()`: score many samples, each distinct candidate once, across the pool of judges."""
from __future__ import annotations

import json
import re

from . import code, codecontests, math_answer, pool

KINDS = ("humaneval", "mbpp", "stdio", "codecontests", "gsm8k", "math")


def check_one(kind: str, text: str, ref: dict, timeout: float) -> tuple[bool, str | None, str]:
    """(correct, extracted_answer, detail) for one sample. Runs in a judge process (or in the
    caller's: code is still only ever run walled in, by this process's own zygotes)."""
    if kind == "gsm8k":
        return math_answer.check_gsm8k(text, ref)
    if kind == "math":
        return math_answer.check_math(text, ref, timeout)
    if kind == "humaneval":
        ok, detail = code.check_humaneval(text, ref, timeout)
    elif kind == "mbpp":
        ok, detail = code.check_mbpp(text, ref, timeout)
    elif kind == "stdio":
        ok, detail = code.check_stdio(text, ref, timeout)
    elif kind == "codecontests":
        ok, detail = codecontests.check_codecontests(text, ref, timeout)
    else:
        return False, None, f"unknown verifier {kind!r}"
    return ok, None, detail


def check_safely(kind: str, text: str, ref: dict, timeout: float) -> tuple[bool, str | None, str]:
    """check_one, with a verifier bug turned into a failed verdict for this sample only."""
    try:
        return check_one(kind, text, ref, timeout)
    except Exception as e:  # noqa: BLE001
        return False, None, f"verifier error: {type(e).__name__}: {e}"[:200]


def normalise(kind: str, text: str) -> str:
    """The form under which two samples count as the same candidate."""
    if kind == "math":
        ans = math_answer.extract_math(text)
        return "\0boxed:" + re.sub(r"\s+", "", ans) if ans is not None else "\0none"
    if kind == "gsm8k":
        return "\0num:" + str(math_answer.extract_gsm8k(text))
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


def verify(jobs, *, workers: int | None = None, timeout: float = 10.0, progress: bool = True) -> list[dict]:
    """Score jobs {"problem_id", "sample_index", "verifier", "text", "reference"}; one result
    dict per job, same order: {"problem_id", "sample_index", "correct", "extracted_answer", "detail"}."""
    jobs = list(jobs)
    keys, unique, ref_keys = [], {}, {}
    for job in jobs:
        kind = job["verifier"]
        ref = job.get("reference") or {}
        ref_key = ref_keys.get(id(ref))  # jobs of one problem usually share one reference dict
        if ref_key is None:
            ref_key = ref_keys[id(ref)] = json.dumps(ref, sort_keys=True, default=str)
        key = (kind, ref_key, normalise(kind, job["text"]))
        keys.append(key)
        unique.setdefault(key, (kind, job["text"], ref))
    results = _run_all(list(unique.items()), workers, timeout, progress) if unique else {}
    out = []
    for job, key in zip(jobs, keys):
        ok, ans, detail = results[key]
        out.append({"problem_id": str(job["problem_id"]), "sample_index": job.get("sample_index"),
                    "correct": bool(ok), "extracted_answer": ans, "detail": detail})
    return out


def _run_all(items: list, workers: int | None, timeout: float, progress: bool) -> dict:
    from tqdm.auto import tqdm  # noqa: PLC0415
    bar = tqdm(total=len(items), desc="verify", unit="cand", disable=not progress)
    try:
        with pool._lock:  # one verify() at a time per process: the judges are shared
            verdicts = pool.get(workers).run([v for _, v in items], timeout, on_done=lambda: bar.update(1))
    finally:
        bar.close()
    return {key: v for (key, _), v in zip(items, verdicts)}
