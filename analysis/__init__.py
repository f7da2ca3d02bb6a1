"""Coverage analyzer: verdicts in, pass@k curves, compute axes, fits, forecasts and plots out."""
from .cli import main_analyze, main_compare
from .passk import coverage_curve, pass_at_k_matrix
from .plan import main_plan
from .report import analyze_counts, analyze_run, format_table

__all__ = ["analyze_run", "analyze_counts", "format_table", "main_analyze", "main_compare", "main_plan",
           "coverage_curve", "pass_at_k_matrix"]
