"""EDF reading/writing: round trips, channel picking, mixed rates and broken files."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import mne
import numpy as np
import pyedflib
import pytest

from jclip_eeg.data import edf
from jclip_eeg.errors import DataError

RNG = np.random.default_rng(0)


def _half_step(low: float, high: float) -> float:
  """Largest round-trip error of 16-bit EDF quantisation over [low, high] µV."""
  return (high - low) / 65535 / 2


def _write(path: Path, data, sfreqs, labels, **kwargs) -> Path:
  return edf.write_edf(path, data, sfreqs, labels, **kwargs)


def test_round_trip_within_quantisation(tmp_path: Path):
  data = RNG.normal(0, 40, (3, 256 * 4))
  path = _write(tmp_path / "a.edf", data, 256, ["FP1-F7", "F7-T7", "T7-P7"],
                physical_range=(-500.0, 500.0))
  signals = edf.read_edf(path, ["FP1-F7", "F7-T7", "T7-P7"])
  assert signals.data.dtype == np.float32 and signals.data.shape == data.shape
  assert signals.sfreq == 256 and signals.channel_names == ("FP1-F7", "F7-T7", "T7-P7")
  # Half a quantisation step (7.6 nV here) plus float32 rounding of ~500 µV values.
  np.testing.assert_allclose(signals.data, data, rtol=0, atol=_half_step(-500, 500) + 1e-4)
  header = edf.read_header(path)
  assert header.labels == ("FP1-F7", "F7-T7", "T7-P7")
  assert header.sfreqs == (256.0,) * 3 and header.n_samples == (1024,) * 3
  assert header.duration_s == 4.0 and header.path == path


def test_default_range_per_channel_and_pyedflib_agree(tmp_path: Path):
  data = RNG.normal(0, 1, (2, 200)) * np.array([[3.0], [900.0]])
  path = _write(tmp_path / "a.edf", data, 100, ["X", "Y"])
  read = edf.read_edf(path, ["X", "Y"]).data
  for row, expected in zip(read, data):
    top = np.ceil(np.abs(expected).max())
    np.testing.assert_allclose(row, expected, rtol=0, atol=_half_step(-top, top) + 1e-4)
  with pyedflib.EdfReader(str(path)) as reader:  # an independent reader of the same bytes
    reference = np.stack([reader.readSignal(i) for i in range(2)])
  np.testing.assert_allclose(read, reference, rtol=1e-6, atol=1e-5)


def test_duplicate_labels_map_to_successive_occurrences(tmp_path: Path):
  data = np.stack([np.full(100, v) for v in (1.0, 2.0, 3.0, 4.0)])
  path = _write(tmp_path / "chb.edf", data, 100, ["T8-P8", "FZ-CZ", "T8-P8", "-"],
                physical_range=(-10.0, 10.0))
  picked = edf.read_edf(path, ["T8-P8", "FZ-CZ", "T8-P8"]).data
  np.testing.assert_allclose(picked[:, 0], [1.0, 2.0, 3.0], atol=1e-3)
  # A label stored once serves every repeat of its pick.
  np.testing.assert_allclose(edf.read_edf(path, ["FZ-CZ", "FZ-CZ"]).data[:, 0], [2.0, 2.0],
                             atol=1e-3)


def test_normalise_matches_stored_labels(tmp_path: Path):
  path = _write(tmp_path / "tusz.edf", RNG.normal(0, 20, (2, 250)), 250,
                ["EEG FP1-REF", "EEG Fp2-Ref"])
  signals = edf.read_edf(path, ["FP2", "FP1"],
                         normalise=lambda s: s.upper().removeprefix("EEG ").removesuffix("-REF"))
  assert signals.channel_names == ("FP2", "FP1")
  raw = edf.read_edf(path, ["EEG FP1-REF", "EEG FP2-REF"]).data
  np.testing.assert_array_equal(signals.data, raw[::-1])


def test_mixed_rates_read_eeg_and_reject_mixed_picks(tmp_path: Path):
  eeg = RNG.normal(0, 30, (2, 250 * 6))
  ibi = np.arange(6.0)
  path = _write(tmp_path / "mixed.edf", [eeg[0], eeg[1], ibi], [250, 250, 1],
                ["EEG C3-REF", "EEG C4-REF", "IBI"])
  header = edf.read_header(path)
  assert header.sfreqs == (250.0, 250.0, 1.0) and header.n_samples == (1500, 1500, 6)
  signals = edf.read_edf(path, ["EEG C4-REF", "EEG C3-REF"])
  assert signals.sfreq == 250 and signals.data.shape == (2, 1500)
  np.testing.assert_allclose(signals.data, eeg[::-1], atol=0.01)
  np.testing.assert_allclose(edf.read_edf(path, ["IBI"]).data[0], ibi, atol=1e-3)
  with pytest.raises(DataError, match="different sampling rates") as err:
    edf.read_edf(path, ["EEG C3-REF", "IBI"])
  message = str(err.value)
  assert str(path) in message and "IBI" in message and "250" in message and "1.0" in message


def test_missing_channel_names_file_channel_and_contents(tmp_path: Path):
  path = _write(tmp_path / "rec.edf", RNG.normal(0, 5, (2, 100)), 100, ["FP1-F7", "F7-T7"])
  with pytest.raises(DataError) as err:
    edf.read_edf(path, ["FP1-F7", "CZ-PZ", "FT9-FT10"])
  message = str(err.value)
  assert str(path) in message
  assert "CZ-PZ" in message and "FT9-FT10" in message  # what is missing
  assert "F7-T7" in message  # what the file has


def _valid_file(tmp_path: Path) -> Path:
  return _write(tmp_path / "ok.edf", RNG.normal(0, 5, (2, 512)), 256, ["A", "B"])


@pytest.mark.parametrize("keep", [-100, 300, 100])  # cut data, cut signal headers, cut main header
def test_truncated_file_is_named(tmp_path: Path, keep: int):
  path = _valid_file(tmp_path)
  content = path.read_bytes()
  cut = tmp_path / "cut.edf"
  cut.write_bytes(content[:keep])
  for read in (edf.read_header, lambda p: edf.read_edf(p, ["A"]), edf.read_annotations):
    with pytest.raises(DataError, match="cut.edf"):
      read(cut)


def test_truncated_data_message_says_truncated(tmp_path: Path):
  path = _valid_file(tmp_path)
  path.write_bytes(path.read_bytes()[:-1])
  with pytest.raises(DataError, match="truncated"):
    edf.read_header(path)


def test_foreign_and_missing_files_are_named(tmp_path: Path):
  text = tmp_path / "notes.edf"
  text.write_text("Seizure Start Time: 2996 seconds\n" * 20)
  with pytest.raises(DataError, match="notes.edf.*not an EDF"):
    edf.read_edf(text, ["A"])
  with pytest.raises(DataError, match="absent.edf.*not found"):
    edf.read_header(tmp_path / "absent.edf")


def test_header_fields_are_validated(tmp_path: Path):
  path = _valid_file(tmp_path)
  content = bytearray(path.read_bytes())
  content[252:256] = b"xx  "  # number of signals
  path.write_bytes(bytes(content))
  with pytest.raises(DataError, match="ok.edf.*header field"):
    edf.read_header(path)


def test_millivolt_signals_are_converted_to_microvolts(tmp_path: Path):
  data = RNG.normal(0, 50, (2, 100))
  path = _write(tmp_path / "mv.edf", data, 100, ["A", "B"], physical_range=(-500.0, 500.0))
  content = bytearray(path.read_bytes())
  ns = 2
  content[256 + 96 * ns:256 + 96 * ns + 8] = b"mV      "  # signal 0's physical dimension
  path.write_bytes(bytes(content))
  read = edf.read_edf(path, ["A", "B"]).data
  step = _half_step(-500, 500)
  np.testing.assert_allclose(read[0], data[0] * 1000, rtol=1e-6, atol=1000 * step + 0.01)
  np.testing.assert_allclose(read[1], data[1], rtol=0, atol=step + 1e-4)


def test_annotations_round_trip(tmp_path: Path):
  notes = [(0.0, 3.5, "seiz"), (2.25, 0.0, "cpsz"), (4.0, -1, "no duration")]
  path = _write(tmp_path / "plus.edf", RNG.normal(0, 5, (1, 5 * 100)), 100, ["A"],
                annotations=notes)
  read = edf.read_annotations(path)
  assert [t for _, _, t in read] == ["seiz", "cpsz", "no duration"]
  np.testing.assert_allclose([(o, d) for o, d, _ in read], [(0, 3.5), (2.25, 0), (4, 0)])
  assert edf.read_edf(path, ["A"]).data.shape == (1, 500)  # the annotation signal is skipped
  assert edf.read_header(path).labels == ("A",)
  assert edf.read_annotations(_valid_file(tmp_path)) == []


def test_more_annotations_than_records_are_kept(tmp_path: Path):
  notes = [(0.1 * k, 0.1, f"event {k}") for k in range(8)]
  path = _write(tmp_path / "many.edf", np.zeros((1, 300)), 100, ["A"], annotations=notes)
  assert [t for _, _, t in edf.read_annotations(path)] == [t for _, _, t in notes]


def test_write_is_atomic_and_validates(tmp_path: Path):
  _write(tmp_path / "a.edf", np.zeros((1, 100)), 100, ["A"])
  assert os.listdir(tmp_path) == ["a.edf"]
  bad_calls = [
      dict(data=np.zeros((2, 100)), sfreqs=100, labels=["A"]),  # label count
      dict(data=[np.zeros(100), np.zeros(50)], sfreqs=100, labels=["A", "B"]),  # lengths
      dict(data=np.zeros((1, 150)), sfreqs=100, labels=["A"]),  # partial record
      dict(data=np.full((1, 100), np.nan), sfreqs=100, labels=["A"]),
      dict(data=np.zeros((1, 100)), sfreqs=100, labels=["A" * 17]),
      dict(data=np.full((1, 100), 20.0), sfreqs=100, labels=["A"], physical_range=(-10, 10)),
      dict(data=np.zeros((1, 100)), sfreqs=100, labels=["A"], annotations=[(0, 1, "x" * 41)]),
  ]
  for call in bad_calls:
    with pytest.raises(DataError, match="b.edf"):
      _write(tmp_path / "b.edf", call.pop("data"), call.pop("sfreqs"), call.pop("labels"), **call)
  assert os.listdir(tmp_path) == ["a.edf"]  # neither b.edf nor temporary files


def test_same_input_same_bytes(tmp_path: Path):
  data = RNG.normal(0, 10, (2, 200))
  first = _write(tmp_path / "1.edf", data, 100, ["A", "B"]).read_bytes()
  assert _write(tmp_path / "2.edf", data, 100, ["A", "B"]).read_bytes() == first


@pytest.mark.parametrize("start", [
    datetime.datetime(2076, 11, 6, 11, 42, 54),  # CHB-MIT chb01: 06.11.76 is 2076 (strptime's %y says 1976)
    datetime.datetime(1985, 1, 1, 0, 0, 0),      # the first year of the EDF century rule
    datetime.datetime(1999, 12, 31, 23, 59, 59),
    datetime.datetime(2084, 2, 29, 8, 40, 46),   # the last two-digit year, a leap day
])
def test_start_follows_the_edf_century_rule_like_pyedflib_and_mne(tmp_path: Path, start: datetime.datetime):
  path = _write(tmp_path / "s.edf", np.zeros((1, 256)), 256, ["Fp1"], start=start)
  assert edf.read_header(path).start == start
  with pyedflib.EdfReader(str(path)) as reader:
    assert reader.getStartdatetime() == start
  assert mne.io.read_raw_edf(path, verbose="error").info["meas_date"].replace(tzinfo=None) == start


def _patch(path: Path, offset: int, text: str) -> None:
  content = bytearray(path.read_bytes())
  content[offset:offset + len(text)] = text.encode("ascii")
  path.write_bytes(bytes(content))


def test_edfplus_startdate_wins_over_the_two_digit_year(tmp_path: Path):
  path = _write(tmp_path / "plus.edf", np.zeros((1, 256)), 256, ["Fp1"], annotations=[(0.0, -1.0, "x")],
                start=datetime.datetime(2076, 11, 6, 11, 42, 54))
  _patch(path, 88, "Startdate 06-NOV-2090")  # after 2084 the spec writes the year only here
  _patch(path, 168, "06.11.yy")
  assert edf.read_header(path).start == datetime.datetime(2090, 11, 6, 11, 42, 54)
  _patch(path, 88, "Startdate X          ")  # unknown: the header's own date counts
  _patch(path, 168, "06.11.76")
  assert edf.read_header(path).start == datetime.datetime(2076, 11, 6, 11, 42, 54)
  _patch(path, 168, "31.02.76")
  assert edf.read_header(path).start is None
