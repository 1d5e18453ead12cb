"""The data of a run: the store named by config.data (with its download and prepare hints) and the fold."""

from __future__ import annotations

from pathlib import Path

import ml_collections
import numpy as np
import pytest
from steps_helpers import write_tiny_store

from jclip_eeg import config_lib
from jclip_eeg.errors import ConfigError, DataError
from jclip_eeg.runs import split as split_lib


def _data(store: Path, **split) -> ml_collections.ConfigDict:
  data = config_lib.data_config("chbmit")
  data.update(dict(store=str(store), n_channels=2, n_times=8))
  data.split.update(dict(dict(by="patient", k=2, val_fraction=0.3), **split))
  return data


@pytest.mark.parametrize("dataset, arg, expected", [
    ("chbmit", None, ["physionet.org/content/chbmit/1.0.0",
                      "scripts/prepare_data.py --dataset chbmit --root {root} --out {store}"]),
    ("tusz", "binary", ["TUH EEG Seizure Corpus", "--dataset tusz --root {root} --out {store} --option classes=binary"]),
    ("neonatal", None, ["zenodo.org/records/2547147"]),
    ("aubmc", None, ["10.17632/5pc2j46cbc"]),
])
def test_missing_store_says_where_to_download_and_how_to_prepare(tmp_path, dataset, arg, expected):
  data = config_lib.get_config(dataset, "teacher", arg).data
  with data.unlocked():
    data.update(dict(store=str(tmp_path / "store"), root=str(tmp_path / "raw")))
  with pytest.raises(DataError) as error:
    split_lib.open_store(data)
  for text in expected:
    assert text.format(root=data.root, store=data.store) in str(error.value)


def test_store_of_other_classes_or_shape_is_refused(tmp_path):
  data = _data(write_tiny_store(tmp_path / "store"))
  with data.unlocked():
    data.n_channels = 23
  with pytest.raises(DataError, match="store has classes"):
    split_lib.open_store(data)


def test_split_is_patient_wise_with_a_validation_part(tmp_path):
  split = split_lib.load_split(_data(write_tiny_store(tmp_path / "store", patients=6), val_fraction=0.25))
  parts = [set(split.description[p]["patients"]) for p in ("train", "val", "test")]
  assert all(parts) and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
  assert split.description["val"]["per_class"]["seizure"] == split.description["val"]["per_class"]["normal"]


def test_split_errors(tmp_path):
  store = write_tiny_store(tmp_path / "store", no_seizure=(0, 1))
  with pytest.raises(ConfigError, match="val_fraction"):
    split_lib.load_split(_data(store, val_fraction=0.0))
  with pytest.raises(ConfigError, match="fold=2"):
    split_lib.load_split(_data(store, fold=2))
  with pytest.raises(DataError, match="holds only class 'normal'"):
    split_lib._check_parts({"test": np.arange(48)}, np.zeros(96, np.int64), ("normal", "seizure"), "here")
  with pytest.raises(DataError, match="the val part is empty"):
    split_lib._check_parts({"val": np.arange(0)}, np.zeros(96, np.int64), ("normal", "seizure"), "here")


def test_named_test_groups_are_the_test_part(tmp_path):
  store = write_tiny_store(tmp_path / "store", patients=6)
  split = split_lib.load_split(_data(store, test_groups=("p2", "p4"), val_fraction=0.25))
  assert split.description["test"]["patients"] == ["p2", "p4"]
  assert not {"p2", "p4"} & set(split.description["train"]["patients"] + split.description["val"]["patients"])
  assert split.description["val"]["patients"] and split.description["split"]["test_groups"] == ("p2", "p4")


def test_named_test_groups_errors(tmp_path):
  store = write_tiny_store(tmp_path / "store", patients=4, no_seizure=(3,))
  with pytest.raises(DataError, match=r"names patient\(s\) \['p9'\] that the store does not have; its patients: "
                                      "p0, p1, p2, p3"):
    split_lib.load_split(_data(store, test_groups=("p9",)))
  with pytest.raises(DataError, match="the test part holds only class 'normal'"):  # a background-only patient
    split_lib.load_split(_data(store, test_groups=("p3",)))
  with pytest.raises(ConfigError, match="split.by='window' must be 'recording' or 'patient'"):
    split_lib.load_split(_data(store, by="window", test_groups=("p1",)))
