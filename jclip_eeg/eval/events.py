"""Per-second seizure probabilities -> seizure events, SzCORE `events.tsv` I/O and scoring.

Post-processing (`to_events`), in this order:
  1. smoothing: centred moving average over `smooth_s` seconds (edges average
     the seconds that exist), which removes isolated one-window spikes;
  2. threshold: seconds with smoothed probability >= `threshold` are seizure;
  3. merge gap: seizure runs separated by at most `merge_gap_s` seconds of
     background become one event (a seizure whose probability dips briefly);
  4. minimum duration: events of at least `min_duration_s` are kept (after
     merging, so two close halves of one seizure survive together).
Defaults (threshold 0.5, 5 s smoothing, 8 s minimum, 5 s gap) fit adult
seizures, which last tens of seconds (CHB-MIT median ~60 s). The minimum is
8 s, not 10 s, so that 10-s seizures are not missed: a 10-s seizure covers only
9 whole 1-s windows when it starts off the second, and the two windows that
straddle its edges score lower (tested). A finished stage carries settings
tuned on its validation recordings instead (`jclip_eeg.eval.tuning`). An
event's confidence is the mean unsmoothed probability over its seconds.

`events.tsv` is the SzCORE format exactly as epilepsy2bids's `Annotations`
reads and writes it (https://eval.szcore.org; tested by round trips through
epilepsy2bids): tab-separated, columns onset, duration (s, 2 decimals),
eventType (`sz`, or any `sz_*` type, for a seizure; `bckg` for background),
confidence (0-1 with 2 decimals, or `n/a`), channels (`n/a` when not
localised), dateTime (`%Y-%m-%d %H:%M:%S`, the EDF start, or `n/a`),
recordingDuration (s), then `trial_type` (the eventType again: the column
MNE-BIDS names annotations by; SzCORE reads columns by name and ignores it).
A seizure-free recording gets one `bckg` row covering the whole recording with
confidence `n/a`, as epilepsy2bids writes it.

Scoring follows SzCORE's evaluation (szcore-evaluation, timescoring):
annotations become 1-Hz masks the way epilepsy2bids's `getMask` makes them
(sample int(onset) to int(onset + duration), int(recordingDuration) samples),
then timescoring's event scoring with its default parameters (30 s tolerance
before and 60 s after an event, any overlap, events longer than 5 min split,
events closer than 90 s merged) and its sample scoring at 1 Hz.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from timescoring import scoring
from timescoring.annotations import Annotation

from jclip_eeg.data import datasets
from jclip_eeg.errors import ConfigError, DataError

SZCORE_COLUMNS = ("onset", "duration", "eventType", "confidence", "channels", "dateTime", "recordingDuration")
COLUMNS = (*SZCORE_COLUMNS, "trial_type")
_REQUIRED = ("onset", "duration", "eventType", "recordingDuration")
SEIZURE, BACKGROUND = "sz", "bckg"
NOT_AVAILABLE = "n/a"
DATE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # epilepsy2bids's
SCORING_HZ = 1  # SzCORE's evaluation builds its masks at 1 Hz


@dataclasses.dataclass(frozen=True)
class PostProcessing:
  """How per-second probabilities become events (module docstring); times in seconds."""
  threshold: float = 0.5
  smooth_s: float = 5.0
  min_duration_s: float = 8.0
  merge_gap_s: float = 5.0

  def __post_init__(self):
    if not 0.0 < self.threshold < 1.0:
      raise ConfigError(f"threshold: {self.threshold}; expected a probability in (0, 1)")
    for name in ("smooth_s", "min_duration_s", "merge_gap_s"):
      if not getattr(self, name) >= 0:
        raise ConfigError(f"{name}: {getattr(self, name)}; expected >= 0 seconds")

  @classmethod
  def of(cls, record: Mapping[str, Any] | None) -> PostProcessing:
    """The settings in a stored record (a stage's `result["detection"]`; other keys ignored); None: defaults."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in (record or {}).items() if k in names})


@dataclasses.dataclass(frozen=True)
class DetectedEvent:
  """One seizure: `onset` and `duration` in seconds, `confidence` in [0, 1] or None (`n/a`)."""
  onset: float
  duration: float
  confidence: float | None
  event_type: str = SEIZURE
  channels: str = NOT_AVAILABLE

  @property
  def end(self) -> float:
    return self.onset + self.duration


def is_seizure(event_type: str) -> bool:
  """SzCORE's seizure types are `sz` and its refinements (`sz_foc_a`, `sz_gen_m_tonic`, ...)."""
  return event_type == SEIZURE or event_type.startswith(SEIZURE + "_")


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
          for start, stop in merged if (stop - start) * step_s >= settings.min_duration_s - 1e-9]


# ----------------------------------------------------------------------------- events.tsv


def date_time_text(start: datetime.datetime | None) -> str:
  """The dateTime column: the recording start as epilepsy2bids writes it, `n/a` when unknown."""
  return NOT_AVAILABLE if start is None else start.strftime(DATE_TIME_FORMAT)


def _row(event: DetectedEvent, date_time: str, recording_duration_s: float) -> list[str]:
  confidence = NOT_AVAILABLE if event.confidence is None else f"{event.confidence:.2f}"
  return [f"{event.onset:.2f}", f"{event.duration:.2f}", event.event_type, confidence, event.channels,
          date_time, f"{recording_duration_s:.2f}", event.event_type]


def write_tsv(path: str | Path, events: Sequence[DetectedEvent], recording_duration_s: float,
              start: datetime.datetime | None) -> None:
  """Writes `events` (a seizure-free recording: one `bckg` row) as an SzCORE events.tsv.

  The file is written in place, not renamed into place: SzCORE's runner hands
  the container an existing, writable output file in a folder it cannot write.
  """
  rows = list(events) or [DetectedEvent(0.0, recording_duration_s, None, BACKGROUND)]
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  date_time = date_time_text(start)
  with open(path, "w", newline="") as f:
    writer = csv.writer(f, delimiter="\t", lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(_row(e, date_time, recording_duration_s) for e in rows)


def _number(path: Path, line: int, row: Mapping[str, str], column: str, *, optional: bool = False) -> float | None:
  """A numeric cell; `n/a` (or empty) is None where `optional`, else a DataError naming the cell."""
  text = (row.get(column) or "").strip()
  if optional and text in ("", NOT_AVAILABLE):
    return None
  try:
    value = float(text)
  except ValueError:
    value = math.nan
  if not math.isfinite(value):
    expected = "a number or n/a" if optional else "a number"
    raise DataError(f"{path}: line {line}: column {column!r} holds {row.get(column)!r}, expected {expected}")
  return value


def _event_type(path: Path, line: int, row: Mapping[str, str]) -> str:
  event_type = (row.get("eventType") or "").strip()
  if event_type != BACKGROUND and not is_seizure(event_type):
    raise DataError(f"{path}: line {line}: eventType {event_type!r}; expected {BACKGROUND!r}, {SEIZURE!r} "
                    f"or an SzCORE seizure type ({SEIZURE}_...)")
  return event_type


def read_tsv(path: str | Path) -> tuple[list[DetectedEvent], float]:
  """(seizure events, recording duration s) of an SzCORE events.tsv (ours or epilepsy2bids's); `bckg` rows skipped.

  Raises:
    DataError: missing file or column, no rows, a non-numeric onset/duration/
      recordingDuration, a confidence that is neither a number nor `n/a`, an
      unknown eventType, or rows that disagree on the recording duration.
  """
  path = Path(path)
  if not path.is_file():
    raise DataError(f"{path}: events.tsv not found")
  with open(path, newline="", errors="replace") as f:
    reader = csv.DictReader(f, delimiter="\t")
    missing = [c for c in _REQUIRED if c not in (reader.fieldnames or ())]
    if missing:
      raise DataError(f"{path}: not an SzCORE events.tsv: missing column(s) {missing}; "
                      f"the header is {reader.fieldnames}")
    events, durations = [], set()
    for line, row in enumerate(reader, start=2):
      durations.add(_number(path, line, row, "recordingDuration"))
      event_type = _event_type(path, line, row)
      if event_type == BACKGROUND:
        continue
      events.append(DetectedEvent(_number(path, line, row, "onset"), _number(path, line, row, "duration"),
                                  _number(path, line, row, "confidence", optional=True), event_type,
                                  (row.get("channels") or NOT_AVAILABLE).strip()))
  if not durations:
    raise DataError(f"{path}: events.tsv has no rows (even a seizure-free recording has a 'bckg' row)")
  if len(durations) > 1:
    raise DataError(f"{path}: rows give different recordingDuration values {sorted(durations)}")
  return events, durations.pop()


def reference_intervals(annotation: str | Path, edf_path: str | Path,
                        duration_s: float | None = None) -> list[tuple[float, float]]:
  """Seizure (start s, end s) of the recording `edf_path` in a reference annotation file.

  An events.tsv (SzCORE, e.g. written by epilepsy2bids) is read here; any
  dataset's own annotation file goes to its reader (`datasets.reference_events`:
  a CHB-MIT summary, a TUSZ .csv/.csv_bi/.tse/.tse_bi, a Helsinki
  annotations_2017_X.csv, ...). With the recording's `duration_s` the
  reference is checked against it (before any detection runs).

  Raises:
    DataError: unreadable file, or (with `duration_s`) an events.tsv of another
      length or a seizure outside the recording.
  """
  annotation = Path(annotation)
  if annotation.suffix != ".tsv":
    intervals = [(e.start_s, e.end_s) for e in datasets.reference_events(annotation, edf_path)]
  else:
    found, tsv_s = read_tsv(annotation)
    if duration_s is not None and int(tsv_s) != int(duration_s):
      raise DataError(f"{annotation}: recordingDuration {tsv_s:g} s, but {edf_path} lasts {duration_s:g} s: "
                      "the reference of another recording?")
    intervals = [(e.onset, e.end) for e in found]
  outside = [(a, b) for a, b in intervals if duration_s is not None and not 0 <= a < b <= duration_s + 1]
  if outside:
    raise DataError(f"{annotation}: seizure {outside[0]} s lies outside {edf_path} (0-{duration_s:g} s)")
  return intervals


def sidecar(events_tsv: str | Path, suffix: str) -> Path:
  """A file beside an events.tsv sharing its BIDS entities: `X_events.tsv` -> `X_<suffix>`.

  `scores.json` beside `X_events.tsv` is `X_scores.json`, never `X_events.json`
  (BIDS's column sidecar of the events file).
  """
  events_tsv = Path(events_tsv)
  return events_tsv.with_name(f"{events_tsv.stem.removesuffix('_events')}_{suffix}")


# ----------------------------------------------------------------------------- scoring


def mask(intervals: Sequence[tuple[float, float]], duration_s: float, fs: int = SCORING_HZ) -> np.ndarray:
  """(int(duration_s fs),) bool: True from sample int(start fs) to int(end fs), as epilepsy2bids's `getMask`."""
  out = np.zeros(int(duration_s * fs), dtype=bool)
  for start, end in intervals:
    out[max(0, int(start * fs)):max(0, int(end * fs))] = True
  return out


def _scores(result: scoring._Scoring) -> dict[str, float | None]:
  values = {"sensitivity": result.sensitivity, "precision": result.precision, "f1": result.f1,
            "false_alarms_per_24h": result.fpRate, "true_positives": result.tp,
            "false_positives": result.fp, "reference_events": result.refTrue}
  return {k: None if v is None or not np.isfinite(v) else float(v) for k, v in values.items()}


def score_masks(reference: np.ndarray, hypothesis: np.ndarray) -> tuple[scoring.EventScoring, scoring.SampleScoring]:
  """timescoring's event and sample scoring of two equally long 1-Hz masks (module docstring)."""
  if len(reference) != len(hypothesis):
    raise DataError(f"scoring: the reference covers {len(reference)} s and the hypothesis {len(hypothesis)} s; "
                    "expected the same recording duration")
  if not len(reference):
    raise DataError("scoring: recording shorter than one second")
  ref, hyp = Annotation(reference, SCORING_HZ), Annotation(hypothesis, SCORING_HZ)
  return scoring.EventScoring(ref, hyp), scoring.SampleScoring(ref, hyp, fs=SCORING_HZ)


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
  event, sample = score_masks(mask(reference, duration_s), mask(hypothesis, duration_s))
  return {"event": _scores(event), "sample": _scores(sample)}
