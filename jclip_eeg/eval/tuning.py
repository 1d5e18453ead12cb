"""Post-processing tuned on a stage's validation recordings: the detection settings a finished stage carries.

When a stage finishes, `tuned_detection` scores its best model on every window
of the recordings its validation part comes from, turns each recording's
windows into a per-second seizure probability (`detection.seconds_of_windows`:
the store holds 1-s windows on whole seconds plus overlapping ones inside
seizures, the same probabilities continuous detection computes, no EDF is
read again), and tries every combination of `GRID` (smoothing, threshold,
minimum duration, merge gap). The settings kept maximise SzCORE's event F1
(per subject from summed counts, averaged over subjects, as
`scoring.summarise`), then have the fewest false alarms per 24 h; among
settings that tie on both, the one nearest the defaults (fewest grid steps
away) wins. A small validation part leaves many settings tied at its best,
and the defaults are the prior: tuning moves away from them only as far as
the validation recordings show a better score (on the tests' synthetic run,
breaking ties by the sample F1 instead picked settings that stretch events
and found a false alarm the defaults did not).

The reference seizures are the store's own labels: the union of the windows
labelled with a seizure class (any class but background). With the default
"touch" label rule that is the annotated seizure widened by less than one
window on each side, well inside SzCORE's 30 s / 60 s event tolerance.

What is tuned on: with `recording` or `patient` splits the validation part is
made of whole recordings (and stays so with `data.val_balanced`, because all of
a validation recording's windows are used here, not only the balanced
selection). A `window`-wise split (the paper's protocol) scatters every
recording's windows over train, validation and test, so there are no held-out
recordings to tune on: the defaults are kept and the record says why.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jclip_eeg.data.store import EpochStore
from jclip_eeg.eval import detection, events, scoring
from jclip_eeg.eval.events import PostProcessing
from jclip_eeg.runs import inference
from jclip_eeg.runs.split import DataSplit

_log = logging.getLogger(__name__)

GRID: Mapping[str, Sequence[float]] = {
    "smooth_s": (1.0, 3.0, 5.0, 9.0),
    "threshold": (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    "min_duration_s": (0.0, 4.0, 8.0, 12.0),
    "merge_gap_s": (0.0, 5.0, 15.0, 30.0),
}
WHOLE_RECORDING_SPLITS = ("recording", "patient")


@dataclasses.dataclass(frozen=True)
class Trace:
  """One validation recording: per-second seizure probability and reference seizures (start s, end s)."""
  patient: str
  recording: str
  probs: np.ndarray
  reference: list[tuple[float, float]]
  duration_s: float


def grid() -> list[PostProcessing]:
  """Every combination of `GRID`, in a fixed order."""
  names = list(GRID)
  return [PostProcessing(**dict(zip(names, values))) for values in itertools.product(*GRID.values())]


def _intervals(starts_s: np.ndarray, window_s: float) -> list[tuple[float, float]]:
  """The union of the windows [s, s + window_s) as sorted (start, end) intervals."""
  merged: list[list[float]] = []
  for start in np.sort(starts_s):
    if merged and start <= merged[-1][1]:
      merged[-1][1] = max(merged[-1][1], start + window_s)
    else:
      merged.append([float(start), float(start + window_s)])
  return [(a, b) for a, b in merged]


def traces(predictor: inference.Predictor, store_path: str, rows: np.ndarray, *, batch_size: int,
           progress: bool = False) -> list[Trace]:
  """The per-second traces of every recording that has a window among `rows` (all its windows are scored)."""
  store = EpochStore(store_path)
  recording_index = np.asarray(store.recording_index)
  chosen = np.unique(recording_index[rows])
  every_row = np.flatnonzero(np.isin(recording_index, chosen))
  y, probs = inference.predict_rows(predictor, store_path, every_row, batch_size=batch_size, progress=progress)
  seizure = 1.0 - probs[:, 0]
  window_s = store.x.shape[2] / store.sfreq
  starts = np.asarray(store.start_s)[every_row]
  out = []
  for r in chosen.tolist():
    mine = recording_index[every_row] == r
    entry = store.metadata["recordings"][r]
    trace = detection.seconds_of_windows(starts[mine], seizure[mine], window_s, entry["duration_s"])
    reference = _intervals(starts[mine][y[mine] != 0], window_s)
    out.append(Trace(entry["patient"], entry["id"], trace, reference, float(entry["duration_s"])))
  return out


def _objective(summary: Mapping[str, Any]) -> tuple[float, float]:
  """What `tune` maximises (module docstring): event F1, then fewer false alarms; undefined ranks last."""
  f1, false_alarms = summary["event"]["f1"], summary["event"]["false_alarms_per_24h"]
  return (-1.0 if f1 is None else f1, -np.inf if false_alarms is None else -false_alarms)


def _steps_from_defaults(settings: PostProcessing) -> int:
  """Grid steps between `settings` and the defaults (both in `GRID`), summed over the four settings."""
  defaults = PostProcessing()
  return sum(abs(values.index(getattr(settings, name)) - values.index(getattr(defaults, name)))
             for name, values in GRID.items())


def evaluate(traces_: Sequence[Trace], settings: PostProcessing,
             cache: dict[tuple[int, tuple], scoring.RecordingScore] | None = None) -> dict[str, Any]:
  """SzCORE scores (mean over patients, `scoring.summarise`'s "dataset") of `settings` on the traces.

  `cache` (recording position, detected intervals) -> score spares rescoring
  event lists that other settings produced already.
  """
  cache = {} if cache is None else cache
  scores = []
  for k, trace in enumerate(traces_):
    found = tuple((e.onset, e.end) for e in events.to_events(trace.probs, settings))
    if (k, found) not in cache:
      cache[k, found] = scoring.score_recording(trace.patient, trace.recording, trace.reference, found,
                                                trace.duration_s)
    scores.append(cache[k, found])
  return scoring.summarise(scores)["dataset"]


def tune(traces_: Sequence[Trace]) -> tuple[PostProcessing, dict[str, Any]]:
  """The best settings of `GRID` on the traces (module docstring), and what they and the defaults score."""
  cache: dict[tuple[int, tuple], scoring.RecordingScore] = {}
  candidates = grid()
  results = [evaluate(traces_, settings, cache) for settings in candidates]
  best = max(range(len(candidates)),
             key=lambda i: (_objective(results[i]), -_steps_from_defaults(candidates[i]), -i))
  return candidates[best], {"scores": _brief(results[best]),
                            "default_scores": _brief(evaluate(traces_, PostProcessing(), cache))}


def _brief(dataset: Mapping[str, Any]) -> dict[str, float | None]:
  return {f"{level}_{m}": dataset[level][m] for level in scoring.LEVELS for m in ("f1", "false_alarms_per_24h")}


def tuned_detection(predictor: inference.Predictor, split: DataSplit, split_by: str, *, batch_size: int,
                    progress: bool = False) -> dict[str, Any]:
  """The detection record of a finished stage: its settings (`PostProcessing` fields) plus `tuning`.

  `tuning` says what the settings were chosen on (recordings, patients,
  hours, seizures) and their validation scores beside the defaults'; or,
  where nothing could be tuned (a window-wise split), `tuned: false` and why.
  """
  if split_by not in WHOLE_RECORDING_SPLITS:
    return {**dataclasses.asdict(PostProcessing()), "tuning": {
        "tuned": False, "reason": f"a {split_by}-wise split has no held-out validation recordings: defaults kept"}}
  validation = traces(predictor, split.store, split.val, batch_size=batch_size, progress=progress)
  settings, scores = tune(validation)
  seizures = sum(len(t.reference) for t in validation)
  record = {"tuned": True, "on": "validation recordings", "recordings": len(validation),
            "patients": len({t.patient for t in validation}), "seizures": seizures,
            "hours": round(sum(t.duration_s for t in validation) / 3600, 4), "grid_size": len(grid()), **scores}
  _log.info("detection settings tuned on %d validation recordings (%d seizures): %s; event F1 %s (defaults %s)",
            len(validation), seizures, settings, scores["scores"]["event_f1"],
            scores["default_scores"]["event_f1"])
  return {**dataclasses.asdict(settings), "tuning": record}
