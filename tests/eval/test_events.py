"""Probabilities -> events by hand, events.tsv round trip, SzCORE scores on a hand-made case."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from jclip_eeg.errors import ConfigError, DataError
from jclip_eeg.eval import events
from jclip_eeg.eval.events import DetectedEvent, PostProcessing


def _trace(length: int, runs: list[tuple[int, int]], high: float = 0.9, low: float = 0.1) -> np.ndarray:
  probs = np.full(length, low)
  for start, stop in runs:
    probs[start:stop] = high
  return probs


def test_smooth_is_a_centred_moving_average():
  got = events.smooth(np.array([0.0, 0.0, 3.0, 0.0, 0.0]), 3)
  np.testing.assert_allclose(got, [0.0, 1.0, 1.0, 1.0, 0.0])
  np.testing.assert_allclose(events.smooth(np.array([3.0, 0.0]), 3), [1.5, 1.5])  # edges average the seconds that exist


def test_threshold_merge_gap_and_min_duration_by_hand():
  # runs: 10-25 s (15 s), 28-40 s (gap 3 s -> merged), 60-65 s (5 s, too short), 80-95 s
  probs = _trace(120, [(10, 25), (28, 40), (60, 65), (80, 95)])
  settings = PostProcessing(threshold=0.5, smooth_s=0, min_duration_s=10, merge_gap_s=5)
  got = events.to_events(probs, settings)
  assert [(e.onset, e.duration) for e in got] == [(10.0, 30.0), (80.0, 15.0)]
  assert got[0].confidence == pytest.approx((27 * 0.9 + 3 * 0.1) / 30)
  no_merge = events.to_events(probs, PostProcessing(smooth_s=0, min_duration_s=10, merge_gap_s=2))
  assert [(e.onset, e.duration) for e in no_merge] == [(10.0, 15.0), (28.0, 12.0), (80.0, 15.0)]


def test_smoothing_removes_isolated_spikes_and_keeps_seizures():
  probs = _trace(100, [(20, 21), (50, 70)], high=1.0, low=0.0)
  got = events.to_events(probs, PostProcessing(smooth_s=5, min_duration_s=0, merge_gap_s=0))
  # a 1-s spike averages to 0.2; the 20-s run keeps its centre (edges at 0.6 / 0.4 of the ramp)
  assert [(e.onset, e.duration) for e in got] == [(50.0, 20.0)]


def test_step_size_scales_times():
  got = events.to_events(_trace(40, [(10, 30)]), PostProcessing(smooth_s=0, min_duration_s=5), step_s=0.5)
  assert [(e.onset, e.duration) for e in got] == [(5.0, 10.0)]


@pytest.mark.parametrize("field, value", [("threshold", 1.5), ("smooth_s", -1), ("merge_gap_s", float("nan"))])
def test_bad_settings_raise(field, value):
  with pytest.raises(ConfigError, match=field):
    PostProcessing(**{field: value})


def test_non_finite_trace_raises():
  with pytest.raises(DataError, match="finite"):
    events.to_events(np.array([0.1, np.nan]))


def test_tsv_columns_and_round_trip(tmp_path):
  detected = [DetectedEvent(12.0, 30.5, 0.8123), DetectedEvent(300.0, 45.0, 0.95)]
  path = tmp_path / "sub-01_events.tsv"
  events.write_tsv(path, detected, 3600.0, "2000-01-01T10:00:00")
  with open(path, newline="") as f:
    rows = list(csv.reader(f, delimiter="\t"))
  assert rows[0] == list(events.COLUMNS)
  assert rows[1] == ["12.00", "30.50", "sz", "0.8123", "n/a", "2000-01-01T10:00:00", "3600.00"]
  back, duration = events.read_tsv(path)
  assert back == detected and duration == 3600.0


def test_seizure_free_recording_writes_one_background_row(tmp_path):
  path = tmp_path / "events.tsv"
  events.write_tsv(path, [], 600.0, "n/a")
  rows = path.read_text().splitlines()
  assert len(rows) == 2 and rows[1].split("\t")[:3] == ["0.00", "600.00", "bckg"]
  assert events.read_tsv(path) == ([], 600.0)


def test_read_tsv_errors_name_the_problem(tmp_path):
  path = tmp_path / "bad.tsv"
  path.write_text("onset\tduration\n1\t2\n")
  with pytest.raises(DataError, match="missing column"):
    events.read_tsv(path)
  events.write_tsv(path, [DetectedEvent(1.0, 2.0, 0.5)], 10.0, "n/a")
  path.write_text(path.read_text().replace("1.00\t2.00", "one\t2.00"))
  with pytest.raises(DataError, match="line 2.*onset"):
    events.read_tsv(path)
  with pytest.raises(DataError, match="not found"):
    events.read_tsv(tmp_path / "absent.tsv")


def test_szcore_scores_by_hand():
  # 1 h; seizures at 100-160 s and 1000-1060 s; hypotheses: one hit, one far false alarm, one miss.
  reference = [(100.0, 160.0), (1000.0, 1060.0)]
  hypothesis = [(110.0, 150.0), (2000.0, 2030.0)]
  got = events.score(reference, hypothesis, 3600.0)
  event = got["event"]
  assert (event["true_positives"], event["false_positives"], event["reference_events"]) == (1, 1, 2)
  assert event["sensitivity"] == pytest.approx(0.5) and event["precision"] == pytest.approx(0.5)
  assert event["f1"] == pytest.approx(0.5)
  assert event["false_alarms_per_24h"] == pytest.approx(24.0)
  sample = got["sample"]  # 1-s samples: 40 TP, 30 FP, 120 reference seconds
  assert (sample["true_positives"], sample["false_positives"], sample["reference_events"]) == (40, 30, 120)
  assert sample["sensitivity"] == pytest.approx(40 / 120) and sample["precision"] == pytest.approx(40 / 70)


def test_scores_without_reference_seizures_are_none_not_nan():
  got = events.score([], [(10.0, 30.0)], 600.0)["event"]
  assert got["sensitivity"] is None and got["false_positives"] == 1
