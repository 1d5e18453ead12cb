"""Evaluation pictures: confusion matrices, ROC curves, probability timelines, ECAM topomaps.

Every function draws on matplotlib's Agg canvas (a `Figure`, no pyplot
state, no display) and writes one PNG. `draw_run` draws them all for the
finished stages of a workdir (scripts/plots.py).

Seizure probability: for two classes the positive class's probability, for
more classes 1 - p(background), i.e. "any seizure type".
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import mne
import numpy as np
import tqdm
from matplotlib.figure import Figure
from sklearn.metrics import auc, roc_curve

from jclip_eeg import jsonio
from jclip_eeg.data.store import EpochStore
from jclip_eeg.errors import ConfigError, DataError
from jclip_eeg.eval import ecam as ecam_lib
from jclip_eeg.metrics import classification_report
from jclip_eeg.runs import inference, split as split_lib, stage as stage_lib

BACKGROUND = 0  # the non-seizure class index, as in eval.metrics


def seizure_probability(probs: np.ndarray, background: int = BACKGROUND) -> np.ndarray:
  """(n, K) class probabilities -> (n,) probability of seizure (module docstring)."""
  if probs.ndim != 2 or probs.shape[1] < 2:
    raise DataError(f"probabilities have shape {probs.shape}, expected (windows, classes >= 2)")
  if probs.shape[1] == 2:
    return probs[:, 1 - background]
  return 1.0 - probs[:, background]


# ----------------------------------------------------------------------------- confusion matrices


def plot_confusion_matrices(reports: Mapping[str, Mapping[str, Any]], path: str | os.PathLike) -> None:
  """Row-normalised test confusion matrices side by side, counts written in the cells.

  Args:
    reports: stage name -> `classification_report` dict.
    path: the PNG to write.
  """
  fig = Figure(figsize=(4.5 * len(reports), 4), layout="constrained")
  axes = fig.subplots(1, len(reports), squeeze=False)[0]
  for ax, (stage, report) in zip(axes, reports.items()):
    counts = np.asarray(report["confusion_matrix"], dtype=float)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    ax.imshow(rates, vmin=0, vmax=1, cmap="Blues")
    names = report["class_names"]
    ax.set(title=f"{stage}: test (F1 macro {report['f1_macro']:.3f})", xlabel="predicted", ylabel="true",
           xticks=range(len(names)), yticks=range(len(names)), xticklabels=names, yticklabels=names)
    for (i, j), count in np.ndenumerate(counts):
      ax.text(j, i, f"{int(count)}", ha="center", va="center",
              color="white" if rates[i, j] > 0.5 else "black")
  fig.savefig(path, dpi=100)


# ----------------------------------------------------------------------------- ROC


def _roc_curves(y: np.ndarray, probs: np.ndarray, class_names: Sequence[str]) -> dict[str, tuple]:
  """label -> (fpr, tpr, auc): the positive class for two classes, else each class vs rest plus micro."""
  if len(class_names) == 2:
    targets = {class_names[1 - BACKGROUND]: (y != BACKGROUND, probs[:, 1 - BACKGROUND])}
  else:
    targets = {name: (y == k, probs[:, k]) for k, name in enumerate(class_names)}
    onehot = np.eye(len(class_names), dtype=bool)[y]
    targets["micro average"] = (onehot.ravel(), probs.ravel())
  curves = {}
  for label, (truth, score) in targets.items():
    if truth.all() or not truth.any():
      continue  # a class absent from (or alone in) the test part has no ROC curve
    fpr, tpr, _ = roc_curve(truth, score)
    curves[label] = (fpr, tpr, auc(fpr, tpr))
  return curves


def plot_roc(results: Mapping[str, tuple[np.ndarray, np.ndarray]], class_names: Sequence[str],
             path: str | os.PathLike) -> None:
  """ROC curves side by side, one panel per model.

  Args:
    results: model name -> (y (n,) int true classes, probs (n, K) probabilities).
    class_names: the K class names.
    path: the PNG to write.
  """
  fig = Figure(figsize=(4.8 * len(results), 4.4), layout="constrained")
  axes = fig.subplots(1, len(results), squeeze=False)[0]
  for ax, (name, (y, probs)) in zip(axes, results.items()):
    for label, (fpr, tpr, area) in _roc_curves(np.asarray(y), np.asarray(probs), class_names).items():
      ax.plot(fpr, tpr, label=f"{label} (AUC {area:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(title=f"{name}: ROC", xlabel="false positive rate", ylabel="true positive rate",
           xlim=(0, 1), ylim=(0, 1.01), aspect="equal")
    ax.legend(loc="lower right", fontsize="small")
  fig.savefig(path, dpi=100)


# ----------------------------------------------------------------------------- timelines


def seizure_spans(start_s: np.ndarray, is_seizure: np.ndarray, window_s: float) -> list[tuple[float, float]]:
  """Merged [start, end) seconds covered by seizure windows (start_s (n,) any order, window_s long)."""
  spans: list[list[float]] = []
  for start in np.sort(start_s[is_seizure]):
    if spans and start <= spans[-1][1]:
      spans[-1][1] = max(spans[-1][1], start + window_s)
    else:
      spans.append([start, start + window_s])
  return [(a, b) for a, b in spans]


def plot_timeline(start_s: np.ndarray, y: np.ndarray, probs: Mapping[str, np.ndarray], window_s: float,
                  title: str, path: str | os.PathLike) -> None:
  """Seizure probability over one recording, true seizures shaded.

  Args:
    start_s: (n,) window starts in seconds.
    y: (n,) true classes.
    probs: model name -> (n, K) probabilities of the same windows.
    window_s: window length in seconds (a point is drawn at the window centre).
    title: the recording's name.
    path: the PNG to write.
  """
  order = np.argsort(start_s, kind="stable")
  centre = start_s[order] + window_s / 2
  fig = Figure(figsize=(12, 2.8), layout="constrained")
  ax = fig.subplots()
  for k, (a, b) in enumerate(seizure_spans(start_s, y != BACKGROUND, window_s)):
    ax.axvspan(a, b, color="tab:red", alpha=0.2, linewidth=0, label="true seizure" if k == 0 else None)
  for name, p in probs.items():
    ax.plot(centre, seizure_probability(np.asarray(p))[order], linewidth=1, label=name)
  ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
  ax.set(title=title, xlabel="time (s)", ylabel="p(seizure)", ylim=(-0.02, 1.02),
         xlim=(start_s.min(), start_s.max() + window_s))
  ax.legend(loc="upper right", fontsize="small")
  fig.savefig(path, dpi=100)


def _file_name(text: str) -> str:
  return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def plot_timelines(recording: np.ndarray, start_s: np.ndarray, y: np.ndarray, probs: Mapping[str, np.ndarray],
                   window_s: float, out_dir: str | os.PathLike, max_recordings: int | None = None) -> list[Path]:
  """One timeline PNG per recording (`plot_timeline`), recordings with seizures first.

  Args:
    recording: (n,) recording id of each window; start_s, y: (n,) as in `plot_timeline`.
    probs: model name -> (n, K) probabilities.
    out_dir: folder for `<recording>.png` (created).
    max_recordings: draw at most this many (None: all).
  Returns:
    The written paths.
  """
  out_dir = Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  names = sorted(set(recording.tolist()), key=lambda r: (not np.any(y[recording == r] != BACKGROUND), r))
  paths = []
  for name in names[:max_recordings]:
    rows = recording == name
    path = out_dir / f"{_file_name(name)}.png"
    plot_timeline(start_s[rows], y[rows], {k: np.asarray(p)[rows] for k, p in probs.items()}, window_s,
                  str(name), path)
    paths.append(path)
  return paths


# ----------------------------------------------------------------------------- ECAM


def plot_ecam(maps: Mapping[str, ecam_lib.Ecam], path: str | os.PathLike) -> None:
  """Scalp topomaps: one row per model, one column per class, each map scaled to its maximum.

  Args:
    maps: model name -> its `Ecam`.
    path: the PNG to write.
  """
  first = next(iter(maps.values()))
  info, sensor_of = ecam_lib.topomap_info(first.channel_names)
  n_cols = len(first.class_names)
  fig = Figure(figsize=(3.2 * n_cols + 0.8, 3.2 * len(maps)), layout="constrained")
  axes = fig.subplots(len(maps), n_cols, squeeze=False)
  image = None
  for row, (name, ecam) in zip(axes, maps.items()):
    for ax, class_name, values, count in zip(row, ecam.class_names, ecam.scaled(), ecam.n_windows):
      ax.set_title(f"{name}: {class_name} ({count} windows)", fontsize="small")
      if count == 0:
        ax.set_axis_off()
        continue
      image, _ = mne.viz.plot_topomap(ecam_lib.per_sensor(values, sensor_of), info, axes=ax, show=False,
                                      cmap="Reds", vlim=(0, 1), contours=0, sensors=True)
  if image is not None:
    fig.colorbar(image, ax=axes, shrink=0.8, label="relative importance")
  fig.savefig(path, dpi=100)


# ----------------------------------------------------------------------------- a finished run


def draw_run(workdir: str | os.PathLike, roles: Sequence[str], out: str | os.PathLike, *, max_recordings: int,
             ecam_windows: int, progress: bool = False) -> list[Path]:
  """Every picture of the finished stages `roles` of a workdir, on their test fold, into `out`.

  Writes roc.png, confusion_matrices.png, ecam.png + ecam.json and
  timelines/<recording>.png (at most `max_recordings`, seizures first).
  Returns the written paths.

  Raises:
    ConfigError: none of `roles` has finished in `workdir`.
  """
  workdir, out = Path(workdir), Path(out)
  present = [r for r in roles if stage_lib.is_finished(workdir / r)]
  if not present:
    raise ConfigError(f"{workdir}: none of the stages {list(roles)} has finished (no <stage>/result.json); "
                      "train with scripts/train.py first")
  predictions, maps = {}, {}
  with tqdm.tqdm(total=2 * len(present), desc="plots", unit="step", disable=not progress) as bar:
    for role in present:
      stage = stage_lib.load(workdir / role)
      split = split_lib.load_split(stage.config.data)  # every stage of one workdir shares it (the loop checks)
      predictions[role] = inference.predict_rows(stage.predictor(), split.store, split.test,
                                                 batch_size=stage.config.train.eval_batch_size)
      bar.update()
      maps[role] = ecam_lib.compute_ecam(stage, split.store, split.test, max_windows_per_class=ecam_windows)
      bar.update()
  out.mkdir(parents=True, exist_ok=True)
  written = [out / "roc.png", out / "confusion_matrices.png", out / "ecam.png", out / "ecam.json"]
  plot_roc(predictions, split.class_names, written[0])
  plot_confusion_matrices({r: classification_report(y, p, split.class_names) for r, (y, p) in predictions.items()},
                          written[1])
  plot_ecam(maps, written[2])
  jsonio.write_json(written[3], {role: m.to_json() for role, m in maps.items()})
  store = EpochStore(split.store)
  y = next(iter(predictions.values()))[0]
  written += plot_timelines(store.recording[split.test], np.asarray(store.start_s)[split.test], y,
                            {r: p for r, (_, p) in predictions.items()}, store.x.shape[2] / store.sfreq,
                            out / "timelines", max_recordings)
  return written
