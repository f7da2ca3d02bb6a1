"""Coverage analyzer: verdicts in, pass@k curves, compute axes, fits, forecasts and plots out.

It takes data (per-problem counts, or a run's data as experiments.rundir.read_run gives it) and
never reads a run directory itself; analysis/cli.py holds the `monkeys analyze`, `compare` and
`plan` commands that experiments/cli.py puts in its parser tree.
"""
