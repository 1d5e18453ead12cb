"""Per-second seizure probabilities -> seizure events, SzCORE `events.tsv` I/O and scoring.

Post-processing (`to_events`), in this order:
  1. smoothing: centred moving average over `smooth_s` seconds (edges average
     the seconds that exist), which removes isolated one-window spikes;
  2. threshold: seconds with smoothed probability >= `threshold` are seizure;
  3. merge gap: seizure runs separated by at most `merge_gap_s` seconds of
     background become one event (a seizure whose probability dips briefly);
  4. minimum duration: events shorter than `min_duration_s` are dropped
     (after merging, so two close halves of one seizure survive together).
Defaults (threshold 0.5, 5 s smoothing, 10 s minimum, 5 s gap) fit adult
seizures, which last tens of seconds (CHB-MIT median ~60 s); an event's
confidence is the mean unsmoothed probability over its seconds.

`events.tsv` follows the SzCORE / BIDS-EEG convention (https://eval.szcore.org):
tab-separated, columns onset, duration (s), eventType (`sz` for a seizure),
confidence (0-1), channels (`n/a` when not localised), dateTime (ISO 8601
start of the recording), recordingDuration (s). A seizure-free recording gets
one `bckg` row covering the whole recording, as SzCORE asks.

Scoring uses the PyPI `timescoring` package (SzCORE): event scoring with its
default parameters (30 s tolerance before and 60 s after an event, any
overlap, events longer than 5 min split, events closer than 90 s merged) and
sample scoring at 1 Hz.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from timescoring import scoring
from timescoring.annotations import Annotation

from jclip_eeg.data import datasets
from jclip_eeg.errors import ConfigError, DataError

COLUMNS = ("onset", "duration", "eventType", "confidence", "channels", "dateTime", "recordingDuration")
SEIZURE, BACKGROUND = "sz", "bckg"


@dataclasses.dataclass(frozen=True)
class PostProcessing:
  """How per-second probabilities become events (module docstring); times in seconds."""
  threshold: float = 0.5
  smooth_s: float = 5.0
  min_duration_s: float = 10.0
  merge_gap_s: float = 5.0

  def __post_init__(self):
    if not 0.0 < self.threshold < 1.0:
      raise ConfigError(f"threshold: {self.threshold}; expected a probability in (0, 1)")
    for name in ("smooth_s", "min_duration_s", "merge_gap_s"):
      if not getattr(self, name) >= 0:
        raise ConfigError(f"{name}: {getattr(self, name)}; expected >= 0 seconds")


@dataclasses.dataclass(frozen=True)
class DetectedEvent:
  """One detected seizure: `onset` and `duration` in seconds, `confidence` in [0, 1]."""
  onset: float
  duration: float
  confidence: float
  event_type: str = SEIZURE
  channels: str = "n/a"

  @property
  def end(self) -> float:
    return self.onset + self.duration


def smooth(probs: np.ndarray, width: int) -> np.ndarray:
  """Centred moving average of (n,) `probs` over `width` samples (<= 1: unchanged), float64 (n,)."""
  probs = np.asarray(probs, dtype=np.float64)
  if width <= 1 or probs.size == 0:
    return probs
  cumulative = np.concatenate([[0.0], np.cumsum(probs)])
  n = probs.size
  lo = np.clip(np.arange(n) - width // 2, 0, n)
  hi = np.clip(np.arange(n) - width // 2 + width, 0, n)
  return (cumulative[hi] - cumulative[lo]) / (hi - lo)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
  """[start, stop) index pairs of the True runs of a 1-D bool mask."""
  edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
  return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def to_events(probs: np.ndarray, settings: PostProcessing = PostProcessing(),
              step_s: float = 1.0) -> list[DetectedEvent]:
  """Seizure events from (n,) probabilities, sample k covering [k step_s, (k+1) step_s) seconds."""
  probs = np.asarray(probs, dtype=np.float64)
  if probs.ndim != 1 or not np.all(np.isfinite(probs)):
    raise DataError(f"seizure probabilities: expected a finite 1-D trace, got shape {probs.shape}")
  smoothed = smooth(probs, round(settings.smooth_s / step_s))
  merged: list[list[int]] = []
  for start, stop in _runs(smoothed >= settings.threshold):
    if merged and (start - merged[-1][1]) * step_s <= settings.merge_gap_s:
      merged[-1][1] = stop
    else:
      merged.append([start, stop])
  return [DetectedEvent(onset=start * step_s, duration=(stop - start) * step_s,
                        confidence=float(probs[start:stop].mean()))
          for start, stop in merged if (stop - start) * step_s >= settings.min_duration_s]


# ----------------------------------------------------------------------------- events.tsv


def write_tsv(path: str | Path, events: Sequence[DetectedEvent], recording_duration_s: float,
              date_time: str) -> None:
  """Writes `events` (a seizure-free recording: one `bckg` row) as SzCORE `events.tsv`."""
  rows = list(events) or [DetectedEvent(0.0, recording_duration_s, 1.0, BACKGROUND)]
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path, "w", newline="") as f:
    writer = csv.writer(f, delimiter="\t", lineterminator="\n")
    writer.writerow(COLUMNS)
    for e in rows:
      writer.writerow([f"{e.onset:.2f}", f"{e.duration:.2f}", e.event_type, f"{e.confidence:.4f}",
                       e.channels, date_time, f"{recording_duration_s:.2f}"])


def _number(path: Path, line: int, row: dict[str, str], column: str) -> float:
  try:
    value = float(row[column])
  except (TypeError, ValueError):
    value = math.nan
  if not math.isfinite(value):
    raise DataError(f"{path}: line {line}: column {column!r} holds {row[column]!r}, expected a number")
  return value


def read_tsv(path: str | Path) -> tuple[list[DetectedEvent], float]:
  """(seizure events, recording duration s) from an `events.tsv`; `bckg` rows are skipped.

  Raises:
    DataError: missing file or column, or a non-numeric onset/duration/confidence.
  """
  path = Path(path)
  if not path.is_file():
    raise DataError(f"{path}: events.tsv not found")
  with open(path, newline="", errors="replace") as f:
    reader = csv.DictReader(f, delimiter="\t")
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
      raise DataError(f"{path}: not an SzCORE events.tsv: missing column(s) {missing}; "
                      f"the header is {reader.fieldnames}")
    events, duration = [], math.nan
    for line, row in enumerate(reader, start=2):
      duration = _number(path, line, row, "recordingDuration")
      if row["eventType"] == BACKGROUND:
        continue
      events.append(DetectedEvent(_number(path, line, row, "onset"), _number(path, line, row, "duration"),
                                  _number(path, line, row, "confidence"), row["eventType"], row["channels"]))
  if math.isnan(duration):
    raise DataError(f"{path}: events.tsv has no rows (even a seizure-free recording has a 'bckg' row)")
  return events, duration


def reference_intervals(annotation: str | Path, edf_path: str | Path) -> list[tuple[float, float]]:
  """Seizure (start s, end s) of the recording `edf_path` in a reference annotation file.

  An events.tsv (SzCORE) is read here; any dataset's own annotation file goes
  to its reader (`datasets.reference_events`: a CHB-MIT summary, a TUSZ
  .csv/.csv_bi/.tse/.tse_bi, a Helsinki annotations_2017_X.csv, ...).
  """
  annotation = Path(annotation)
  if annotation.suffix == ".tsv":
    return [(e.onset, e.end) for e in read_tsv(annotation)[0]]
  return [(e.start_s, e.end_s) for e in datasets.reference_events(annotation, edf_path)]


# ----------------------------------------------------------------------------- scoring


def _annotation(intervals: Sequence[tuple[float, float]], duration_s: float, fs: int) -> Annotation:
  clipped = [(max(0.0, a), min(duration_s, b)) for a, b in intervals if b > 0 and a < duration_s]
  return Annotation(clipped, fs, max(1, round(duration_s * fs)))


def _scores(result: scoring._Scoring) -> dict[str, float]:
  values = {"sensitivity": result.sensitivity, "precision": result.precision, "f1": result.f1,
            "false_alarms_per_24h": result.fpRate, "true_positives": result.tp,
            "false_positives": result.fp, "reference_events": result.refTrue}
  return {k: None if v is None or not np.isfinite(v) else float(v) for k, v in values.items()}


def score(reference: Sequence[tuple[float, float]], hypothesis: Sequence[tuple[float, float]],
          duration_s: float) -> dict[str, dict[str, float | None]]:
  """SzCORE event- and sample-level scores of (start s, end s) intervals in one recording.

  Returns:
    {"event": {...}, "sample": {...}}, each with sensitivity, precision, f1,
    false_alarms_per_24h, true_positives, false_positives, reference_events
    (for "sample" the counts are 1-s samples); None where undefined (e.g.
    sensitivity without reference seizures).
  """
  if not duration_s > 0:
    raise DataError(f"scoring: recording duration {duration_s}; expected > 0 seconds")
  # The event scorer resamples to 10 Hz itself; the sample scorer works at 1 Hz.
  ref, hyp = _annotation(reference, duration_s, 10), _annotation(hypothesis, duration_s, 10)
  return {"event": _scores(scoring.EventScoring(ref, hyp)),
          "sample": _scores(scoring.SampleScoring(ref, hyp, fs=1))}
