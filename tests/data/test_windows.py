"""Window layout and labelling (jclip_eeg.data.windows)."""

from __future__ import annotations

import numpy as np
import pytest

from jclip_eeg.data.types import Event
from jclip_eeg.data.windows import RULES, cut_windows, plan_windows, segment_plan
from jclip_eeg.errors import ConfigError, DataError

FS = 256.0
W = 256
BINARY = ("normal", "seizure")
ONE_SAMPLE = 1 / FS


def _plan(duration_s, events, *, overlap=0.5, rule="touch", classes=BINARY):
  return plan_windows(int(duration_s * FS), FS, events, classes, seizure_overlap=overlap, rule=rule)


def _counts(plan, n_classes=2):
  return np.bincount(plan.label, minlength=n_classes).tolist()


def test_hand_computed_layout_touch():
  # 60 s, seizure [20, 30) s. Background: the 60 one-second windows minus the 10
  # touching it (starts 20..29 s) = 50. Seizure grid, stride 0.5 s anchored at
  # 20 s: starts 19.5, 20.0, ..., 29.5 s = 21 windows.
  plan = _plan(60, [Event(20.0, 30.0, "seizure")])
  assert _counts(plan) == [50, 21]
  np.testing.assert_allclose(plan.start_s[plan.label == 1], np.arange(19.5, 29.75, 0.5))
  assert plan.dropped == {}


def test_hand_computed_layout_other_rules():
  events = [Event(20.0, 30.0, "seizure")]
  # The edge windows at 19.5 and 29.5 s are half inside: majority keeps both.
  assert _counts(_plan(60, events, rule="majority")) == [50, 21]
  # Their centres are 20.0 s (inside) and 30.0 s (outside, [e0, e1) is half-open).
  center = _plan(60, events, rule="center")
  assert _counts(center) == [50, 20]
  assert center.dropped == {"touches an event but not by the 'center' rule": 1}


def test_window_touching_seizure_by_one_sample():
  # The seizure ends one sample after 30 s: the grid window starting at 30 s
  # overlaps it by that one sample.
  events = [Event(20.0, 30.0 + ONE_SAMPLE, "seizure")]
  touch = _plan(60, events, rule="touch")
  majority = _plan(60, events, rule="majority")
  at_30 = 30 * W
  assert touch.label[touch.start == at_30].tolist() == [1]
  assert at_30 not in majority.start[majority.label == 1]
  assert majority.dropped == {"touches an event but not by the 'majority' rule": 1}
  # The background window [30, 31) s is gone under both rules: it touches the seizure.
  assert _counts(touch) == [49, 22]
  assert _counts(majority) == [49, 21]


@pytest.mark.parametrize("overlap,stride", [(0.5, 128), (0.75, 64), (0.0, 256)])
def test_stride_inside_seizures(overlap, stride):
  plan = _plan(100, [Event(40.0, 50.0, "seizure")], overlap=overlap)
  seizure_starts = plan.start[plan.label == 1]
  assert set(np.diff(seizure_starts).tolist()) == {stride}
  # Every window touching [40, 50) s is there: from just before onset to just before offset.
  assert seizure_starts[0] == 40 * W - W + stride
  assert seizure_starts[-1] == 50 * W - stride
  background = plan.start[plan.label == 0]
  assert set(np.diff(background).tolist()) <= {W, 11 * W}


@pytest.mark.parametrize("rule", RULES)
def test_no_background_window_overlaps_an_event(rule):
  rng = np.random.default_rng(3)
  for _ in range(20):
    duration = 300
    starts = np.sort(rng.uniform(0, duration - 20, 4))
    events = [Event(float(s), float(s + rng.uniform(0.3, 15)), "seizure") for s in starts]
    plan = _plan(duration, events, rule=rule)
    window = np.stack([plan.start, plan.start + W], axis=1) / FS
    for e in events:
      touching = (window[:, 0] < e.end_s) & (window[:, 1] > e.start_s)
      assert not (touching & (plan.label == 0)).any()
    assert np.all(np.diff(plan.start) > 0)  # sorted, no duplicates
    assert plan.start.min() >= 0 and plan.start.max() <= duration * W - W


def test_unknown_label_windows_are_dropped_and_counted():
  # `mysz` [10, 12) s is not a class: the background windows at 10 and 11 s are dropped.
  plan = _plan(30, [Event(10.0, 12.0, "mysz"), Event(20.0, 22.0, "seizure")])
  assert plan.dropped == {"touches 'mysz' (not a class)": 2}
  # 30 windows - 2 dropped - 2 touching the seizure; seizure grid 19.5..21.5 s = 5.
  assert _counts(plan) == [26, 5]


def test_windows_of_two_classes_are_dropped():
  classes = ("bckg", "fnsz", "gnsz")
  events = [Event(10.0, 20.0, "fnsz"), Event(20.0, 30.0, "gnsz")]
  plan = plan_windows(int(40 * FS), FS, events, classes, seizure_overlap=0.75)
  # Windows starting in (19, 20) s touch both: 19.25, 19.5, 19.75 s on each grid.
  assert plan.dropped == {"belongs to two classes": 3}
  for start, label in zip(plan.start / FS, plan.label):
    if label == 1:
      assert start + 1 <= 20.0
    if label == 2:
      assert start >= 20.0


def test_same_label_events_closer_than_a_window_are_merged():
  merged = _plan(60, [Event(20.0, 25.0, "seizure"), Event(25.5, 30.0, "seizure")])
  single = _plan(60, [Event(20.0, 30.0, "seizure")])
  np.testing.assert_array_equal(merged.start, single.start)
  np.testing.assert_array_equal(merged.label, single.label)


def test_events_are_clipped_to_the_recording():
  plan = _plan(20, [Event(15.0, 25.0, "seizure")])
  assert plan.start.max() == 20 * W - W
  assert _counts(plan) == [15, 10]  # seizure starts 14.5 .. 19.0 s


def test_background_event_label_is_an_error():
  with pytest.raises(DataError, match="background class"):
    _plan(10, [Event(1.0, 2.0, "normal")])


def test_bad_event_times_name_the_source():
  with pytest.raises(DataError, match="rec.edf"):
    plan_windows(2560, FS, [Event(5.0, 5.0, "seizure")], BINARY, seizure_overlap=0.5,
                 source="rec.edf")


@pytest.mark.parametrize("kwargs,match", [
    (dict(rule="most"), "label_rule"),
    (dict(overlap=1.0), "seizure_overlap"),
])
def test_bad_settings(kwargs, match):
  with pytest.raises(ConfigError, match=match):
    _plan(10, [], **kwargs)


def test_window_must_be_whole_samples():
  with pytest.raises(ConfigError, match="window_s"):
    plan_windows(1000, 250.0, [], BINARY, seizure_overlap=0.5, window_s=0.501)


def test_cut_windows_copies_the_planned_samples():
  data = np.arange(3 * 2560, dtype=np.float32).reshape(3, 2560)
  plan = _plan(10, [Event(4.0, 5.0, "seizure")])
  x = cut_windows(data, plan, np.float16)
  assert x.shape == (len(plan.start), 3, W) and x.dtype == np.float16
  for window, start in zip(x, plan.start):
    np.testing.assert_array_equal(window, data[:, start:start + W].astype(np.float16))


def test_segment_plan():
  classes = ("normal", "cps", "egs")
  assert segment_plan(500, 500.0, [], classes).label.tolist() == [0]
  assert segment_plan(500, 500.0, [Event(0.0, 1.0, "egs")], classes).label.tolist() == [2]
  unknown = segment_plan(500, 500.0, [Event(0.0, 1.0, "xx")], classes)
  assert len(unknown.start) == 0 and unknown.dropped == {"touches 'xx' (not a class)": 1}
  with pytest.raises(DataError, match="seg.csv.*499 samples"):
    segment_plan(499, 500.0, [], classes, source="seg.csv")
