"""Compute axes: what k samples per problem cost in tokens, FLOPs and dollars.

All totals are for the whole benchmark (summed over problems) at k samples per problem,
using each problem's mean over its measured samples.

FLOPs follow Brown et al. 2024 (arXiv:2407.21787, §2.3): a token whose context holds L tokens
costs 2 * (parameters + 2 * layers * d_model * L) FLOPs. Here the token at 0-based position L
of the sequence has context L. The prompt is counted once per problem (its prefix is shared by
all samples); every sample's decoded tokens are counted, each at its own position.
"""
from __future__ import annotations

import numpy as np

# Assumed price of one GPU-hour when the run's config names none. Reported as an assumption;
# override with [pricing] gpu_hour_usd in config.toml.
DEFAULT_GPU_HOUR_USD = 2.0


def flops_per_token(parameters: float, layers: int, d_model: int, context: float) -> float:
    """FLOPs of one forward step for one token with `context` tokens before it (paper §2.3)."""
    return 2.0 * (parameters + 2.0 * layers * d_model * context)


def span_flops(parameters, layers, d_model, start, count):
    """FLOPs of `count` consecutive tokens at positions start..start+count-1 (vectorised)."""
    start = np.asarray(start, dtype=np.float64)
    count = np.asarray(count, dtype=np.float64)
    context_sum = count * start + count * (count - 1.0) / 2.0
    return 2.0 * (parameters * count + 2.0 * layers * d_model * context_sum)


def problem_costs(prompt_tokens, completion_tokens, group, num_groups, model_info=None):
    """Per-problem prompt tokens, mean completion tokens and FLOPs from per-sample arrays.

    group[j] is the problem index of sample j. Returns a dict of arrays of length num_groups.
    """
    group = np.asarray(group)
    counts = np.bincount(group, minlength=num_groups).astype(np.float64)
    prompt = np.zeros(num_groups)
    prompt[group] = np.asarray(prompt_tokens, dtype=np.float64)      # same value per problem
    comp = np.asarray(completion_tokens, dtype=np.float64)
    mean_comp = np.bincount(group, weights=comp, minlength=num_groups) / counts
    out = {"prompt_tokens": prompt, "mean_completion_tokens": mean_comp}
    if model_info:
        p, nl, d = (float(model_info["parameters"]), int(model_info["layers"]), int(model_info["d_model"]))
        out["prompt_flops"] = span_flops(p, nl, d, 0.0, prompt)
        per_sample = span_flops(p, nl, d, prompt[group], comp)
        out["mean_completion_flops"] = np.bincount(group, weights=per_sample, minlength=num_groups) / counts
    return out


def axes_at(ks, costs: dict, pricing: dict | None = None, gpu_hours_per_sample: float | None = None) -> dict:
    """Benchmark totals at each k: generated tokens, FLOPs (if known), dollars (if priceable)."""
    ks = np.asarray(ks, dtype=np.float64)
    out = {"tokens": (ks * costs["mean_completion_tokens"].sum()).tolist()}
    if "prompt_flops" in costs:
        out["flops"] = (costs["prompt_flops"].sum() + ks * costs["mean_completion_flops"].sum()).tolist()
    pricing = dict(pricing or {})
    if "input_usd_per_mtok" in pricing or "output_usd_per_mtok" in pricing:
        # API pricing: the prompt is billed once per problem (one request with n samples).
        pin = float(pricing.get("input_usd_per_mtok", 0.0)) / 1e6
        pout = float(pricing.get("output_usd_per_mtok", 0.0)) / 1e6
        dollars = pin * costs["prompt_tokens"].sum() + pout * ks * costs["mean_completion_tokens"].sum()
        out["dollars"] = dollars.tolist()
        out["dollars_rule"] = "API per-token prices from [pricing]; prompt billed once per problem"
    elif gpu_hours_per_sample is not None and gpu_hours_per_sample > 0:
        rate = float(pricing.get("gpu_hour_usd", DEFAULT_GPU_HOUR_USD))
        num_problems = len(costs["prompt_tokens"])
        out["dollars"] = (rate * gpu_hours_per_sample * ks * num_problems).tolist()
        src = "[pricing] gpu_hour_usd" if "gpu_hour_usd" in pricing else f"assumed {DEFAULT_GPU_HOUR_USD} USD/GPU-hour"
        out["dollars_rule"] = f"measured GPU-hours per sample x {rate} USD/GPU-hour ({src})"
    return out


def measured_gpu_hours(elapsed_s, gpus_per_worker: float = 1.0) -> float:
    """GPU-hours of a run from the samples' own engine time.

    Each sample carries its share of its engine's busy time (engines split the time of each
    step among the samples in it by tokens), so the shares add up to engine-hours; times
    gpus_per_worker gives GPU-hours.
    """
    return float(np.nansum(np.asarray(elapsed_s, dtype=np.float64))) / 3600.0 * float(gpus_per_worker)
