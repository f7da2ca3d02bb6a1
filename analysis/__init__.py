"""Coverage analyzer: verdicts in, pass@k curves, compute axes, fits, forecasts and plots out."""
from .passk import coverage_curve, pass_at_k_matrix
from .report import analyze_run, format_table

__all__ = ["analyze_run", "format_table", "coverage_curve", "pass_at_k_matrix"]
