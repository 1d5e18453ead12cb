"""What a training run leaves behind: metrics.jsonl, optional TensorBoard events, the printed table, plots.

* `MetricsLog`: one JSON object per line, `{"kind": "train" | "val", "step": int, ...}`;
  on resume the lines after the restored step are dropped, so a killed and
  restarted run ends with the same file as an uninterrupted one (apart from
  the wall-clock fields `TIMING_FIELDS`). With `config.train.tensorboard=True`
  the same scalars go to TensorBoard event files under `<stage>/tensorboard/`,
  written by `tensorboardX` (the `tensorboard` extra: `pip install -e ".[tensorboard]"`);
  off by default, and asking for it without the writer installed is an error.
* `final_table`: the printed end-of-run summary (paper Tables III/IV per stage
  through `eval.metrics.format_report`, plus parameter counts).
* `plot_training_curves`: a PNG drawn with matplotlib's Agg canvas (no
  display, no global pyplot state); the confusion matrices are
  `jclip_eeg.eval.plots.plot_confusion_matrices`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from jclip_eeg import jsonio
from jclip_eeg.errors import ConfigError
from jclip_eeg import paper_results
from jclip_eeg.metrics import format_report

# Wall-clock fields of a train record: they differ between a resumed and an uninterrupted run.
TIMING_FIELDS = ("step_time_s", "samples_per_s", "tflops_per_s_per_device", "mfu")
# Fields of a metrics record that are not curves (bookkeeping or wall-clock dependent).
_NOT_PLOTTED = ("kind", "step", "epoch", *TIMING_FIELDS)


def tensorboard_writer(logdir: Path) -> Any:
  """A tensorboardX SummaryWriter into `logdir`; ConfigError naming the extra when it is not installed."""
  try:
    from tensorboardX import SummaryWriter
  except ImportError:
    raise ConfigError('config.train.tensorboard=True needs tensorboardX: pip install -e ".[tensorboard]" '
                      "(or set --config.train.tensorboard=False; metrics.jsonl has the same scalars)") from None
  return SummaryWriter(str(logdir))


class MetricsLog:
  """Appends metric records to `path` (JSON lines) and, with `tensorboard`, to TensorBoard.

  Args:
    path: the metrics.jsonl file.
    resume_step: the restored step, or None for a fresh run. Records with a
      larger step (written after the last checkpoint of a killed run) are
      dropped; a fresh run starts an empty file.
    tensorboard: also write TensorBoard events under `path.parent / "tensorboard"`.
  """

  def __init__(self, path: str | os.PathLike, *, resume_step: int | None, tensorboard: bool = False):
    self.path = Path(path)
    self._writer = tensorboard_writer(self.path.parent / "tensorboard") if tensorboard else None
    kept = [r for r in jsonio.read_jsonl(self.path) if resume_step is not None and r["step"] <= resume_step]
    self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

  def write(self, kind: str, step: int, values: Mapping[str, float]) -> None:
    """Appends `{"kind": kind, "step": step, **values}` (values: JSON numbers)."""
    with open(self.path, "a") as f:
      f.write(json.dumps({"kind": kind, "step": int(step), **values}) + "\n")
    if self._writer is not None:
      for name, value in values.items():
        self._writer.add_scalar(f"{kind}/{name}", value, int(step))

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()


# ----------------------------------------------------------------------------- text


def params_line(params: Mapping[str, int]) -> str:
  """"total 1.23 M, trainable 0.45 M, EEG encoder 0.40 M" from a stage's parameter counts."""
  names = {"total": "total", "trainable": "trainable", "eeg_encoder": "EEG encoder"}
  return ", ".join(f"{names[k]} {params[k] / 1e6:.3f} M" for k in names if k in params)


def _summary_row(name: str, params: str, val_f1: float | None, test: Mapping[str, Any] | None,
                 paper: Mapping[str, Any]) -> str:
  """One line of the summary: the whole test fold (acc, macro / weighted F1, AUC), then the paper's protocol."""
  full = [test.get(k) if test else None for k in ("accuracy", "f1_macro", "f1_weighted", "auc")]
  return " ".join([f"{name:<24} {params:>9} {_fmt(val_f1, 7)}", *(_fmt(v, 8) for v in full),
                   *(_fmt(paper.get(k), 8) for k in ("accuracy", "f1", "auc"))])


def _fmt(value: float | None, width: int) -> str:
  return ("-" if value is None else f"{value:.4f}").rjust(width)


def final_table(report: Mapping[str, Any]) -> str:
  """The printed end-of-run report: one block per stage, then a one-line-per-model summary.

  The summary has the stages, the band-power baseline and, for the paper's
  datasets, its published Table I numbers ("paper (reported)"), each with the
  whole test fold's scores (the headline) beside the paper's protocol.

  Args:
    report: the run's report.json content (`stages`: role -> stage result
      with `params`, `best_step`, `best_val`, `test`; `baseline`; `data`).
  """
  blocks = []
  summary = [f"{'model':<24} {'params':>9} {'val F1':>7} {'acc':>8} {'F1 macro':>8} {'F1 wtd':>8} {'AUC':>8} "
             f"{'paper:acc':>8} {'F1':>8} {'AUC*':>8}"]
  for role, stage in report["stages"].items():
    test = stage["test"]
    title = (f"{role}: test fold ({test['n_samples']} windows), model of step {stage['best_step']} "
             f"(best validation macro F1 {stage['best_val']['f1_macro']:.4f})")
    blocks.append(format_report(test, title) + f"\nparameters: {params_line(stage['params'])}")
    summary.append(_summary_row(role, f"{stage['params']['total'] / 1e6:.3f}M", stage["best_val"]["f1_macro"],
                                test, test["paper"]))
  if "baseline" in report:
    summary.append(_summary_row("baseline (band power)", "-", None, report["baseline"]["test"],
                                report["baseline"]["test"]["paper"]))
  dataset = report.get("data", {}).get("dataset")
  for role in report["stages"]:
    if ("I", dataset, role) in paper_results.REPORTED:
      summary.append(_summary_row(f"{role}: paper (reported)", "-", None, None,
                                  paper_results.reported("I", dataset, role)))
  notes = ["acc .. AUC: the whole test fold (macro F1, probability AUC); paper: the paper's protocol (binary: a "
           "seeded 1:1 draw, seizure-class F1; AUC* from hard labels). README \"Two test protocols\"."]
  return "\n\n".join(blocks + ["\n".join(summary + notes)])


# ----------------------------------------------------------------------------- plots


def _curves(records: Sequence[Mapping[str, Any]], kind: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """name -> (steps, values) of the numeric fields of records of `kind`."""
  rows = [r for r in records if r["kind"] == kind]
  names = sorted({k for r in rows for k, v in r.items()
                  if k not in _NOT_PLOTTED and isinstance(v, (int, float))})
  curves = {}
  for name in names:
    points = [(r["step"], r[name]) for r in rows if name in r]
    curves[name] = (np.array([p[0] for p in points]), np.array([p[1] for p in points], dtype=float))
  return curves


def plot_training_curves(histories: Mapping[str, Sequence[Mapping[str, Any]]], path: str | os.PathLike,
                         train_keys: Sequence[str] = ("loss", "accuracy"),
                         val_keys: Sequence[str] = ("f1_macro", "accuracy")) -> None:
  """One row per stage: training loss, training accuracy, validation metrics, against the step.

  Args:
    histories: stage name -> its metrics.jsonl records.
    path: the PNG to write.
  """
  fig = Figure(figsize=(12, 3.2 * len(histories)), layout="constrained")
  axes = fig.subplots(len(histories), 3, squeeze=False)
  for row, (stage, records) in zip(axes, histories.items()):
    train, val = _curves(records, "train"), _curves(records, "val")
    for ax, key in zip(row[:2], train_keys):
      if key in train:
        ax.plot(*train[key], label=f"train {key}")
      ax.set(title=f"{stage}: train {key}", xlabel="step")
    for key in val_keys:
      if key in val:
        row[2].plot(*val[key], marker="o", label=f"val {key}")
    row[2].set(title=f"{stage}: validation", xlabel="step", ylim=(0, 1.02))
    row[2].legend(loc="lower right")
  fig.savefig(path, dpi=100)
