"""ROC, timeline and ECAM pictures from hand-made arrays: valid PNGs, and the numbers behind them."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib import image

from jclip_eeg.data.channels import CHBMIT_LABELS, TEN_TWENTY, distinct_names
from jclip_eeg.errors import DataError
from jclip_eeg.eval import ecam, plots


def _png_shape(path) -> tuple[int, ...]:
  return image.imread(path).shape


def _probs(y: np.ndarray, n_classes: int, seed: int = 0) -> np.ndarray:
  """Noisy probabilities that favour the true class."""
  logits = np.random.default_rng(seed).normal(size=(len(y), n_classes)) + 2.0 * np.eye(n_classes)[y]
  e = np.exp(logits)
  return e / e.sum(axis=1, keepdims=True)


def test_seizure_probability_binary_and_multiclass():
  probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
  np.testing.assert_allclose(plots.seizure_probability(probs), [0.3, 0.9])
  np.testing.assert_allclose(plots.seizure_probability(probs[:, :2] / probs[:, :2].sum(1, keepdims=True)),
                             [0.2 / 0.9, 0.75])
  with pytest.raises(DataError, match="expected"):
    plots.seizure_probability(np.ones((3, 1)))


def test_seizure_spans_merge_overlapping_windows():
  start = np.array([10.0, 0.0, 3.0, 3.5, 4.0, 20.0])
  seizure = np.array([False, False, True, True, True, True])
  assert plots.seizure_spans(start, seizure, 1.0) == [(3.0, 5.0), (20.0, 21.0)]


@pytest.mark.parametrize("class_names", [("normal", "seizure"), ("bckg", "fnsz", "gnsz")])
def test_roc_png(tmp_path, class_names):
  y = np.arange(120) % len(class_names)
  results = {"teacher": (y, _probs(y, len(class_names))), "student": (y, _probs(y, len(class_names), 1))}
  path = tmp_path / "roc.png"
  plots.plot_roc(results, class_names, path)
  height, width, _ = _png_shape(path)
  assert width > 2 * height > 400  # two panels side by side


def test_roc_curves_skip_absent_classes():
  y = np.array([0, 0, 1, 1])
  probs = _probs(y, 3)
  curves = plots._roc_curves(y, probs, ("bckg", "a", "b"))
  assert set(curves) == {"bckg", "a", "micro average"}
  perfect = plots._roc_curves(y, np.eye(2)[y] * 0.8 + 0.1, ("normal", "seizure"))
  assert list(perfect) == ["seizure"] and perfect["seizure"][2] == pytest.approx(1.0)


def test_timelines_one_png_per_recording_seizures_first(tmp_path):
  recording = np.array(["chb01/chb01_01.edf"] * 30 + ["chb01/chb01_03.edf"] * 30, dtype=object)
  start = np.tile(np.arange(30.0), 2)
  y = np.zeros(60, int)
  y[40:45] = 1
  paths = plots.plot_timelines(recording, start, y, {"teacher": _probs(y, 2)}, 1.0, tmp_path / "t",
                               max_recordings=1)
  assert [p.name for p in paths] == ["chb01_chb01_03.edf.png"]
  height, width, _ = _png_shape(paths[0])
  assert width > 3 * height


@pytest.mark.parametrize("channels", [distinct_names(CHBMIT_LABELS), TEN_TWENTY])
def test_ecam_topomap_png(tmp_path, channels):
  rng = np.random.default_rng(0)
  maps = ecam.Ecam(("normal", "seizure"), tuple(channels), rng.uniform(size=(2, len(channels))),
                   np.array([10, 0]))
  path = tmp_path / "ecam.png"
  plots.plot_ecam({"teacher": maps, "student": maps}, path)
  height, width, channels_rgba = _png_shape(path)
  assert height > 400 and width > 400 and channels_rgba in (3, 4)
