"""Adaptive budget policy: stopping, caps, totals, determinism, and savings in simulation."""

import random

import pytest

from sampler.budget import Budget, Tally, plan, record, simulate, solved, spent, tally, work_units


def test_fresh_problems_each_get_a_step():
    state = tally(["a", "b", "c"])
    assert plan(state, Budget(total=100, cap=10, step=4)) == {"a": 4, "b": 4, "c": 4}


def test_solved_problems_get_nothing():
    state = tally(["a", "b"], [{"problem_id": "a", "correct": True}, {"problem_id": "b", "correct": False}])
    assert plan(state, Budget(total=100, cap=10)) == {"b": 1}


def test_stops_after_s_successes():
    verdicts = [{"problem_id": "a", "correct": True}] * 2 + [{"problem_id": "b", "correct": True}] * 3
    state = tally(["a", "b"], verdicts)
    assert plan(state, Budget(total=100, cap=10, stop_after=3)) == {"a": 1}
    assert plan(state, Budget(total=100, cap=10, stop_after=2)) == {}


def test_cap_is_never_exceeded():
    state = {"a": Tally(attempts=9), "b": Tally(attempts=10), "c": Tally()}
    counts = plan(state, Budget(total=1000, cap=10, step=8, growth=1.0))
    assert counts == {"a": 1, "c": 8}
    for pid, c in counts.items():
        assert state[pid].attempts + c <= 10


def test_total_budget_is_respected_and_least_tried_go_first():
    state = {"a": Tally(attempts=5), "b": Tally(attempts=1), "c": Tally(attempts=0), "d": Tally(attempts=0)}
    budget = Budget(total=spent(state) + 5, cap=100, step=4)
    counts = plan(state, budget)
    assert sum(counts.values()) == 5
    assert counts == {"b": 1, "c": 2, "d": 2}
    assert plan({**state, "e": Tally(attempts=100)}, Budget(total=6, cap=1000)) == {}


def test_pending_problems_wait_and_count_against_the_budget():
    state = tally(["a", "b"], pending={"a": 3})
    assert state["a"].next_index == 3
    assert plan(state, Budget(total=4, cap=10, step=2)) == {"b": 1}
    state = record(state, {"b": 1}, [{"problem_id": "a", "correct": False}] * 3)
    assert state == {"a": Tally(3, 0, 0), "b": Tally(0, 0, 1)}


def test_work_units_continue_sample_indices():
    state = {"a": Tally(attempts=4, pending=2), "b": Tally()}
    assert work_units(state, {"a": 3, "b": 2}) == [
        {"problem_id": "a", "start": 6, "count": 3}, {"problem_id": "b", "start": 0, "count": 2}]


def test_growth_doubles_rounds():
    state = {"a": Tally(attempts=8), "b": Tally(attempts=1)}
    assert plan(state, Budget(total=100, cap=100, step=2, growth=1.0)) == {"a": 8, "b": 2}


def test_plan_is_deterministic_and_order_free():
    rng = random.Random(1)
    state = {f"p{i}": Tally(attempts=rng.randrange(20), successes=rng.choice([0, 0, 1])) for i in range(50)}
    budget = Budget(total=spent(state) + 37, cap=25, step=3, growth=0.5)
    first = plan(state, budget)
    shuffled = dict(sorted(state.items(), key=lambda kv: rng.random()))
    assert plan(shuffled, budget) == first == plan(state, budget)
    assert sum(first.values()) == 37
    assert all(state[p].successes == 0 for p in first)


def test_budget_rejects_nonsense():
    with pytest.raises(ValueError):
        Budget(total=10, cap=0)


def test_simulation_reaches_uniform_coverage_with_fewer_samples():
    """Heavy-tailed rates (Beta(0.3, 2)): reach uniform sampling's coverage at k=50 for less."""
    rng = random.Random(7)
    rates = [rng.betavariate(0.3, 2.0) for _ in range(200)]
    k = 50
    target = sum(1 - (1 - p) ** k for p in rates)
    uniform_samples = len(rates) * k
    ratios = []
    for seed in range(3):
        trace = simulate(rates, Budget(total=10 * uniform_samples, cap=10 * k), seed=seed, stop_at_solved=target)
        assert trace[-1][1] >= target
        ratios.append(trace[-1][0] / uniform_samples)
    assert sum(ratios) / len(ratios) < 0.6
    assert solved({"a": Tally(1, 1), "b": Tally(3, 0)}) == 1
