"""Probabilities -> events by hand, events.tsv round trip, SzCORE scores on a hand-made case."""

from __future__ import annotations

import csv
import datetime
import math

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


@pytest.mark.parametrize("offset_s", [0.0, 0.25, 0.5, 0.75])
def test_default_settings_keep_a_10_s_seizure(offset_s):
  """A 10-s seizure starting off the second: 9 whole windows at 0.9, the two straddling ones at 0.1."""
  start = 100 + offset_s
  probs = np.full(300, 0.1)
  probs[math.ceil(start):math.floor(start + 10)] = 0.9
  got = events.to_events(probs)
  assert len(got) == 1 and got[0].onset <= start + 1 and got[0].end >= start + 9, got


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


START = datetime.datetime(2076, 11, 6, 11, 42, 54)


def test_tsv_columns_and_round_trip(tmp_path):
  detected = [DetectedEvent(12.0, 30.5, 0.81), DetectedEvent(300.0, 45.0, 0.95, "sz_foc_a")]
  path = tmp_path / "sub-01_events.tsv"
  events.write_tsv(path, detected, 3600.0, START)
  with open(path, newline="") as f:
    rows = list(csv.reader(f, delimiter="\t"))
  assert rows[0] == list(events.COLUMNS) and rows[0][:7] == list(events.SZCORE_COLUMNS)
  assert rows[1] == ["12.00", "30.50", "sz", "0.81", "n/a", "2076-11-06 11:42:54", "3600.00", "sz"]
  back, duration = events.read_tsv(path)
  assert back == detected and duration == 3600.0


def test_seizure_free_recording_writes_one_background_row(tmp_path):
  path = tmp_path / "events.tsv"
  events.write_tsv(path, [], 600.0, None)
  rows = path.read_text().splitlines()
  assert len(rows) == 2 and rows[1].split("\t") == ["0.00", "600.00", "bckg", "n/a", "n/a", "n/a", "600.00", "bckg"]
  assert events.read_tsv(path) == ([], 600.0)


def _epilepsy2bids_annotations(detected: list[DetectedEvent], duration_s: float, start: datetime.datetime | None):
  """The same events as epilepsy2bids's own `Annotations` (what its converters and SzCORE build)."""
  from epilepsy2bids.annotations import Annotation as E2bEvent, Annotations, EventType
  annotations = Annotations()
  for e in detected or [DetectedEvent(0.0, duration_s, None, "bckg")]:
    annotations.events.append(E2bEvent(
        onset=e.onset, duration=e.duration, eventType=EventType[e.event_type],
        confidence="n/a" if e.confidence is None else e.confidence, channels=e.channels,
        dateTime="n/a" if start is None else start, recordingDuration=duration_s))
  return annotations


@pytest.mark.parametrize("detected, start", [
    ([DetectedEvent(12.0, 30.5, 0.8123), DetectedEvent(300.25, 45.0, 0.95, "sz_gen_m_tonic")], START),
    ([DetectedEvent(5.0, 10.0, None)], None),
    ([], START),
])
def test_tsv_is_epilepsy2bids_byte_for_byte_and_loads_there(tmp_path, detected, start):
  """Our file, less the trailing trial_type column, is what epilepsy2bids writes; it loads there unchanged."""
  from epilepsy2bids.annotations import Annotations
  ours, theirs = tmp_path / "ours_events.tsv", tmp_path / "theirs_events.tsv"
  events.write_tsv(ours, detected, 1800.0, start)
  _epilepsy2bids_annotations(detected, 1800.0, start).saveTsv(str(theirs))
  without_trial_type = ["\t".join(line.split("\t")[:7]) for line in ours.read_text().splitlines()]
  assert without_trial_type == theirs.read_text().splitlines()
  loaded = Annotations.loadTsv(str(ours))
  assert loaded.getEvents() == [(e.onset, e.end) for e in detected]
  assert all(event["dateTime"] == (start or "n/a") for event in loaded.events)
  np.testing.assert_array_equal(loaded.getMask(1), events.mask([(e.onset, e.end) for e in detected], 1800.0))
  assert events.read_tsv(theirs) == events.read_tsv(ours)  # and we read theirs (confidence n/a) back the same


def test_reads_an_epilepsy2bids_reference_with_na_confidence(tmp_path):
  path = tmp_path / "sub-01_ses-01_task-szMonitoring_run-00_events.tsv"
  _epilepsy2bids_annotations([DetectedEvent(2996.0, 40.0, None)], 3600.0, START).saveTsv(str(path))
  assert "\tn/a\tn/a\t2076-11-06 11:42:54\t" in path.read_text()
  assert events.read_tsv(path) == ([DetectedEvent(2996.0, 40.0, None)], 3600.0)
  assert events.reference_intervals(path, tmp_path / "any.edf") == [(2996.0, 3036.0)]


@pytest.mark.parametrize("old, new, message", [
    ("1.00\t2.00", "one\t2.00", "line 2: column 'onset' holds 'one', expected a number"),
    ("\t0.50\t", "\thigh\t", "line 2: column 'confidence' holds 'high', expected a number or n/a"),
    ("\tsz\t0.50", "\tspike\t0.50", "line 2: eventType 'spike'"),
    ("\t10.00\tsz\n", "\t10.00\tsz\n1.00\t2.00\tsz\tn/a\tn/a\tn/a\t11.00\tsz\n", "different recordingDuration"),
])
def test_read_tsv_errors_name_the_problem(tmp_path, old, new, message):
  path = tmp_path / "bad_events.tsv"
  events.write_tsv(path, [DetectedEvent(1.0, 2.0, 0.5)], 10.0, None)
  path.write_text(path.read_text().replace(old, new))
  with pytest.raises(DataError, match=message):
    events.read_tsv(path)


def test_read_tsv_refuses_what_is_not_an_events_file(tmp_path):
  path = tmp_path / "bad.tsv"
  path.write_text("onset\tduration\n1\t2\n")
  with pytest.raises(DataError, match="missing column"):
    events.read_tsv(path)
  path.write_text("\t".join(events.COLUMNS) + "\n")
  with pytest.raises(DataError, match="no rows"):
    events.read_tsv(path)
  with pytest.raises(DataError, match="not found"):
    events.read_tsv(tmp_path / "absent.tsv")


def test_sidecars_never_take_the_bids_column_sidecar_name():
  tsv = "out/sub-01_ses-01_task-szMonitoring_run-00_events.tsv"
  assert events.sidecar(tsv, "scores.json").name == "sub-01_ses-01_task-szMonitoring_run-00_scores.json"
  assert events.sidecar("rec.tsv", "scores.json").name == "rec_scores.json"


def test_settings_of_a_stored_record_ignore_other_keys():
  assert PostProcessing.of(None) == PostProcessing()
  stored = {"threshold": 0.7, "smooth_s": 3.0, "min_duration_s": 4.0, "merge_gap_s": 0.0, "tuning": {"f1": 1.0}}
  assert PostProcessing.of(stored) == PostProcessing(0.7, 3.0, 4.0, 0.0)


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
