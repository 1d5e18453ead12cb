"""Experiments that train many runs and tabulate them: k-fold cross-validation (Table I), ablations (Table II)."""
