"""The band-power baseline and the mean-RMS threshold reference, on tiny stores made here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jclip_eeg.data.store import EpochStore, StoreWriter
from jclip_eeg.errors import DataError
from jclip_eeg.eval import baseline
from jclip_eeg.metrics import classification_report

SFREQ = 128.0
T = 128  # 1-s windows


def _write_store(path: Path, x: np.ndarray, y: np.ndarray, class_names=("normal", "seizure")) -> EpochStore:
  """A store of windows x (n, C, T) at SFREQ with labels y; windows alternate between 2 patients."""
  writer = StoreWriter(path, n_windows=len(y), n_channels=x.shape[1], n_times=x.shape[2])
  writer.append(x.astype(np.float32), y.astype(np.int32), np.arange(len(y)) % 2, np.arange(len(y), dtype=float))
  recordings = [{"id": f"p{p}_r1", "patient": f"p{p}", "source": "made-up"} for p in range(2)]
  writer.commit(class_names=class_names, channel_names=tuple(f"c{i}" for i in range(x.shape[1])), sfreq=SFREQ,
                recordings=recordings)
  return EpochStore(path)


def _sine(hz: float, n: int = 1, amplitude: float = 1.0) -> np.ndarray:
  return amplitude * np.sin(2 * np.pi * hz * np.arange(T) / SFREQ)[None, None].repeat(n, axis=0)


def test_features_shape_units_and_band_of_a_sine():
  x = np.concatenate([_sine(10.0), 3 * _sine(10.0)], axis=1)  # (1, 2, T): one channel 3x the other
  features = baseline.band_power_features(x, SFREQ)
  assert features.shape == (1, 2, len(baseline.FEATURES)) and features.dtype == np.float32
  power = np.exp(features[0, :, :5])
  assert list(baseline.BANDS_HZ)[int(np.argmax(power[0]))] == "alpha"
  # Band powers add up to the variance (a sine of amplitude a has variance a^2 / 2); 2 % for the Hann leakage
  # outside 0.5-64 Hz and the periodogram's edge effects.
  np.testing.assert_allclose(power.sum(axis=1), [0.5, 4.5], rtol=0.02)
  # Power scales with the square, line length linearly: log differences log(9) and log(3).
  alpha, line_length = baseline.FEATURES.index("alpha"), baseline.FEATURES.index("line_length")
  np.testing.assert_allclose(features[0, 1, [alpha, line_length]] - features[0, 0, [alpha, line_length]],
                             [np.log(9), np.log(3)], atol=1e-4)
  # Line length of a sine: 4 * amplitude per cycle, over (T - 1) / SFREQ s of 10 Hz; 3 % for the peaks that
  # fall between samples.
  np.testing.assert_allclose(np.exp(features[0, 0, 5]), 4 * 10 * (T - 1) / SFREQ, rtol=0.03)


def test_gamma_is_clipped_to_nyquist_and_short_windows_are_refused():
  x = _sine(40.0)  # 128 Hz: Nyquist 64, gamma covers 30-64 Hz
  power = np.exp(baseline.band_power_features(x, SFREQ)[0, 0, :5])
  assert np.argmax(power) == 4 and power[4] > 0.95 * power.sum()
  with pytest.raises(DataError, match="theta"):
    baseline.band_power_features(np.zeros((1, 1, 8)), 8.0)  # Nyquist 4 Hz: only delta has bins
  with pytest.raises(DataError, match="gamma"):
    baseline.band_power_features(np.zeros((1, 1, 32)), 32.0)  # Nyquist 16 Hz < 30 Hz


def _rhythm_store(tmp_path: Path, n: int = 200) -> EpochStore:
  """Background: unit white noise on 4 channels. Seizure: on channel 0, 0.8 x the noise plus a 5 Hz sine of
  variance 0.36, so every channel keeps its variance (and RMS) while channel 0's theta power rises ~6x."""
  rng = np.random.default_rng(0)
  y = (np.arange(n) % 4 == 0).astype(int)
  x = rng.normal(size=(n, 4, T))
  x[y == 1, :1] = 0.8 * x[y == 1, :1] + _sine(5.0, int(y.sum()), amplitude=np.sqrt(2 * 0.36))
  return _write_store(tmp_path / "rhythm", x, y)


def test_band_power_baseline_separates_a_rhythm_that_amplitude_misses(tmp_path):
  store = _rhythm_store(tmp_path)
  rows = np.arange(len(store))
  train, test = rows[rows % 2 == 0], rows[rows % 2 == 1]
  probs = baseline.band_power_baseline(store, train, test, seed=0)
  assert probs.shape == (test.size, 2)
  np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
  y = np.asarray(store.y)
  report = classification_report(y[test], probs, store.class_names)
  assert report["f1_macro"] > 0.95, report
  rms = classification_report(y[test], baseline.rms_threshold_reference(store, train, test), store.class_names)
  assert rms["f1_macro"] < 0.75, rms  # amplitude was equalised: the threshold is near chance
  # Read in chunks of 7 windows: the same features, so the same probabilities.
  np.testing.assert_allclose(baseline.band_power_baseline(store, train, test, seed=0, chunk_windows=7), probs,
                             atol=1e-9)


def test_rms_threshold_finds_an_amplitude_step(tmp_path):
  rng = np.random.default_rng(1)
  y = (np.arange(120) % 3 == 0).astype(int)
  x = rng.normal(size=(120, 3, T)) * np.where(y == 1, 3.0, 1.0)[:, None, None]
  store = _write_store(tmp_path / "loud", x, y)
  rows = np.arange(len(store))
  probs = baseline.rms_threshold_reference(store, rows[:60], rows[60:])
  report = classification_report(y[60:], probs, store.class_names)
  assert report["f1_macro"] == 1.0 and report["auc"] == 1.0, report


def test_best_threshold_maximises_macro_f1():
  values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
  positive = np.array([False, False, True, False, True, True])
  # Cut between 2 and 3 (F1s 0.8 / 0.857) beats cut between 4 and 5 (0.8 / 0.857 as well, ties -> lowest t)
  # and every other cut; checked against brute force over the same candidates.
  def macro(t):
    pred = values > t
    f1 = lambda a, b: 2 * (a & b).sum() / (a.sum() + b.sum())  # noqa: E731
    return (f1(pred, positive) + f1(~pred, ~positive)) / 2
  candidates = [0.0, 1.5, 2.5, 3.5, 4.5, 5.5]
  best = max(candidates, key=macro)  # max keeps the first of equals
  assert baseline.best_threshold(values, positive) == best == 2.5


def test_baselines_refuse_unusable_training_rows(tmp_path):
  x = np.random.default_rng(2).normal(size=(12, 2, T))
  y = np.arange(12) % 3
  store = _write_store(tmp_path / "three", x, y, class_names=("bckg", "a", "b"))
  with pytest.raises(DataError, match="binary"):
    baseline.rms_threshold_reference(store, np.arange(6), np.arange(6, 12))
  with pytest.raises(DataError, match="one class"):
    baseline.band_power_baseline(store, np.array([0, 3, 6]), np.arange(12))
  probs = baseline.band_power_baseline(store, np.array([0, 1, 3, 4, 6, 7]), np.arange(12))  # no class "b"
  assert probs.shape == (12, 3) and np.all(probs[:, 2] == 0)
