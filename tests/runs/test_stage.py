"""A finished stage read back: clear errors for what is not one, its features checked, its input described."""

from __future__ import annotations

import numpy as np
import pytest

from jclip_eeg import config_lib, jsonio, sharding
from jclip_eeg.errors import ConfigError, DataError
from jclip_eeg.runs import stage as stage_lib


def test_a_folder_that_is_no_finished_stage_is_a_config_error(tmp_path):
  with pytest.raises(ConfigError, match="no finished stage"):
    stage_lib.load(tmp_path / "student")
  (tmp_path / "student").mkdir()
  jsonio.write_json(tmp_path / "student" / "config.json", {})
  with pytest.raises(ConfigError, match="no finished stage"):  # config.json alone: still training
    stage_lib.read_result(tmp_path / "student")


def test_class_text_features_round_trip_and_bad_files(tmp_path):
  mesh = sharding.make_mesh()
  features = np.arange(6, dtype=np.float32).reshape(2, 3)
  stage_lib.save_text_features(tmp_path, features)
  np.testing.assert_array_equal(stage_lib.read_text_features(tmp_path, mesh), features)
  assert [p.name for p in tmp_path.iterdir()] == [stage_lib.TEXT_FEATURES]  # no temporary file left
  (tmp_path / stage_lib.TEXT_FEATURES).write_bytes(b"garbage")
  with pytest.raises(DataError, match="unreadable class-text features"):
    stage_lib.read_text_features(tmp_path, mesh)
  stage_lib.save_text_features(tmp_path, np.full((2, 3), np.nan, np.float32))
  with pytest.raises(DataError, match="expected finite"):
    stage_lib.read_text_features(tmp_path, mesh)


def test_metadata_describes_the_input_of_each_dataset():
  meta = stage_lib.model_metadata(config_lib.get_config("aubmc", "student"))
  assert (meta["dataset"], meta["sfreq"], meta["window_samples"], len(meta["channel_names"])) == ("aubmc", 500.0,
                                                                                                   500, 19)
  assert meta["role"] == "student" and meta["class_names"][0] == "normal" and meta["band_hz"] == [0.1, 70.0]
  assert meta["montage"] == "native"
  banana = stage_lib.model_metadata(config_lib.get_config("tusz", "teacher", "binary,banana18"))
  assert (banana["montage"], banana["channel_names"][:2], len(banana["channel_names"])) == (
      "banana18", ["Fp1-F3", "F3-C3"], 18)
  config = config_lib.get_config("chbmit", "teacher")
  with config.unlocked():
    config.data.n_channels = 19
  with pytest.raises(ConfigError, match="n_channels: 19, but the chbmit native montage has 23"):
    stage_lib.model_metadata(config)
