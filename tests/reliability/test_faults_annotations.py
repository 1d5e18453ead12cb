"""Fault corpus, annotation files: CHB-MIT summaries, TUSZ .csv/.csv_bi/.tse, Helsinki expert CSVs, SzCORE events.tsv.

A file that does not parse is one DataError line naming it (and the line,
where there is one), both where detection reads a reference
(`datasets.reference_events`, `events.reference_intervals`) and, for a
summary, in the scan, which lists every recording of the patient as skipped
with that reason. A summary that parses but names files it should not (outside
its folder, absent, unlisted, a seizure past the end) is a listed skip of that
file; the other recordings are kept.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from faults import raises_naming, skip_reason, summary_block, write_chbmit_root, write_recording

from jclip_eeg.data import datasets
from jclip_eeg.errors import DataError
from jclip_eeg.eval import events

_GOOD = {"chb01_01.edf": [(5, 12)], "chb01_02.edf": []}


@pytest.fixture()
def root(tmp_path) -> Path:
  return write_chbmit_root(tmp_path / "root", _GOOD, seconds=20)


def _summary(root: Path) -> Path:
  return root / "chb01" / "chb01-summary.txt"


# (fault, summary text, what the message says): summaries that do not parse.
UNPARSABLE_SUMMARIES = [
    ("seizure before any file", "Seizure Start Time: 5 seconds\n" + summary_block("chb01_01.edf", [(5, 12)]),
     ":1: 'Seizure Start Time: 5 seconds' before any 'File Name:' line"),
    ("start without end", "File Name: chb01_01.edf\nNumber of Seizures in File: 1\nSeizure Start Time: 5\n",
     "1 seizure start times but 0 end times"),
    ("fewer pairs than declared", summary_block("chb01_01.edf", [(5, 12)]).replace("Seizures in File: 1",
                                                                                   "Seizures in File: 2"),
     "'Number of Seizures in File: 2' but 1 start/end pairs follow"),
    ("end before start", summary_block("chb01_01.edf", [(12, 5)]), "interval 12.0-5.0 s is empty or negative"),
    ("end equal to start", summary_block("chb01_01.edf", [(7, 7)]), "interval 7.0-7.0 s is empty or negative"),
    ("a negative time (not a time: the pair is incomplete)",
     summary_block("chb01_01.edf", [(5, 12)]).replace("Start Time: 5 seconds", "Start Time: -5 seconds"),
     "0 seizure start times but 1 end times"),
    ("a time in exponent notation",
     summary_block("chb01_01.edf", [(5, 12)]).replace("End Time: 12 seconds", "End Time: 1.2e1 seconds"),
     "1 seizure start times but 0 end times"),
    ("a file listed twice", summary_block("chb01_01.edf", [(5, 12)]) * 2, "chb01_01.edf listed twice (first at line"),
]


@pytest.mark.parametrize("fault, text, message", UNPARSABLE_SUMMARIES, ids=[f[0] for f in UNPARSABLE_SUMMARIES])
def test_a_summary_that_does_not_parse_skips_its_patient_recording_by_recording(root, fault, text, message):
  summary = _summary(root)
  summary.write_text(text)
  scan = datasets.get("chbmit").scan(root)
  assert scan.recordings == []
  for name in _GOOD:
    reason = skip_reason(scan.skipped, summary.parent / name)
    assert reason.startswith(f"unreadable {summary.name}, patient skipped") and str(summary) in reason and message in reason
  with raises_naming(DataError, summary, message):
    datasets.reference_events(summary, summary.parent / "chb01_01.edf")


def test_a_summary_that_is_a_folder_is_one_line(root):
  summary = _summary(root)
  summary.unlink()
  summary.mkdir()
  with raises_naming(DataError, summary, "not a file"):
    datasets.reference_events(summary, summary.parent / "chb01_01.edf")
  scan = datasets.get("chbmit").scan(root)
  assert "cannot read the annotation file" in skip_reason(scan.skipped, summary.parent / "chb01_01.edf")


def _outside(root: Path) -> str:
  """An EDF outside the patient folder (an absolute path to a real file)."""
  return str(write_recording(root.parent / "elsewhere.edf"))


# (fault, the File Name it lists, what the skip says): names the reader must refuse or cannot use.
BAD_NAMES = [
    ("a parent folder", lambda root: "../chb01_01.edf", "names a file outside"),
    ("two folders up", lambda root: "../../x.edf", "names a file outside"),
    ("/etc/passwd", lambda root: "/etc/passwd", "names a file outside"),
    ("an absolute path to a real EDF", _outside, "names a file outside"),
    ("a subfolder", lambda root: "sub/chb01_03.edf", "names a file outside"),
    ("the folder itself", lambda root: "..", "names a file outside"),
    ("an absent file", lambda root: "chb01_99.edf", "listed in chb01-summary.txt but absent"),
]


@pytest.mark.parametrize("fault, name, message", BAD_NAMES, ids=[f[0] for f in BAD_NAMES])
def test_a_file_name_outside_the_folder_or_absent_is_refused_and_listed(root, fault, name, message):
  summary = _summary(root)
  listed = name(root)
  summary.write_text(summary.read_text() + summary_block(listed, []))
  scan = datasets.get("chbmit").scan(root)
  assert sorted(r.recording_id for r in scan.recordings) == ["chb01_01", "chb01_02"]
  named = [(path, reason) for path, reason in scan.skipped if message in reason]
  assert len(named) == 1, scan.skipped
  if "outside" in message:
    assert named[0][0] == str(summary) and listed in named[0][1]
  assert all(r.source.parent == summary.parent for r in scan.recordings)


def test_a_seizure_past_the_end_and_an_unlisted_file_are_listed_skips(root):
  summary = _summary(root)
  summary.write_text(summary.read_text().replace("Seizure 1 End Time: 12 seconds", "Seizure 1 End Time: 40 seconds"))
  write_recording(summary.parent / "chb01_03.edf")
  scan = datasets.get("chbmit").scan(root)
  assert [r.recording_id for r in scan.recordings] == ["chb01_02"]
  assert "event 'seizure' 5-40 s extends beyond the end of the recording (20 s)" in skip_reason(
      scan.skipped, summary.parent / "chb01_01.edf")
  assert "not listed in chb01-summary.txt, so its seizures are unknown" in skip_reason(
      scan.skipped, summary.parent / "chb01_03.edf")


def test_a_garbage_summary_lists_every_recording_as_unlisted(root):
  _summary(root).write_bytes(bytes(range(256)) * 8)
  scan = datasets.get("chbmit").scan(root)
  assert scan.recordings == []
  assert all("not listed in chb01-summary.txt" in reason for _, reason in scan.skipped) and len(scan.skipped) == 2


# ----------------------------------------------------------------------------- references for detection


def _write(path: Path, text: str | bytes) -> Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
  return path


_TUSZ_HEADER = "# version = csv_v1.0.0\n# duration = 30.00 secs\nchannel,start_time,stop_time,label,confidence\n"

# (fault, annotation file name, its content, the EDF it is read for, what the message says).
REFERENCE_FAULTS = [
    ("unknown kind of file", "notes.txt", "seizure at 10 s", "rec.edf", "not an annotation file of a known dataset"),
    ("summary not listing the EDF", "chb01-summary.txt", summary_block("chb01_01.edf", []), "chb01_07.edf",
     "does not list chb01_07.edf"),
    ("TUSZ csv without its header", "rec.csv", "FP1-F7,1.0,5.0,gnsz,1.0\n", "rec.edf",
     "rec.csv:1: header ['fp1-f7', '1.0', '5.0', 'gnsz', '1.0'] lacks one of"),
    ("TUSZ csv of comments only", "rec.csv", "# duration = 30.00 secs\n", "rec.edf",
     "no 'channel,start_time,stop_time,label,confidence' header"),
    ("TUSZ csv lacking a column", "rec.csv", "# duration = 30.00 secs\nchannel,start_time,stop_time,confidence\n"
     "FP1-F7,1.0,5.0,1.0\n", "rec.edf", "lacks one of ['channel', 'start_time', 'stop_time', 'label']"),
    ("TUSZ csv row of three fields", "rec.csv", _TUSZ_HEADER + "FP1-F7,1.0,gnsz\n", "rec.edf",
     ":4: 3 fields, the header has 5"),
    ("TUSZ csv start not a number", "rec.csv", _TUSZ_HEADER + "FP1-F7,one,5.0,gnsz,1.0\n", "rec.edf",
     ":4: start/stop 'one', '5.0' are not numbers"),
    ("TUSZ csv stop before start", "rec.csv_bi", _TUSZ_HEADER + "TERM,9.0,5.0,seiz,1.0\n", "rec.edf",
     "line 4: interval 9.0-5.0 s is empty or negative"),
    ("TUSZ csv negative start", "rec.csv", _TUSZ_HEADER + "FP1-F7,-3,5.0,gnsz,1.0\n", "rec.edf",
     "interval -3.0-5.0 s is empty or negative"),
    ("TUSZ tse with no events", "rec.tse", "version = tse_v1.0.0\n\n", "rec.edf",
     "no 'start stop label confidence' lines"),
    ("TUSZ tse line of two fields", "rec.tse_bi", "version = tse_v1.0.0\n0.0 seiz\n", "rec.edf",
     ":2: expected start, stop and label"),
    ("TUSZ tse stop not a number", "rec.tse", "version = tse_v1.0.0\n0.0 end bckg 1.0\n", "rec.edf",
     ":2: start/stop '0.0', 'end' are not numbers"),
    ("Helsinki CSV with an unnamed column", "annotations_2017_A.csv", "1,,3\n0,0,0\n", "eeg1.edf",
     "first row must name every baby"),
    ("Helsinki CSV value 2", "annotations_2017_A.csv", "1,2\n0,0\n2,0\n", "eeg1.edf",
     ":3: baby 1: value '2', expected 0 or 1"),
    ("Helsinki CSV row too long", "annotations_2017_B.csv", "1,2\n0,0,1\n", "eeg2.edf", ":2: 3 cells, header has 2"),
    ("Helsinki CSV gap then values", "annotations_2017_C.csv", "1,2\n0,0\n,0\n1,0\n", "eeg1.edf",
     "baby 1: empty cell at second 1 followed by values"),
    ("Helsinki CSV of binary bytes", "annotations_2017_A.csv", bytes(range(1, 256)), "eeg1.edf",
     "expected 0 or 1"),
    ("Helsinki recording not named eegN", "annotations_2017_A.csv", "1,2\n0,0\n", "baby1.edf",
     "expected a Helsinki recording named eegN.edf"),
    ("Helsinki baby without a column", "annotations_2017_A.csv", "1,2\n0,0\n", "eeg9.edf", "no column for baby 9"),
    ("events.tsv lacking columns", "ref.tsv", "onset\tduration\n1\t2\n", "rec.edf", "missing column(s)"),
    ("events.tsv onset not a number", "ref.tsv", "\t".join(events.COLUMNS) + "\nsoon\t2\tsz\t1\tn/a\tn/a\t30\n",
     "rec.edf", "line 2: column 'onset' holds 'soon', expected a number"),
    ("events.tsv duration nan", "ref.tsv", "\t".join(events.COLUMNS) + "\n1\tnan\tsz\t1\tn/a\tn/a\t30\n", "rec.edf",
     "column 'duration' holds 'nan'"),
    ("events.tsv without rows", "ref.tsv", "\t".join(events.COLUMNS) + "\n", "rec.edf", "has no rows"),
    ("events.tsv of binary bytes", "ref.tsv", bytes(range(1, 256)), "rec.edf", "not an SzCORE events.tsv"),
]


@pytest.mark.parametrize("fault, name, text, edf_name, message", REFERENCE_FAULTS, ids=[f[0] for f in REFERENCE_FAULTS])
def test_a_reference_annotation_that_does_not_parse_is_one_line_naming_it(tmp_path, fault, name, text, edf_name,
                                                                          message):
  annotation = _write(tmp_path / name, text)
  with raises_naming(DataError, message):
    events.reference_intervals(annotation, tmp_path / edf_name)


@pytest.mark.parametrize("name", ["chb01-summary.txt", "rec.csv", "annotations_2017_A.csv", "ref.tsv"])
def test_a_missing_reference_file_is_named(tmp_path, name):
  with raises_naming(DataError, tmp_path / name, "not found"):
    events.reference_intervals(tmp_path / name, tmp_path / "eeg1.edf")
