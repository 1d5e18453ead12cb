"""Cutting a preprocessed recording into labelled 1-s windows (paper IV-A/B).

Layout, for a recording of n samples, window length W = window_s * sfreq
samples and seizure stride S = W * (1 - seizure_overlap) samples (128 for 50 %
and 64 for 75 % overlap at 256 Hz):

* Events are converted to samples (e0 = start_s * sfreq, e1 = end_s * sfreq,
  the window [s, s + W) "touches" an event when it overlaps it by more than
  zero samples) and clipped to the recording. Events of the same label closer
  than one window are merged into one run (their grids would otherwise
  produce near-duplicate windows).
* Background grid: starts 0, W, 2W, ... (whole windows only), minus every
  window that touches an event of a class.
* Event grid, one per run of a class: starts floor(e0) + j * S for every
  integer j whose window touches the run and lies inside the recording. So
  each seizure is covered with the overlapping stride, from the window that
  ends just after onset to the one that starts just before offset.
* Every candidate window is then labelled by the rule, over all events:
  - "touch" (default, the paper's): a window belongs to an event's class when
    it touches the event;
  - "majority": when the event covers >= 50 % of the window;
  - "center": when the window's centre sample time, s + W / 2, lies in [e0, e1).
* Windows are dropped (and counted in `WindowPlan.dropped`, by reason) when they
  - touch an event whose label is not one of the classes (e.g. TUSZ `mysz`),
    whatever the rule: they are neither clean background nor a class;
  - belong to two different classes under the rule (overlapping or adjacent
    events of different types): the label would be ambiguous;
  - touch an event but do not belong to it under the rule ("majority" and
    "center" only): partly seizure, so not clean background either. The
    background class therefore holds only windows that touch no event at all.

Pre-cut segments (AUBMC) are one window each (`segment_plan`).
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jclip_eeg.data.types import Event
from jclip_eeg.errors import ConfigError, DataError

RULES = ("touch", "majority", "center")


@dataclasses.dataclass(frozen=True)
class WindowPlan:
  """The windows of one recording.

  Attributes:
    start: (N,) int64 first sample of each window, ascending.
    label: (N,) int32 class index.
    window_len: W, samples per window.
    sfreq: sampling rate in Hz.
    dropped: reason -> number of candidate windows dropped for it.
  """
  start: np.ndarray
  label: np.ndarray
  window_len: int
  sfreq: float
  dropped: dict[str, int]

  @property
  def start_s(self) -> np.ndarray:
    """(N,) float64 window start in seconds from the recording start."""
    return self.start / self.sfreq


@dataclasses.dataclass(frozen=True)
class _Run:
  """An event (or merged same-label events) in samples: [start, end)."""
  start: float
  end: float
  label: str


def window_length(sfreq: float, window_s: float) -> int:
  """Samples per window; ConfigError unless window_s * sfreq is a whole number >= 1."""
  n = window_s * sfreq
  if n < 1 or abs(n - round(n)) > 1e-9:
    raise ConfigError(f"window_s: {window_s} s at {sfreq:g} Hz is {n:g} samples; "
                      "expected a whole number of samples")
  return int(round(n))


def seizure_stride(window_len: int, seizure_overlap: float) -> int:
  """Samples between overlapping windows inside seizures."""
  if not 0 <= seizure_overlap < 1:
    raise ConfigError(f"seizure_overlap: {seizure_overlap}; expected a fraction in [0, 1)")
  return max(1, round(window_len * (1 - seizure_overlap)))


def check_rule(rule: str) -> str:
  if rule not in RULES:
    raise ConfigError(f"label_rule: {rule!r}; expected one of {', '.join(RULES)}")
  return rule


def plan_windows(n_samples: int, sfreq: float, events: Sequence[Event],
                 class_names: Sequence[str], *, seizure_overlap: float, rule: str = "touch",
                 window_s: float = 1.0, source: str | Path = "<recording>") -> WindowPlan:
  """Window starts and labels of a continuous recording (module docstring).

  Args:
    n_samples: length of the recording in samples at `sfreq`.
    sfreq: sampling rate in Hz.
    events: labelled intervals in seconds; labels not in `class_names` drop the
      windows that touch them.
    class_names: index = label; class 0 is background and never an event label.
    seizure_overlap: overlap fraction of windows inside events.
    rule: "touch", "majority" or "center".
    window_s: window length in seconds.
    source: named in errors.
  """
  window_len = window_length(sfreq, window_s)
  stride = seizure_stride(window_len, seizure_overlap)
  check_rule(rule)
  runs = _runs(events, sfreq, n_samples, window_len, class_names, source)
  classes = [r for r in runs if r.label in class_names]
  background = np.arange(n_samples // window_len, dtype=np.int64) * window_len
  background = background[~_touches_any(background, window_len, classes)]
  grids = [_event_grid(r, window_len, stride, n_samples) for r in classes]
  starts = np.unique(np.concatenate([background, *grids]))
  labels, keep, dropped = _label(starts, window_len, runs, class_names, rule)
  return WindowPlan(starts[keep], labels[keep], window_len, sfreq, dropped)


def segment_plan(n_samples: int, sfreq: float, events: Sequence[Event],
                 class_names: Sequence[str], *, window_s: float = 1.0,
                 source: str | Path = "<segment>") -> WindowPlan:
  """A pre-cut segment as one window labelled by its events (none = background).

  Raises:
    DataError: the segment is not exactly one window long.
  """
  window_len = window_length(sfreq, window_s)
  if n_samples != window_len:
    raise DataError(f"{source}: pre-cut segment of {n_samples} samples; expected one "
                    f"{window_s:g}-s window of {window_len} samples at {sfreq:g} Hz")
  labels = sorted({e.label for e in events})
  unknown = [x for x in labels if x not in class_names]
  if unknown:
    return _no_windows(window_len, sfreq, f"touches {unknown[0]!r} (not a class)")
  if len(labels) > 1:
    return _no_windows(window_len, sfreq, "belongs to two classes")
  label = class_names.index(labels[0]) if labels else 0
  return WindowPlan(np.zeros(1, np.int64), np.full(1, label, np.int32), window_len, sfreq, {})


def cut_windows(data: np.ndarray, plan: WindowPlan,
                dtype: str | np.dtype = np.float32) -> np.ndarray:
  """(C, T) signals -> (N, C, W) windows at `plan.start`, cast to `dtype`."""
  out = np.empty((len(plan.start), data.shape[0], plan.window_len), dtype)
  for row, start in zip(out, plan.start):
    row[...] = data[:, start:start + plan.window_len]
  return out


def _no_windows(window_len: int, sfreq: float, reason: str) -> WindowPlan:
  return WindowPlan(np.zeros(0, np.int64), np.zeros(0, np.int32), window_len, sfreq, {reason: 1})


def _runs(events: Sequence[Event], sfreq: float, n_samples: int, window_len: int,
          class_names: Sequence[str], source: str | Path) -> list[_Run]:
  """Events in samples, clipped to the recording, same-label ones merged when < W apart."""
  by_label: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
  for e in events:
    if not (math.isfinite(e.start_s) and math.isfinite(e.end_s) and e.end_s > e.start_s):
      raise DataError(f"{source}: event {e.label!r} {e.start_s}-{e.end_s} s; "
                      "expected finite times with end > start")
    if e.label == class_names[0]:
      raise DataError(f"{source}: an event is labelled with the background class "
                      f"{class_names[0]!r}; background is the time outside events")
    start, end = max(e.start_s * sfreq, 0.0), min(e.end_s * sfreq, float(n_samples))
    if end > start:
      by_label[e.label].append((start, end))
  runs = []
  for label, spans in sorted(by_label.items()):
    spans.sort()
    merged = [list(spans[0])]
    for start, end in spans[1:]:
      if start - merged[-1][1] < window_len:
        merged[-1][1] = max(merged[-1][1], end)
      else:
        merged.append([start, end])
    runs += [_Run(s, e, label) for s, e in merged]
  return runs


def _overlap(starts: np.ndarray, window_len: int, run: _Run) -> np.ndarray:
  """(N,) samples of each window [s, s + W) inside the run, >= 0."""
  return np.clip(np.minimum(starts + window_len, run.end) - np.maximum(starts, run.start), 0, None)


def _touches_any(starts: np.ndarray, window_len: int, runs: Sequence[_Run]) -> np.ndarray:
  touched = np.zeros(len(starts), bool)
  for run in runs:
    touched |= _overlap(starts, window_len, run) > 0
  return touched


def _event_grid(run: _Run, window_len: int, stride: int, n_samples: int) -> np.ndarray:
  """Starts floor(e0) + j * S of every window touching the run, inside [0, n - W]."""
  anchor = math.floor(run.start)
  first = math.floor((run.start - window_len - anchor) / stride) + 1
  last = math.ceil((run.end - anchor) / stride) - 1
  starts = anchor + stride * np.arange(first, last + 1, dtype=np.int64)
  return starts[(starts >= 0) & (starts <= n_samples - window_len)]


def _label(starts: np.ndarray, window_len: int, runs: Sequence[_Run],
           class_names: Sequence[str], rule: str) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
  """Labels by `rule`, the keep mask and the drop counts (module docstring)."""
  n = len(starts)
  member = np.zeros((n, len(class_names)), bool)
  touched = np.zeros(n, bool)
  unknown: dict[str, np.ndarray] = {}
  for run in runs:
    overlap = _overlap(starts, window_len, run)
    if run.label not in class_names:
      unknown[run.label] = unknown.get(run.label, np.zeros(n, bool)) | (overlap > 0)
      continue
    touched |= overlap > 0
    member[:, class_names.index(run.label)] |= _belongs(starts, window_len, run, overlap, rule)
  keep = np.ones(n, bool)
  dropped: dict[str, int] = {}

  def drop(mask: np.ndarray, reason: str) -> None:
    mask = mask & keep
    if mask.any():
      dropped[reason] = dropped.get(reason, 0) + int(mask.sum())
      keep[mask] = False

  for label, mask in sorted(unknown.items()):
    drop(mask, f"touches {label!r} (not a class)")
  n_classes = member.sum(axis=1)
  drop(n_classes > 1, "belongs to two classes")
  drop(touched & (n_classes == 0), f"touches an event but not by the {rule!r} rule")
  labels = member.argmax(axis=1).astype(np.int32)  # 0 (background) where no class
  return labels, keep, dropped


def _belongs(starts: np.ndarray, window_len: int, run: _Run, overlap: np.ndarray,
             rule: str) -> np.ndarray:
  if rule == "touch":
    return overlap > 0
  if rule == "majority":
    return overlap >= 0.5 * window_len
  centre = starts + 0.5 * window_len
  return (centre >= run.start) & (centre < run.end)
