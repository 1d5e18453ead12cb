"""Post-processing tuned on validation recordings: traces from store windows, the grid search, the split rule.

The end-to-end use (a stage's result.json carries tuned settings that detect.py
and the export then use) runs in test_learned_run.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from jclip_eeg.data.store import StoreWriter
from jclip_eeg.eval import tuning
from jclip_eeg.eval.events import PostProcessing
from jclip_eeg.runs import inference
from jclip_eeg.runs.split import DataSplit

SFREQ, WINDOW = 8.0, 8  # 1-s windows at 8 Hz


def _windows(duration_s: int, seizure: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
  """A recording laid out as preparation lays it out: background windows on whole seconds, 50 %-overlap
  windows over the seizure [a, b) (start_s, y)."""
  background = [s for s in range(duration_s) if seizure is None or not seizure[0] - 1 < s < seizure[1]]
  inside = [] if seizure is None else list(np.arange(seizure[0] - 0.5, seizure[1], 0.5))
  starts = np.array(sorted(background + inside), dtype=np.float64)
  return starts, np.isin(starts, inside).astype(np.int32)


def _store(path: Path, recordings: dict[str, tuple[str, int, tuple[int, int] | None]]) -> Path:
  """recording id -> (patient, duration s, seizure or None)."""
  layouts = [_windows(d, s) for _, d, s in recordings.values()]
  writer = StoreWriter(path, n_windows=sum(len(y) for _, y in layouts), n_channels=1, n_times=WINDOW)
  for k, (starts, y) in enumerate(layouts):
    writer.append(np.zeros((len(y), 1, WINDOW), np.float32), y, k, starts)
  entries = [{"id": rid, "patient": p, "source": "made-up", "duration_s": float(d)}
             for rid, (p, d, _) in recordings.items()]
  writer.commit(class_names=("normal", "seizure"), channel_names=("a",), sfreq=SFREQ, recordings=entries)
  return path


@pytest.fixture
def store(tmp_path) -> Path:
  return _store(tmp_path / "store", {"r0": ("p0", 120, (30, 36)), "r1": ("p1", 90, (50, 57)),
                                      "r2": ("p1", 60, None), "r3": ("p2", 100, (10, 20))})


def _labels_as_probabilities(monkeypatch, level: float) -> None:
  """A stand-in model whose seizure probability is `level` on seizure windows and 0.05 elsewhere."""
  def predict_rows(predictor, store, rows, *, batch_size, progress=False):
    from jclip_eeg.data.store import EpochStore
    y = np.asarray(EpochStore(store).y)[rows]
    seizure = np.where(y == 1, level, 0.05)
    return y, np.stack([1 - seizure, seizure], axis=1)
  monkeypatch.setattr(inference, "predict_rows", predict_rows)


def test_traces_cover_whole_recordings_of_the_validation_rows(store, monkeypatch):
  _labels_as_probabilities(monkeypatch, 0.9)
  rows = np.array([0, 1, 240])  # windows of r0 and r2 only (a balanced validation part keeps a few)
  traces = tuning.traces(None, str(store), rows, batch_size=16)
  assert [t.recording for t in traces] == ["r0", "r2"]
  first = traces[0]
  assert first.probs.shape == (120,) and first.duration_s == 120.0
  assert first.reference == [(29.5, 36.5)]  # the union of the seizure windows: within one window of 30-36 s
  np.testing.assert_allclose(first.probs[30:36], 0.9)
  np.testing.assert_allclose(first.probs[:29], 0.05)
  assert traces[1].reference == []


def test_tuning_finds_short_seizures_the_defaults_drop(store, monkeypatch):
  """6-, 7- and 10-s seizures at p = 0.45: the default threshold (0.5) and minimum (8 s) miss them all."""
  _labels_as_probabilities(monkeypatch, 0.45)
  every = tuning.traces(None, str(store), np.array([0, 150, 230, 300]), batch_size=16)  # a row of each recording
  assert len(every) == 4
  settings, scores = tuning.tune(every)
  assert scores["default_scores"]["event_f1"] == 0.0
  assert scores["scores"]["event_f1"] == 1.0 and scores["scores"]["event_false_alarms_per_24h"] == 0.0
  assert settings.threshold < 0.45 and settings.min_duration_s <= 6
  assert settings in tuning.grid() and PostProcessing() in tuning.grid()  # so tuned never scores below the defaults


def test_window_wise_splits_keep_the_defaults_and_say_why(store):
  split = DataSplit(str(store), ("normal", "seizure"), np.arange(5), np.arange(5, 10), np.arange(10, 15), {})
  record = tuning.tuned_detection(None, split, "window", batch_size=16)
  assert PostProcessing.of(record) == PostProcessing()
  assert record["tuning"]["tuned"] is False and "window-wise" in record["tuning"]["reason"]


def test_tuned_detection_record(store, monkeypatch):
  _labels_as_probabilities(monkeypatch, 0.9)
  split = DataSplit(str(store), ("normal", "seizure"), np.arange(5), np.array([0, 150, 230, 300]),
                    np.arange(10, 15), {})
  record = tuning.tuned_detection(None, split, "patient", batch_size=16)
  tuned = record["tuning"]
  assert (tuned["tuned"], tuned["recordings"], tuned["patients"], tuned["seizures"]) == (True, 4, 3, 3)
  assert tuned["scores"]["event_f1"] == 1.0 and tuned["grid_size"] == len(tuning.grid())
  assert dataclasses.asdict(PostProcessing.of(record)) == {k: record[k] for k in dataclasses.asdict(PostProcessing())}


def test_ties_go_to_the_settings_nearest_the_defaults(tmp_path, monkeypatch):
  """A confident model, 20-s and 30-s seizures: the defaults and many settings around them score F1 1."""
  store = _store(tmp_path / "long", {"r0": ("p0", 200, (50, 70)), "r1": ("p1", 200, (100, 130))})
  _labels_as_probabilities(monkeypatch, 0.9)
  every = tuning.traces(None, str(store), np.array([0, 300]), batch_size=16)
  assert len(every) == 2
  settings, scores = tuning.tune(every)
  assert settings == PostProcessing() and scores["scores"] == scores["default_scores"]
