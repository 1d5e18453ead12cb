"""Montages: channel order, label aliases, derivation from bipolar and referential EDFs, the missing-electrode errors.

Files are real EDFs written with `edf.write_edf`; the derivations are checked
against the stored signals and against epilepsy2bids's own re-referencing
(when it is installed: the test extra has it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jclip_eeg.data import datasets, edf, montages
from jclip_eeg.data.channels import BANANA18, CHBMIT_LABELS, ELECTRODES_10_20, TEN_TWENTY
from jclip_eeg.data.edf import write_edf
from jclip_eeg.errors import ConfigError, DataError

RNG = np.random.default_rng(0)
_NEW = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}
_NEW_TO_OLD = {v: k for k, v in _NEW.items()}
_RANGE = (-250.0, 250.0)  # µV, the files' physical range
# Each stored sample is within half a 16-bit step of the truth; a difference of two, or an electrode minus
# the mean of 19, is within two half steps (plus float32 rounding).
_ATOL = 2 * (_RANGE[1] - _RANGE[0]) / 65535 / 2 + 1e-4


def _electrode_signals(n: int = 4 * 256) -> dict[str, np.ndarray]:
  """Random ±100 µV signals of the 19 10-20 electrodes plus FT9/FT10, keyed by old-style upper-case name."""
  names = [e.upper() for e in ELECTRODES_10_20] + ["FT9", "FT10"]
  return {name: RNG.uniform(-100, 100, n) for name in names}


def _referential_edf(path: Path, signals: dict[str, np.ndarray], label: str = "EEG {}-REF",
                     new_names: bool = False, drop: tuple[str, ...] = ()) -> Path:
  """Writes `signals` as a referential EDF: labels from `label` (T7/P7 names with `new_names`), extra channels."""
  names = [n for n in signals if n not in drop]
  labels = [label.format(_NEW.get(n, n) if new_names else n) for n in names] + ["ECG EKG-REF", "1"]
  rows = [signals[n] for n in names] + [np.zeros(len(signals[names[0]]))] * 2
  return write_edf(path, rows, 256.0, labels, physical_range=_RANGE)


def _pair(signals: dict[str, np.ndarray], label: str) -> np.ndarray:
  a, b = (_NEW_TO_OLD.get(e.upper(), e.upper()) for e in label.split("-"))
  return signals[a] - signals[b]



# ----------------------------------------------------------------------------- names and order


def test_montage_channel_names_and_order():
  assert montages.BANANA.channel_names == BANANA18 == (
      "Fp1-F3", "F3-C3", "C3-P3", "P3-O1", "Fp1-F7", "F7-T3", "T3-T5", "T5-O1", "Fz-Cz", "Cz-Pz",
      "Fp2-F4", "F4-C4", "C4-P4", "P4-O2", "Fp2-F8", "F8-T4", "T4-T6", "T6-O2")
  assert montages.AVERAGE.channel_names == tuple(f"{e}-Avg" for e in ELECTRODES_10_20)
  assert ELECTRODES_10_20 == ("Fp1", "F3", "C3", "P3", "O1", "F7", "T3", "T5", "Fz", "Cz", "Pz",
                              "Fp2", "F4", "C4", "P4", "O2", "F8", "T4", "T6")
  assert {e.upper() for e in ELECTRODES_10_20} == set(TEN_TWENTY)


def test_every_reader_takes_the_montage_option():
  for name in datasets.NAMES:
    if name != "bids":
      assert datasets.get(name).spec.channel_names == datasets.get(name).native.channel_names
    assert datasets.get(name, montage="banana18").spec.channel_names == BANANA18
    assert datasets.get(name, montage="average19").spec.channel_names[0] == "Fp1-Avg"
    assert "montage" in datasets.option_help(name)
  assert datasets.get("bids").montage == "banana18"
  with pytest.raises(ConfigError, match="bids has no channel list of its own"):
    datasets.get("bids", montage="native")
  with pytest.raises(ConfigError, match=r"montage: 'banana'; expected one of \('native', 'banana18', 'average19'\)"):
    datasets.get("tusz", montage="banana")


def test_options_of_a_config_carry_the_montage():
  assert datasets.options_of({"options": {"classes": "binary"}, "montage": "average19"}) == {
      "classes": "binary", "montage": "average19"}
  assert datasets.options_of({"options": {}}) == {}  # a config from before montages
  with pytest.raises(ConfigError, match="set config.data.montage only"):
    datasets.options_of({"options": {"montage": "native"}, "montage": "banana18"})


# ----------------------------------------------------------------------------- bipolar files


def test_banana18_is_picked_from_a_chbmit_file_with_t7_names(tmp_path):
  labels = list(CHBMIT_LABELS) + ["-", "ECG"]
  rows = [np.full(512, 10.0 * (i + 1)) for i in range(len(labels))]
  path = write_edf(tmp_path / "chb.edf", rows, 256.0, labels, physical_range=(-500.0, 500.0))
  signals = montages.read_signals(path, montages.BANANA)
  assert signals.channel_names == BANANA18 and signals.data.shape == (18, 512)
  stored = [int(round(v / 10.0)) - 1 for v in signals.data.mean(axis=1)]
  # F7-T3 <- F7-T7, T3-T5 <- T7-P7, T5-O1 <- P7-O1, F8-T4 <- F8-T8, T4-T6 <- T8-P8 (its first copy), T6-O2 <- P8-O2.
  expected = [CHBMIT_LABELS.index(x) for x in (
      "FP1-F3", "F3-C3", "C3-P3", "P3-O1", "FP1-F7", "F7-T7", "T7-P7", "P7-O1", "FZ-CZ", "CZ-PZ",
      "FP2-F4", "F4-C4", "C4-P4", "P4-O2", "FP2-F8", "F8-T8", "T8-P8", "P8-O2")]
  assert stored == expected
  assert montages.MontageBlocks(path, montages.BANANA).derivation.weights is None  # a pick, no arithmetic


def test_average19_from_a_bipolar_file_is_refused_naming_file_and_electrodes(tmp_path):
  rows = [np.zeros(256)] * len(CHBMIT_LABELS)
  path = write_edf(tmp_path / "chb.edf", rows, 256.0, list(CHBMIT_LABELS))
  with pytest.raises(DataError, match=r"chb.edf: montage average19: missing electrode\(s\) \['FP1', 'F3', .*'T6'\] "
                                      r"\(a bipolar recording cannot be re-referenced"):
    montages.read_signals(path, montages.AVERAGE)
  lacking = write_edf(tmp_path / "short.edf", rows[:3], 256.0, ["FP1-F3", "F3-C3", "C3-P3"])
  with pytest.raises(DataError, match=r"short.edf: missing channel\(s\) \['P3-O1', 'Fp1-F7', .*'T6-O2'\]; "
                                      r"the file has \['FP1-F3'"):
    montages.MontageBlocks(lacking, montages.BANANA)


# ----------------------------------------------------------------------------- referential files


@pytest.mark.parametrize("label, new_names", [
    ("EEG {}-REF", False),  # TUSZ 01_tcp_ar
    ("EEG {}-LE", True),    # TUSZ 02_tcp_le, T7/P7 names
    ("EEG {}", True),       # Siena
    ("{}-Avg", False),      # SzCORE
])
def test_banana18_and_average19_are_computed_from_referential_files(tmp_path, label, new_names):
  signals = _electrode_signals()
  path = _referential_edf(tmp_path / "ref.edf", signals, label, new_names)
  banana = montages.read_signals(path, montages.BANANA)
  np.testing.assert_allclose(banana.data, np.stack([_pair(signals, c) for c in BANANA18]), atol=_ATOL)
  average = montages.read_signals(path, montages.AVERAGE)
  electrodes = np.stack([signals[e.upper()] for e in ELECTRODES_10_20])
  np.testing.assert_allclose(average.data, electrodes - electrodes.mean(axis=0), atol=_ATOL)
  assert average.channel_names == montages.AVERAGE.channel_names and average.sfreq == 256.0


def test_chbmit_native_channels_are_computed_from_a_referential_file(tmp_path):
  signals = _electrode_signals()
  path = _referential_edf(tmp_path / "ref.edf", signals, new_names=True)
  native = montages.read_signals(path, datasets.get("chbmit").channels)
  assert native.data.shape == (23, 1024)
  np.testing.assert_allclose(native.data, np.stack([_pair(signals, c) for c in CHBMIT_LABELS]), atol=_ATOL)


def test_average_of_a_common_average_file_is_the_file(tmp_path):
  signals = _electrode_signals()
  electrodes = np.stack([signals[e.upper()] for e in ELECTRODES_10_20])
  averaged = dict(zip((e.upper() for e in ELECTRODES_10_20), electrodes - electrodes.mean(axis=0)))
  path = _referential_edf(tmp_path / "avg.edf", averaged, "{}-Avg")
  again = montages.read_signals(path, montages.AVERAGE).data
  np.testing.assert_allclose(again, np.stack(list(averaged.values())), atol=_ATOL)


def test_a_missing_electrode_is_named(tmp_path):
  path = _referential_edf(tmp_path / "no_o1.edf", _electrode_signals(), drop=("O1", "T4"))
  for montage in (montages.BANANA, montages.AVERAGE):
    with pytest.raises(DataError, match=rf"no_o1.edf: montage {montage.name}: missing electrode\(s\) \['O1', 'T4'\]; "
                                        r"the file has \['EEG FP1-REF'"):
      montages.read_signals(path, montage)


@pytest.mark.parametrize("slice_samples", [1 << 16, 97])
def test_block_reads_equal_the_whole_derivation(tmp_path, monkeypatch, slice_samples):
  """Bit for bit, on every CPU, whatever the block and the combining slice (97: slices that do not divide)."""
  monkeypatch.setattr(montages, "_COMBINE_SAMPLES", slice_samples)
  path = _referential_edf(tmp_path / "ref.edf", _electrode_signals())
  blocks = montages.MontageBlocks(path, montages.AVERAGE)
  whole = blocks.read()
  np.testing.assert_array_equal(blocks.read(100, 700), whole[:, 100:700])
  picked = edf.EdfBlocks(path, blocks.derivation.picks, normalise=blocks.derivation.normalise).read()
  want = (np.asarray(montages.AVERAGE.weights) @ picked.astype(np.float64)).astype(np.float32)
  np.testing.assert_array_equal(whole, want)
  assert blocks.channel_names == montages.AVERAGE.channel_names and blocks.n_samples == 1024


def test_derivations_equal_epilepsy2bids_rereferencing():
  eeg = pytest.importorskip("epilepsy2bids.eeg")
  labels = [f"EEG {_NEW.get(e.upper(), e)}" for e in reversed(ELECTRODES_10_20)]  # its own regexes: T7 for T3
  data = RNG.normal(0, 50, (19, 300))
  theirs = eeg.Eeg(data.copy(), list(labels), 256)
  theirs.reReferenceToBipolar()
  assert tuple(theirs.channels) == BANANA18
  np.testing.assert_allclose(montages.from_rows(data, labels, montages.BANANA, "x"), theirs.data, atol=1e-4)
  theirs = eeg.Eeg(data.copy(), list(labels), 256)
  theirs.reReferenceToCommonAverage()
  order = [labels.index(f"EEG {_NEW.get(e.upper(), e)}") for e in ELECTRODES_10_20]
  np.testing.assert_allclose(montages.from_rows(data, labels, montages.AVERAGE, "x"), theirs.data[order], atol=1e-4)
