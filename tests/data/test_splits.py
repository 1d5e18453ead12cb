"""Cross-validation folds (jclip_eeg.data.splits)."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from jclip_eeg.data.splits import Fold, check_folds, make_folds
from jclip_eeg.data.store import StoreWriter
from jclip_eeg.errors import ConfigError, DataError


def _data(n_patients: int = 12, recordings: int = 3, windows: int = 40, seed: int = 0):
  """Windows of patients x recordings; ~20 % seizure (class 1), some class 2 in every patient."""
  rng = np.random.default_rng(seed)
  n = n_patients * recordings * windows
  recording = np.repeat(np.arange(n_patients * recordings), windows)
  patient = recording // recordings
  y = (rng.random(n) < 0.2).astype(np.int64)
  y[::25] = 2
  return {"y": y, "recording": recording, "patient": patient}


def _parts(fold: Fold):
  return fold.train, fold.val, fold.test


@pytest.mark.parametrize("by", ["recording", "patient"])
def test_grouped_folds_do_not_leak(by):
  data = _data()
  folds = make_folds(data, by=by, k=5, seed=1)
  groups = data[by]
  for fold in folds:
    sets = [set(groups[p]) for p in _parts(fold)]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert len(fold.val) > 0


@pytest.mark.parametrize("by", ["window", "recording", "patient"])
def test_test_folds_partition_and_parts_cover(by):
  data = _data()
  expected = pytest.warns(UserWarning, match="optimistic")
  with expected if by == "window" else contextlib.nullcontext():
    folds = make_folds(data, by=by, k=4)
  n = len(data["y"])
  assert len(folds) == 4
  np.testing.assert_array_equal(np.sort(np.concatenate([f.test for f in folds])), np.arange(n))
  for fold in folds:
    np.testing.assert_array_equal(np.sort(np.concatenate(_parts(fold))), np.arange(n))


@pytest.mark.parametrize("by", ["window", "patient"])
@pytest.mark.filterwarnings("ignore:window-wise")
def test_deterministic_by_seed(by):
  data = _data()
  a, b, c = (make_folds(data, by=by, seed=s) for s in (3, 3, 4))
  for fa, fb in zip(a, b):
    for pa, pb in zip(_parts(fa), _parts(fb)):
      np.testing.assert_array_equal(pa, pb)
  assert any(not np.array_equal(fa.test, fc.test) for fa, fc in zip(a, c))


@pytest.mark.filterwarnings("ignore:window-wise")
def test_stratification_is_roughly_balanced():
  data = _data(n_patients=20)
  y = data["y"]
  overall = np.bincount(y) / len(y)
  for by, tolerance in (("window", 0.01), ("patient", 0.05)):
    for fold in make_folds(data, by=by, k=5):
      share = np.bincount(y[fold.test], minlength=3) / len(fold.test)
      np.testing.assert_allclose(share, overall, atol=tolerance)
      assert abs(len(fold.val) / (len(fold.train) + len(fold.val)) - 0.15) < 0.1


@pytest.mark.filterwarnings("ignore:window-wise")
def test_val_fraction_zero_gives_empty_val():
  assert all(len(f.val) == 0 for f in make_folds(_data(), by="window", val_fraction=0))


def test_fewer_groups_than_folds_is_an_error():
  with pytest.raises(DataError, match="3 patients, fewer than k=5"):
    make_folds(_data(n_patients=3), by="patient", k=5)


def test_class_missing_from_training_part_is_an_error():
  data = _data()
  data["y"] = np.where(data["y"] == 2, 0, data["y"])
  data["y"][data["patient"] == 0] = 2  # class 2 only in patient 0
  with pytest.raises(DataError, match=r"no training window of class\(es\) \['2'\]"):
    make_folds(data, by="patient", k=5)


def test_bad_arguments():
  with pytest.raises(ConfigError, match="split by"):
    make_folds(_data(), by="session")
  with pytest.raises(ConfigError, match="k: 1"):
    make_folds(_data(), by="patient", k=1)
  with pytest.raises(ConfigError, match="no 'patient' array"):
    make_folds({"y": np.zeros(10)}, by="patient")


def test_check_folds_catches_leaks():
  groups = np.array([0, 0, 1, 1, 2, 2])
  odd, even, none = np.array([1, 3, 5]), np.array([0, 2, 4]), np.array([], int)
  with pytest.raises(AssertionError, match="test folds do not partition"):
    check_folds([Fold(even, none, odd)] * 2, 6, groups)
  leaky = [Fold(even, none, odd), Fold(odd, none, even)]
  check_folds(leaky, 6)  # fine window-wise
  with pytest.raises(AssertionError, match="a group is in two"):
    check_folds(leaky, 6, groups)


def _store(path, class_names):
  """6 recordings of 20 windows (every 4th a seizure), two recordings per patient."""
  writer = StoreWriter(path, n_windows=120, n_channels=1, n_times=4)
  writer.append(np.zeros((120, 1, 4), np.float32), np.tile([0, 0, 0, 1], 30),
                np.repeat(np.arange(6), 20), np.zeros(120))
  return writer.commit(class_names=class_names, channel_names=("A",), sfreq=4.0,
                       recordings=[{"id": f"r{i}", "patient": f"p{i // 2}"} for i in range(6)])


def test_store_input_uses_its_patients_and_classes(tmp_path):
  store = _store(tmp_path / "a", ("normal", "seizure"))
  folds = make_folds(store, by="patient", k=3, val_fraction=0)
  assert sorted(len(np.unique(store.patient[f.test])) for f in folds) == [1, 1, 1]
  assert all(len(f.test) == 40 for f in folds)
  # A class of the store with no window at all is missing from every training part.
  with pytest.raises(DataError, match=r"\['other'\]"):
    make_folds(_store(tmp_path / "b", ("normal", "seizure", "other")), by="recording", k=3)
