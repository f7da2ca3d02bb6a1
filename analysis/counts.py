"""Read per-problem counts from a CSV made elsewhere.

Columns: problem_id, n, c and optionally model; the names orig_dset_idx, num_samples and
num_correct (as in the Large Language Monkeys release) are accepted for the first three.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .passk import CountsError

ALIASES = {"problem_id": ("problem_id", "orig_dset_idx"), "n": ("n", "num_samples"), "c": ("c", "num_correct")}


def read_counts(path) -> dict[str, dict]:
    """Return {model: {"problem_ids", "n", "c", "benchmark"}} in file order of first appearance.

    Raises CountsError naming the file, line and column for anything that cannot be counts.
    """
    path = Path(path)
    if not path.is_file():
        raise CountsError(f"{path}: no such file; pass a CSV with columns problem_id, n, c")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames
        if not header:
            raise CountsError(f"{path}: empty file; expected a header with problem_id, n, c")
        header = [h.strip() for h in header]
        reader.fieldnames = header
        cols = {}
        for key, names in ALIASES.items():
            found = [h for h in names if h in header]
            if not found:
                raise CountsError(f"{path}: missing column '{key}' (or {names[1]}); header is {', '.join(header)}")
            cols[key] = found[0]
        models: dict[str, dict] = {}
        for line, row in enumerate(reader, start=2):
            model = (row.get("model") or "").strip() or path.stem
            rec = models.setdefault(model, {"problem_ids": [], "n": [], "c": [],
                                            "benchmark": (row.get("benchmark") or "").strip() or None})
            vals = {}
            for key in ("n", "c"):
                raw = (row.get(cols[key]) or "").strip()
                try:
                    v = float(raw)
                except ValueError:
                    raise CountsError(f"{path}, line {line}: {cols[key]} = {raw!r} is not a number") from None
                if not np.isfinite(v) or v != int(v):
                    raise CountsError(f"{path}, line {line}: {cols[key]} = {raw!r} is not a whole number")
                if v < 0:
                    raise CountsError(f"{path}, line {line}: {cols[key]} = {raw} is negative")
                vals[key] = int(v)
            if vals["n"] == 0:
                raise CountsError(f"{path}, line {line}: {cols['n']} = 0; every problem needs at least one sample")
            if vals["c"] > vals["n"]:
                raise CountsError(f"{path}, line {line}: {cols['c']} = {vals['c']} exceeds {cols['n']} = {vals['n']}")
            rec["problem_ids"].append((row.get(cols["problem_id"]) or "").strip())
            rec["n"].append(vals["n"])
            rec["c"].append(vals["c"])
    if not models:
        raise CountsError(f"{path}: header but no rows; expected one row per problem")
    for rec in models.values():
        rec["n"] = np.array(rec["n"], dtype=np.int64)
        rec["c"] = np.array(rec["c"], dtype=np.int64)
    return models
