"""Evaluation: window-level classification metrics (paper Tables I-V)."""
