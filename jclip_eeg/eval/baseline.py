"""Classical references for a store: how much of a task band power, or amplitude alone, solves.

Two scorers that need no deep learning, fitted on training windows of an
`EpochStore` and returning test-window class probabilities (n, n_classes), so
`jclip_eeg.metrics.classification_report` scores them exactly like the
models:

* `band_power_baseline`: per channel the log power in the delta (0.5-4 Hz),
  theta (4-8), alpha (8-13), beta (13-30) and gamma (30-70 Hz, clipped to
  Nyquist) bands of a Hann-windowed periodogram over the whole window
  (`scipy.signal.periodogram`; 1 Hz resolution for 1-s windows, bands are
  half-open [low, high) on the bin frequencies) plus the log line length
  (sum of |x[t+1] - x[t]|), standardised, then scikit-learn's
  `LogisticRegression(class_weight="balanced")` (lbfgs, deterministic; the seed
  is passed as `random_state`). The field's standard hand-crafted seizure
  detector.
* `rms_threshold_reference`: one number per window, the mean over channels of
  each channel's RMS, and one threshold, chosen to maximise macro F1 on the
  training windows (binary stores only). A detector this simple measures how
  much of a dataset plain amplitude gives away.

Units: windows are as stored (per-recording z-scored, so powers are in units of
each channel's recording variance); logs are natural. Features are computed in
chunks of `chunk_windows` rows, since the store is memory-mapped and may be
far larger than memory.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.signal
import scipy.special
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from jclip_eeg.data.store import EpochStore
from jclip_eeg.errors import DataError

BANDS_HZ: dict[str, tuple[float, float]] = {
    "delta": (0.5, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 13.0), "beta": (13.0, 30.0),
    "gamma": (30.0, 70.0)}
FEATURES: tuple[str, ...] = (*BANDS_HZ, "line_length")
# Added before taking logs so a flat (all-zero) channel gives a finite feature.
_LOG_FLOOR = 1e-10
CHUNK_WINDOWS = 4096


def _band_masks(n_times: int, sfreq: float) -> tuple[np.ndarray, np.ndarray]:
  """(periodogram frequencies (F,), masks (n_bands, F) of the bins in each band)."""
  freqs = np.fft.rfftfreq(n_times, 1.0 / sfreq)
  nyquist = sfreq / 2.0
  masks = np.stack([(freqs >= lo) & (freqs < min(hi, nyquist)) for lo, hi in BANDS_HZ.values()])
  empty = [name for name, mask in zip(BANDS_HZ, masks) if not mask.any()]
  if empty:
    raise DataError(f"band-power features: windows of {n_times} samples at {sfreq:g} Hz have no "
                    f"periodogram bin in band(s) {empty} ({BANDS_HZ}); they need >= 2 s or a higher rate")
  return freqs, masks


def band_power_features(x: np.ndarray, sfreq: float) -> np.ndarray:
  """(n, C, len(FEATURES)) float32 features of windows x (n, C, T) sampled at `sfreq` Hz.

  Feature k < 5 is the natural log of the power (signal units squared, e.g.
  z^2 for a z-scored store) in band `list(BANDS_HZ)[k]`: the periodogram
  density summed over the band's bins times the bin width, so the five bands
  add up to the variance between 0.5 Hz and min(70 Hz, Nyquist). Feature 5 is
  the log line length, sum_t |x[t+1] - x[t]| in signal units per window.
  """
  x = np.asarray(x, dtype=np.float64)
  if x.ndim != 3:
    raise DataError(f"band-power features: expected windows (n, C, T), got shape {x.shape}")
  freqs, masks = _band_masks(x.shape[-1], sfreq)
  _, density = scipy.signal.periodogram(x, fs=sfreq, window="hann", detrend="constant", axis=-1)
  power = np.einsum("nct,bt->ncb", density, masks.astype(np.float64)) * (freqs[1] - freqs[0])
  line_length = np.abs(np.diff(x, axis=-1)).sum(axis=-1, keepdims=True)
  return np.log(np.concatenate([power, line_length], axis=-1) + _LOG_FLOOR).astype(np.float32)


def window_rms(x: np.ndarray, sfreq: float) -> np.ndarray:
  """(n,) float32 mean over channels of each channel's RMS (signal units) of windows x (n, C, T).

  `sfreq` is unused; it keeps the signature of `band_power_features`.
  """
  del sfreq
  x = np.asarray(x, dtype=np.float64)
  return np.sqrt(np.mean(x * x, axis=-1)).mean(axis=-1).astype(np.float32)


def store_features(store: EpochStore, rows: np.ndarray, feature_fn: Callable[[np.ndarray, float], np.ndarray],
                   *, chunk_windows: int = CHUNK_WINDOWS) -> np.ndarray:
  """`feature_fn(x_chunk, store.sfreq)` over the store windows `rows`, read `chunk_windows` at a time.

  Returns the per-chunk results concatenated along axis 0 (one row per entry of `rows`, same order).
  """
  rows = np.asarray(rows, dtype=np.int64)
  if rows.size == 0:
    raise DataError(f"{store.path}: no windows given to compute features of")
  return np.concatenate([feature_fn(np.asarray(store.x[rows[i:i + chunk_windows]]), store.sfreq)
                         for i in range(0, rows.size, chunk_windows)])


def _full_probabilities(probs: np.ndarray, classes: np.ndarray, n_classes: int) -> np.ndarray:
  """(n, n_classes) from scikit-learn's (n, len(classes)); classes absent from training get 0."""
  out = np.zeros((probs.shape[0], n_classes))
  out[:, classes] = probs
  return out


def band_power_baseline(store: EpochStore, train_rows: np.ndarray, test_rows: np.ndarray, *, seed: int = 0,
                        chunk_windows: int = CHUNK_WINDOWS) -> np.ndarray:
  """Band-power + line-length logistic regression (module docstring) fitted on `train_rows`.

  Args:
    store: the windows (N, C, T) at store.sfreq.
    train_rows, test_rows: store row indices; training needs >= 2 classes.
    seed: `random_state` of the logistic regression.
  Returns:
    (len(test_rows), len(store.class_names)) float64 class probabilities of the test windows.
  """
  y_train = np.asarray(store.y)[np.asarray(train_rows)]
  if np.unique(y_train).size < 2:
    raise DataError(f"{store.path}: the band-power baseline's training windows hold one class only")
  flat = lambda x, sfreq: band_power_features(x, sfreq).reshape(len(x), -1)  # noqa: E731
  model = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000,
                                                             random_state=seed))
  model.fit(store_features(store, train_rows, flat, chunk_windows=chunk_windows), y_train)
  probs = model.predict_proba(store_features(store, test_rows, flat, chunk_windows=chunk_windows))
  return _full_probabilities(probs, model.classes_, len(store.class_names))


def best_threshold(values: np.ndarray, positive: np.ndarray) -> float:
  """The threshold t maximising the macro F1 of `values > t` against `positive` (n,) bool.

  Candidates are the midpoints between consecutive distinct sorted values (and
  one below the smallest: everything positive); ties go to the lowest t.
  """
  order = np.argsort(values, kind="stable")
  v, pos = np.asarray(values, dtype=np.float64)[order], np.asarray(positive, dtype=bool)[order]
  # Cut i predicts rows [i:] positive, for the cuts between distinct values (and i = 0).
  cuts = np.concatenate([[0], np.flatnonzero(np.diff(v) > 0) + 1])
  pos_below = np.concatenate([[0], np.cumsum(pos)])[cuts]
  neg_below = cuts - pos_below
  tp, fp = pos.sum() - pos_below, (~pos).sum() - neg_below
  fn, tn = pos_below, neg_below
  with np.errstate(invalid="ignore", divide="ignore"):
    f1_pos = np.nan_to_num(2 * tp / (2 * tp + fp + fn))
    f1_neg = np.nan_to_num(2 * tn / (2 * tn + fn + fp))
  i = cuts[np.argmax(f1_pos + f1_neg)]
  return float(v[0] - 1.0) if i == 0 else float((v[i - 1] + v[i]) / 2)


def rms_threshold_reference(store: EpochStore, train_rows: np.ndarray, test_rows: np.ndarray, *,
                            background: int = 0, chunk_windows: int = CHUNK_WINDOWS) -> np.ndarray:
  """Mean-RMS threshold detector (module docstring) fitted on `train_rows` of a binary store.

  Returns:
    (len(test_rows), 2) float64 probabilities: P(positive) = sigmoid(log(rms / t) / s),
    with t the training threshold and s the spread (std) of log RMS over the
    training windows, so argmax is the threshold decision and the AUC is that
    of the RMS itself.
  """
  if len(store.class_names) != 2:
    raise DataError(f"{store.path}: the RMS threshold reference needs a binary store, got classes "
                    f"{list(store.class_names)}")
  y_train = np.asarray(store.y)[np.asarray(train_rows)]
  train = np.log(store_features(store, train_rows, window_rms, chunk_windows=chunk_windows) + _LOG_FLOOR)
  threshold = best_threshold(train, y_train != background)
  test = np.log(store_features(store, test_rows, window_rms, chunk_windows=chunk_windows) + _LOG_FLOOR)
  p = scipy.special.expit((test - threshold) / max(float(train.std()), _LOG_FLOOR))
  probs = np.empty((test.size, 2))
  probs[:, 1 - background], probs[:, background] = p, 1.0 - p
  return probs
