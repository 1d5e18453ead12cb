"""Annotation parsers and channel normalisation, on the real fixture files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jclip_eeg.data import annotations as ann
from jclip_eeg.data import channels
from jclip_eeg.data.types import Event
from jclip_eeg.errors import DataError

# ----------------------------------------------------------------------------- CHB-MIT


def test_chbmit_summary_real_fixture(fixtures_dir):
  path = fixtures_dir / "chbmit" / "chb01-summary.txt"
  files = ann.parse_chbmit_summary(path)
  assert len(files) == path.read_text().count("File Name:")
  assert files["chb01_03.edf"] == (Event(2996.0, 3036.0, "seizure"),)
  assert files["chb01_04.edf"] == (Event(1467.0, 1494.0, "seizure"),)
  assert files["chb01_26.edf"] == (Event(1862.0, 1963.0, "seizure"),)
  assert files["chb01_01.edf"] == ()
  # chb01 has 7 seizures in 7 files (PhysioNet records list).
  assert sum(len(e) for e in files.values()) == 7
  assert list(files)[:3] == ["chb01_01.edf", "chb01_02.edf", "chb01_03.edf"]


_NUMBERED = """Data Sampling Rate: 256 Hz
Channels in EDF Files:
Channel 1: FP1-F7

File Name: chb06_01.edf
File Start Time: 04:21:21
File End Time: 7:40:55
Number of Seizures in File: 3
Seizure 1 Start Time: 1724 seconds
Seizure 1 End Time: 1738 seconds
Seizure 2 Start Time: 7461 seconds
Seizure 2 End Time: 7476 seconds
Seizure 3 Start Time:  13525 seconds
Seizure 3 End Time:  13540 seconds

Channels changed:
Channel 1: FP1-F7
Channel 2: -

File Name: chb06_02.edf
Number of Seizures in File: 0
"""


def test_chbmit_summary_numbered_variant_and_channel_change(tmp_path):
  path = tmp_path / "chb06-summary.txt"
  path.write_text(_NUMBERED)
  files = ann.parse_chbmit_summary(path)
  assert files == {
      "chb06_01.edf": (Event(1724.0, 1738.0, "seizure"), Event(7461.0, 7476.0, "seizure"),
                       Event(13525.0, 13540.0, "seizure")),
      "chb06_02.edf": (),
  }


@pytest.mark.parametrize("broken, message", [
    (_NUMBERED.replace("Number of Seizures in File: 3", "Number of Seizures in File: 2"),
     "Number of Seizures in File: 2"),
    (_NUMBERED.replace("Seizure 2 End Time: 7476 seconds\n", ""), "2 end times"),
    (_NUMBERED.replace("End Time: 1738", "End Time: 1700"), "empty or negative"),
    ("Seizure Start Time: 10 seconds\n" + _NUMBERED, "before any 'File Name:'"),
    (_NUMBERED + "\nFile Name: chb06_01.edf\n", "listed twice"),
])
def test_chbmit_summary_errors_name_the_file(tmp_path, broken, message):
  path = tmp_path / "chb06-summary.txt"
  path.write_text(broken)
  with pytest.raises(DataError, match=message) as error:
    ann.parse_chbmit_summary(path)
  assert "chb06-summary.txt" in str(error.value)


# ----------------------------------------------------------------------------- TUSZ


def test_tusz_csv_bi_real_fixtures(fixtures_dir):
  seizure = ann.parse_tusz_csv(fixtures_dir / "tusz" / "aaaaaool_s004_t001.csv_bi")
  assert seizure.events == (Event(733.9656, 818.0202, "seiz"),)
  assert seizure.extent_s == 1831.0
  background = ann.parse_tusz_csv(fixtures_dir / "tusz" / "aaaaahln_s001_t000.csv_bi")
  assert background.events == ()  # bckg is not an event
  assert background.extent_s == 1275.0


def test_tse_bi_real_fixture(fixtures_dir):
  path = fixtures_dir / "tusz" / "00004671_s007_t000.tse_bi"
  lines = [line.split() for line in path.read_text().splitlines()[1:] if line.strip()]
  expected = [Event(float(a), float(b), "seiz") for a, b, label, _ in lines if label == "seiz"]
  parsed = ann.parse_tse(path)
  assert list(parsed.events) == expected and len(expected) == 39
  assert parsed.events[0] == Event(46.2734, 52.0742, "seiz")
  assert parsed.extent_s == float(lines[-1][1]) == 1930.0


def test_tusz_channel_csv_merges_channels_per_type(tmp_path):
  path = tmp_path / "aaaaaool_s004_t001.csv"
  path.write_text(
      "# version = csv_v1.0.0\n# bname = aaaaaool_s004_t001\n# duration = 60.00 secs\n#\n"
      "channel,start_time,stop_time,label,confidence\n"
      "FP1-F7,0.0000,10.0000,bckg,1.0000\n"
      "FP1-F7,10.0000,20.0000,cpsz,1.0000\n"
      "F7-T3,15.0000,30.0000,cpsz,1.0000\n"
      "T3-T5,30.0000,31.0000,cpsz,1.0000\n"   # touches the previous: same event
      "C3-P3,40.0000,45.5000,mysz,1.0000\n"
      "FP1-F7,20.0000,60.0000,bckg,1.0000\n")
  parsed = ann.parse_tusz_csv(path)
  assert parsed.events == (Event(10.0, 31.0, "cpsz"), Event(40.0, 45.5, "mysz"))
  assert parsed.extent_s == 60.0


def test_tusz_csv_errors(tmp_path):
  path = tmp_path / "x.csv"
  path.write_text("channel,start_time,stop_time,label,confidence\nFP1-F7,abc,2,cpsz,1\n")
  with pytest.raises(DataError, match=r"x.csv:2: .*not numbers"):
    ann.parse_tusz_csv(path)
  path.write_text("# only a comment\n")
  with pytest.raises(DataError, match="x.csv: no 'channel"):
    ann.parse_tusz_csv(path)


# ----------------------------------------------------------------------------- neonatal


def test_neonatal_expert_b_real_fixture(fixtures_dir):
  path = fixtures_dir / "neonatal" / "annotations_2017_B.csv"
  masks = ann.parse_neonatal(path)
  assert list(masks) == [str(i) for i in range(1, 80)]
  # Independent reading: NaN marks the seconds after a baby's recording ended.
  grid = np.genfromtxt(path, delimiter=",", skip_header=1)
  for j, baby in enumerate(masks):
    column = grid[:, j][~np.isnan(grid[:, j])]
    np.testing.assert_array_equal(masks[baby], column == 1)
  events = {b: ann.runs_to_events(m, "seizure") for b, m in masks.items()}
  assert sum(map(len, events.values())) == 429
  assert sum(1 for e in events.values() if e) == 45
  assert masks["1"].size == 6993
  assert events["1"][0] == Event(32.0, 49.0, "seizure")


def _perturbed_experts(fixtures_dir: Path) -> dict[str, dict[str, np.ndarray]]:
  """Expert B from the fixture, plus A (B one second later) and C (B without its first event)."""
  b = ann.parse_neonatal(fixtures_dir / "neonatal" / "annotations_2017_B.csv")
  a = {k: np.concatenate([[False], v[:-1]]) for k, v in b.items()}
  c = {k: v.copy() for k, v in b.items()}
  c["1"][32:49] = False
  return {"A": a, "B": b, "C": c}


def test_neonatal_consensus_rules(fixtures_dir):
  experts = _perturbed_experts(fixtures_dir)
  a, b, c = (experts[k] for k in "ABC")
  every = ann.consensus(experts, "all")
  most = ann.consensus(experts, "majority")
  some = ann.consensus(experts, "any")
  for baby in b:
    np.testing.assert_array_equal(every[baby], a[baby] & b[baby] & c[baby])
    np.testing.assert_array_equal(some[baby], a[baby] | b[baby] | c[baby])
    votes = a[baby].astype(int) + b[baby] + c[baby]
    np.testing.assert_array_equal(most[baby], votes >= 2)
  assert ann.runs_to_events(every["1"], "seizure")[0] == Event(96.0, 122.0, "seizure")
  assert ann.runs_to_events(most["1"], "seizure")[0] == Event(33.0, 49.0, "seizure")
  assert ann.runs_to_events(some["1"], "seizure")[0] == Event(32.0, 50.0, "seizure")


def test_neonatal_errors(tmp_path, fixtures_dir):
  path = tmp_path / "annotations_2017_A.csv"
  path.write_text("1,2\n0,1\n,1\n0,0\n")
  with pytest.raises(DataError, match="baby 1: empty cell at second 1"):
    ann.parse_neonatal(path)
  path.write_text("1,2\n0,2\n")
  with pytest.raises(DataError, match=r"annotations_2017_A.csv:2: baby 2: value '2'"):
    ann.parse_neonatal(path)
  experts = _perturbed_experts(fixtures_dir)
  experts["C"]["5"] = experts["C"]["5"][:-1]
  with pytest.raises(DataError, match="baby 5: experts annotated different lengths"):
    ann.consensus(experts, "all")


def test_runs_and_merge():
  mask = np.array([1, 1, 0, 0, 1, 0, 1, 1, 1], dtype=bool)
  assert ann.runs_to_events(mask, "s") == (Event(0, 2, "s"), Event(4, 5, "s"), Event(6, 9, "s"))
  assert ann.runs_to_events(np.zeros(4, bool), "s") == ()
  merged = ann.merge_intervals([Event(5, 8, "x"), Event(0, 2, "x"), Event(1, 3, "x"), Event(2, 4, "y")])
  assert merged == (Event(0, 3, "x"), Event(2, 4, "y"), Event(5, 8, "x"))


# ----------------------------------------------------------------------------- channels


@pytest.mark.parametrize("label, expected", [
    ("EEG FP1-REF", "FP1"), ("EEG Fp1-Ref", "FP1"), ("EEG FP1-LE", "FP1"), ("Fp1", "FP1"),
    ("EEG T7-REF", "T3"), ("EEG P8-LE", "T6"), ("EEG T3-REF", "T3"), ("  EEG  Cz-Ref ", "CZ"),
    ("ECG EKG-REF", "ECG EKG"), ("IBI", "IBI"), ("Fp1-Avg", "FP1"), ("T6-Avg", "T6"), ("EEG 01", "O1"),
    ("EEG Fp1", "FP1"), ("1", "1"),
])
def test_normalise_referential(label, expected):
  assert channels.normalise_referential(label) == expected


def test_channel_lists():
  assert len(channels.CHBMIT_LABELS) == 23 and channels.CHBMIT_LABELS.count("T8-P8") == 2
  names = channels.distinct_names(channels.CHBMIT_LABELS)
  assert len(set(names)) == 23
  assert (names[14], names[22]) == ("T8-P8-0", "T8-P8-1")
  assert len(set(channels.TEN_TWENTY)) == 19


def test_missing_channels_counts_repeats():
  picks = ("FP1-F7", "T8-P8", "T8-P8")
  normalise = channels.normalise_pair
  picks = tuple(map(normalise, picks))
  assert channels.missing_channels(["fp1-f7", "T8-P8 ", "T8-P8", "-", "ECG"], picks, normalise) == []
  assert channels.missing_channels(["FP1-F7", "T8-P8", "VNS"], picks, normalise) == ["T4-T6"]


@pytest.mark.parametrize("label, expected", [
    ("FP1-F7", "FP1-F7"), ("fp1-f7 ", "FP1-F7"), ("F7-T7", "F7-T3"), ("T7-P7", "T3-T5"), ("P8-O2", "T6-O2"),
    ("F8-T8", "F8-T4"), ("EEG Fp1-F3", "FP1-F3"), ("--0", "--0"), ("ECG", "ECG"), ("-", "-"),
])
def test_normalise_pair_uses_old_temporal_names(label, expected):
  assert channels.normalise_pair(label) == expected
