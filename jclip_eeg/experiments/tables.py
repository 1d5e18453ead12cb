"""Markdown and CSV tables of experiments (cross-validation, ablations): percent for reading, fractions to keep."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def pct(value: float) -> str:
  """A fraction as a percentage with two decimals, as in the paper's tables."""
  return f"{100 * value:.2f}"


def write_markdown(path: Path, header: Sequence[str], body: Sequence[Sequence[str]]) -> Path:
  """A markdown table at `path`."""
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(cells) + " |" for cells in body]
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
