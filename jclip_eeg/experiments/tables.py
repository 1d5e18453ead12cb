"""Markdown and CSV tables of experiments (cross-validation, ablations): percent for reading, fractions to keep.

Every table shows both test protocols side by side, computed from the same
predictions (README "Two test protocols"):
  full   the whole test fold: accuracy, macro precision / recall / F1,
         specificity, probability AUC (`metrics.classification_report`);
  paper  the paper's protocol (`metrics.paper_report`): binary tasks on a
         seeded 1:1 draw with the seizure class's precision / recall / F1 and
         the AUC of hard labels (= balanced accuracy); multi-class tasks on
         the whole fold, weighted precision / F1, macro recall / specificity.
The paper's published numbers appear as rows labelled "paper (reported)",
in the paper-protocol columns only.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jclip_eeg import paper_results

METRICS = ("accuracy", "precision", "recall", "specificity", "f1", "auc")
# classification_report key of each metric in the full protocol.
FULL_KEYS = {"accuracy": "accuracy", "precision": "precision_macro", "recall": "recall_macro",
             "specificity": "specificity", "f1": "f1_macro", "auc": "auc"}
_SHORT = {"accuracy": "Acc", "precision": "Pre", "recall": "Rec", "specificity": "Spe", "f1": "F1", "auc": "AUC"}
COLUMNS = tuple(f"{protocol}_{m}" for protocol in ("full", "paper") for m in METRICS)
HEADER = tuple(f"{'paper ' if c.startswith('paper') else ''}{_SHORT[c.split('_', 1)[1]]}(%)" for c in COLUMNS)
REPORTED = "paper (reported)"


def protocol_values(test: Mapping[str, Any]) -> dict[str, float | None]:
  """The COLUMNS of one test report (`inference.evaluate_rows`: a classification_report with a `paper` entry)."""
  full = {f"full_{m}": test[key] for m, key in FULL_KEYS.items()}
  return full | {f"paper_{m}": test["paper"][m] for m in METRICS}


def reported_values(table: str, dataset: str, row: str) -> dict[str, float | None] | None:
  """The paper's published numbers of (table, dataset, row) in the paper-protocol COLUMNS; None when the paper
  has no such row (e.g. the synthetic data)."""
  if (table, dataset, row) not in paper_results.REPORTED:
    return None
  published = paper_results.reported(table, dataset, row)
  return {c: published.get(c.split("_", 1)[1]) if c.startswith("paper_") else None for c in COLUMNS}


def pct(value: float | None) -> str:
  """A fraction as a percentage with two decimals, as in the paper's tables; "-" when undefined."""
  return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.2f}"


def cells(values: Mapping[str, float | None]) -> list[str]:
  """The COLUMNS of a row as percent cells."""
  return [pct(values.get(c)) for c in COLUMNS]


def write_markdown(path: Path, header: Sequence[str], body: Sequence[Sequence[str]],
                   notes: Sequence[str] = ()) -> Path:
  """A markdown table at `path`, then one line per note."""
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(row) + " |" for row in body]
  lines += ["", *notes] if notes else []
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text("\n".join(lines) + "\n")
  return path


def write_csv(path: Path, records: Sequence[Mapping[str, Any]]) -> Path:
  """A CSV at `path` with the keys of the first record as columns; floats at full precision."""
  path.parent.mkdir(parents=True, exist_ok=True)
  with path.open("w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(records[0]))
    writer.writeheader()
    writer.writerows({k: repr(v) if isinstance(v, float) else v for k, v in r.items()} for r in records)
  return path
