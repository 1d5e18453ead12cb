"""ECAM pieces on hand-made inputs: class maps, electrode positions, errors.

The ECAM of a trained model (injected channels ranked first) is in test_learned_run.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from jclip_eeg.data import montages
from jclip_eeg.data.channels import BANANA18, CHBMIT_LABELS, ELECTRODES_10_20, TEN_TWENTY, distinct_names
from jclip_eeg.errors import DataError
from jclip_eeg.eval import ecam


def test_class_maps_average_positive_scores():
  scores = np.array([[1.0, -2.0], [3.0, 4.0], [-1.0, 5.0]])
  e = ecam.class_maps(np.array([1, 1, 0]), scores, ("normal", "seizure", "other"), ("A", "B"))
  np.testing.assert_allclose(e.maps[:2], [[0.0, 5.0], [2.0, 2.0]])
  assert np.isnan(e.maps[2]).all() and e.n_windows.tolist() == [1, 2, 0]
  np.testing.assert_allclose(e.scaled()[0], [0.0, 1.0])
  assert e.ranking(0) == ["B", "A"]


def test_topomap_positions_are_electrode_midpoints():
  info, sensor_of = ecam.topomap_info(distinct_names(CHBMIT_LABELS))
  names = info.ch_names
  assert len(names) == 21  # T8-P8 twice and P7-T7 / T7-P7 share positions
  assert sensor_of[14] == sensor_of[22] and sensor_of[2] == sensor_of[18]
  pos = {ch["ch_name"]: ch["loc"][:3] for ch in info["chs"]}
  single, _ = ecam.topomap_info(["FP1", "F7", "T3", "T7"])
  one = {ch["ch_name"]: ch["loc"][:3] for ch in single["chs"]}
  np.testing.assert_allclose(pos["FP1-F7"], (one["FP1"] + one["F7"]) / 2, atol=1e-9)
  np.testing.assert_allclose(ecam.per_sensor(np.arange(23.0), sensor_of)[sensor_of[14]], (14 + 22) / 2)
  assert len(ecam.topomap_info(TEN_TWENTY)[0].ch_names) == 19


def test_szcore_montages_have_scalp_positions():
  banana, sensor_of = ecam.topomap_info(BANANA18)
  assert len(banana.ch_names) == 18 and sorted(set(sensor_of.tolist())) == list(range(18))
  average, _ = ecam.topomap_info(montages.AVERAGE.channel_names)  # Fp1-Avg ...: each at its electrode
  plain, _ = ecam.topomap_info(ELECTRODES_10_20)
  assert len(average.ch_names) == 19
  position = lambda info: {ch["ch_name"]: ch["loc"][:3] for ch in info["chs"]}  # noqa: E731
  np.testing.assert_allclose(np.stack(list(position(average).values())), np.stack(list(position(plain).values())))
  np.testing.assert_allclose(position(banana)["T3-T5"], (position(plain)["T3"] + position(plain)["T5"]) / 2)


def test_unknown_electrode_is_a_data_error():
  with pytest.raises(DataError, match="'ECG-X'"):
    ecam.topomap_info(["FP1-F7", "ECG-X"])
