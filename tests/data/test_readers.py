"""The dataset readers on tiny trees in each dataset's real layout (EDFs written with write_edf)."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from reader_helpers import by_id, skip_reason

from jclip_eeg.data import annotations as ann
from jclip_eeg.data import datasets, synthetic
from jclip_eeg.data.channels import CHBMIT_LABELS, TEN_TWENTY
from jclip_eeg.data.edf import write_edf
from jclip_eeg.data.types import Event
from jclip_eeg.errors import ConfigError, DataError


def _edf(path: Path, labels: Sequence[str], seconds: int, sfreq: float = 256.0, *,
         rates: Sequence[float] | None = None, annotations=()) -> Path:
  """Writes an EDF whose channel i is the constant 10 * (i + 1) µV plus small noise.

  The constant identifies the stored position of each channel after picking.
  """
  rates = list(rates) if rates is not None else [sfreq] * len(labels)
  rng = np.random.default_rng(0)
  signals = [10.0 * (i + 1) + rng.normal(0, 0.1, int(seconds * r)) for i, r in enumerate(rates)]
  path.parent.mkdir(parents=True, exist_ok=True)
  return write_edf(path, signals, rates, labels, annotations=annotations)


def _stored_positions(data: np.ndarray) -> list[int]:
  """Stored channel index of each picked row (inverse of `_edf`'s constants)."""
  return [int(round(v / 10.0)) - 1 for v in data.mean(axis=1)]


# ----------------------------------------------------------------------------- registry


def test_registry_names_and_options():
  assert datasets.get("synthetic").spec.name == "synthetic"
  assert datasets.get("chbmit").spec.name == "chbmit"
  with pytest.raises(ConfigError, match="known datasets: chbmit, tusz, neonatal, aubmc, siena, bids, synthetic"):
    datasets.get("nope")
  with pytest.raises(ConfigError,
                     match=r"unknown option\(s\) \['consensus'\]; options are \['classes', 'montage', 'splits'\]"):
    datasets.get("tusz", consensus="all")
  with pytest.raises(ConfigError, match="unknown option"):
    datasets.get("synthetic", name="chbmit")
  with pytest.raises(ConfigError, match="tusz.classes"):
    datasets.get("tusz", classes="multi")
  with pytest.raises(ConfigError, match="tusz.splits"):
    datasets.get("tusz", splits=("train", "test"))
  with pytest.raises(ConfigError, match="neonatal.consensus"):
    datasets.get("neonatal", consensus="D")


def test_specs():
  chbmit = datasets.get("chbmit").spec
  assert chbmit.class_names == ("normal", "seizure")
  assert len(chbmit.channel_names) == 23 and len(set(chbmit.channel_names)) == 23
  assert (chbmit.sfreq, chbmit.seizure_overlap) == (256.0, 0.5)
  tusz = datasets.get("tusz").spec
  assert tusz.class_names == ("bckg", "fnsz", "gnsz", "spsz", "cpsz", "absz", "tnsz", "tcsz")
  assert datasets.get("tusz", classes="binary").spec.class_names == ("bckg", "seiz")
  assert (len(tusz.channel_names), tusz.sfreq, tusz.seizure_overlap) == (19, 256.0, 0.75)
  neonatal = datasets.get("neonatal").spec
  assert (len(neonatal.channel_names), neonatal.sfreq, neonatal.seizure_overlap) == (19, 256.0, 0.5)
  aubmc = datasets.get("aubmc").spec
  assert aubmc.class_names == ("normal", "complex_partial", "electrographic", "video_only")
  assert (len(aubmc.channel_names), aubmc.sfreq, aubmc.seizure_overlap) == (19, 500.0, 0.75)


@pytest.mark.parametrize("name, expected", [
    ("chbmit", "chbNN-summary.txt"), ("tusz", "train/dev/eval"), ("neonatal", "eegN.edf"),
    ("aubmc", "found no class folders"),
])
def test_empty_and_missing_root(tmp_path, name, expected):
  reader = datasets.get(name)
  with pytest.raises(DataError, match="no such directory"):
    reader.scan(tmp_path / "absent")
  (tmp_path / "notes.txt").write_text("hello")
  with pytest.raises(DataError, match=expected) as error:
    reader.scan(tmp_path)
  assert "notes.txt" in str(error.value)  # says what it found


# ----------------------------------------------------------------------------- CHB-MIT


def _summary_block(name: str, seizures: Sequence[tuple[int, int]], numbered: bool) -> str:
  lines = [f"File Name: {name}", "File Start Time: 10:00:00", "File End Time: 10:00:30",
           f"Number of Seizures in File: {len(seizures)}"]
  for k, (start, end) in enumerate(seizures, start=1):
    tag = f"Seizure {k}" if numbered else "Seizure"
    lines += [f"{tag} Start Time: {start} seconds", f"{tag} End Time: {end} seconds"]
  return "\n".join(lines) + "\n\n"


@pytest.fixture()
def chbmit_root(tmp_path) -> Path:
  """chb01: plain montage, old seizure lines; chb02: changed montage with dummies, numbered lines."""
  root = tmp_path / "chbmit"
  _edf(root / "chb01" / "chb01_01.edf", CHBMIT_LABELS, 30)
  _edf(root / "chb01" / "chb01_03.edf", CHBMIT_LABELS, 30)
  _edf(root / "chb01" / "chb01_04.edf", CHBMIT_LABELS, 30)   # not in the summary
  (root / "chb01" / "chb01-summary.txt").write_text(
      "Data Sampling Rate: 256 Hz\n\n"
      + _summary_block("chb01_01.edf", [], False)
      + _summary_block("chb01_03.edf", [(12, 20)], False)
      + _summary_block("chb01_05.edf", [], False))           # absent on disk
  changed = ["--0", "ECG"] + list(reversed(CHBMIT_LABELS)) + ["VNS", "-"]
  _edf(root / "chb02" / "chb02_16+.edf", changed, 30)
  _edf(root / "chb02" / "chb02_17.edf", CHBMIT_LABELS[:-1], 30)  # lacks the second T8-P8
  _edf(root / "chb02" / "chb02_18.edf", CHBMIT_LABELS, 20)        # seizure beyond its end
  (root / "chb02" / "chb02-summary.txt").write_text(
      _summary_block("chb02_16+.edf", [(2, 5), (21, 29)], True)
      + "Channels changed:\nChannel 1: --0\n\n"
      + _summary_block("chb02_17.edf", [], True)
      + _summary_block("chb02_18.edf", [(15, 25)], True))
  return root


def test_chbmit_scan(chbmit_root):
  result = datasets.get("chbmit").scan(chbmit_root)
  recordings = by_id(result)
  assert sorted(recordings) == ["chb01_01", "chb01_03", "chb02_16+"]
  assert recordings["chb01_03"].events == (Event(12.0, 20.0, "seizure"),)
  assert recordings["chb01_01"].events == ()
  assert recordings["chb02_16+"].events == (Event(2.0, 5.0, "seizure"), Event(21.0, 29.0, "seizure"))
  assert {r.patient for r in result.recordings} == {"chb01", "chb02"}
  assert "absent" in skip_reason(result, "chb01_05.edf")
  assert "not listed in chb01-summary.txt" in skip_reason(result, "chb01_04.edf")
  assert "missing channel(s) ['T8-P8-1']" in skip_reason(result, "chb02_17.edf")
  assert "beyond the end" in skip_reason(result, "chb02_18.edf")


def test_chbmit_load_picks_by_name_across_montage_change(chbmit_root):
  spec = datasets.get("chbmit").spec
  recordings = by_id(datasets.get("chbmit").scan(chbmit_root))
  plain = recordings["chb01_03"].load()
  assert plain.data.shape == (23, 30 * 256) and plain.data.dtype == np.float32
  assert plain.sfreq == 256.0 and plain.channel_names == spec.channel_names
  assert _stored_positions(plain.data) == list(range(23))  # both T8-P8 copies, in order
  changed = recordings["chb02_16+"].load()
  # Stored as [--0, ECG, reversed 23, VNS, -]: label i of the list sits at 2 + (22 - i).
  # The reversed list puts the second T8-P8 first, so the repeats swap places.
  expected = [2 + 22 - i for i in range(23)]
  expected[14], expected[22] = expected[22], expected[14]
  assert _stored_positions(changed.data) == expected


def test_chbmit_recording_pickles_and_rechecks_at_load(chbmit_root):
  recordings = by_id(datasets.get("chbmit").scan(chbmit_root))
  recording = pickle.loads(pickle.dumps(recordings["chb01_03"]))
  assert recording.load().data.shape == (23, 30 * 256)
  # The file changes after the scan: shorter than its seizure, then lacking a channel.
  _edf(recording.source, CHBMIT_LABELS, 15)
  with pytest.raises(DataError, match=r"chb01_03.edf: event 'seizure' 12-20 s extends beyond the "
                                      r"end of the recording \(15 s\)"):
    recording.load()
  _edf(recording.source, CHBMIT_LABELS[1:], 30)
  with pytest.raises(DataError, match=r"chb01_03.edf: missing channel\(s\) \['FP1-F7'\]"):
    recording.load()


def test_chbmit_single_patient_folder(chbmit_root):
  result = datasets.get("chbmit").scan(chbmit_root / "chb01")
  assert sorted(by_id(result)) == ["chb01_01", "chb01_03"]


def test_synthetic_generated_tree(tmp_path):
  manifest = synthetic.generate(tmp_path, n_patients=2, recordings_per_patient=2, duration_s=40,
                                seizures_per_recording=(1, 1), seizure_duration_s=(8, 10))
  result = datasets.get("synthetic").scan(tmp_path)
  assert result.skipped == []
  recordings = by_id(result)
  assert sorted(recordings) == sorted(r.recording_id for r in manifest.recordings)
  for written in manifest.recordings:
    recording = recordings[written.recording_id]
    assert recording.patient == written.patient
    assert [(e.start_s, e.end_s) for e in recording.events] == list(written.seizures)
  # chb02 stores a dummy `-` channel; the two T8-P8 copies are the same signal.
  written = next(r for r in manifest.recordings if "-" in r.labels)
  signals = recordings[written.recording_id].load()
  assert signals.data.shape == (23, 40 * 256)
  np.testing.assert_allclose(signals.data[22], signals.data[14], atol=0.1)
  assert not np.allclose(signals.data[21], signals.data[14], atol=0.1)


# ----------------------------------------------------------------------------- TUSZ

_TUSZ_AR = [f"EEG {c}-REF" for c in TEN_TWENTY] + ["EEG A1-REF", "EEG EKG1-REF"]
# Linked-ears montage written with the new temporal names (T7/T8/P7/P8).
_NEW_NAMES = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}
_TUSZ_LE = ["EEG " + _NEW_NAMES.get(c, c).capitalize() + "-LE" for c in reversed(TEN_TWENTY)]
_CSV_HEADER = ("# version = csv_v1.0.0\n# bname = {stem}\n# duration = {duration:.2f} secs\n#\n"
               "channel,start_time,stop_time,label,confidence\n")


def _tusz_file(folder: Path, stem: str, labels, seconds: int, channel_rows=None, term_rows=None,
               **edf_options) -> None:
  _edf(folder / f"{stem}.edf", labels, seconds, **edf_options)
  head = _CSV_HEADER.format(stem=stem, duration=seconds)
  if channel_rows is not None:
    (folder / f"{stem}.csv").write_text(head + "".join(f"{r},1.0000\n" for r in channel_rows))
  if term_rows is not None:
    (folder / f"{stem}.csv_bi").write_text(head + "".join(f"TERM,{r},1.0000\n" for r in term_rows))


@pytest.fixture()
def tusz_root(tmp_path) -> Path:
  root = tmp_path / "tuh_eeg_seizure" / "v2.0.3"
  ar = root / "edf" / "train" / "aaaaaool" / "s004_2012" / "01_tcp_ar"
  # 250 Hz EEG plus a 1 Hz channel: mixed rates in one file, as in TUSZ.
  _tusz_file(ar, "aaaaaool_s004_t001", _TUSZ_AR + ["IBI"], 40,
             channel_rows=["FP1-F7,0.0,10.0,bckg", "FP1-F7,10.0,20.0,cpsz", "F7-T3,15.0,25.5,cpsz",
                           "C3-P3,30.0,35.0,mysz"],
             term_rows=["0.0,10.0,bckg", "10.0,25.5,seiz", "25.5,30.0,bckg", "30.0,35.0,seiz"],
             rates=[250.0] * len(_TUSZ_AR) + [1.0])
  le = root / "edf" / "dev" / "aaaaahln" / "s001_2010" / "02_tcp_le"
  _tusz_file(le, "aaaaahln_s001_t000", _TUSZ_LE, 20, term_rows=["0.0,20.0,bckg"], sfreq=256.0)
  ev = root / "edf" / "eval" / "aaaaaxyz" / "s002_2015" / "01_tcp_ar"
  _tusz_file(ev, "aaaaaxyz_s002_t000", _TUSZ_AR, 20, channel_rows=["FP1-F7,5.0,25.0,gnsz"],
             term_rows=["5.0,25.0,seiz"])  # annotated beyond the end of a 20-s file
  _edf(ev / "aaaaaxyz_s002_t001.edf", _TUSZ_AR, 20)  # no annotation at all
  return root


def test_tusz_types(tusz_root):
  result = datasets.get("tusz").scan(tusz_root)
  recordings = by_id(result)
  assert sorted(recordings) == ["aaaaaool_s004_t001"]
  recording = recordings["aaaaaool_s004_t001"]
  assert recording.patient == "aaaaaool"
  # Per-channel rows merged per type; mysz (not a class) kept with its raw label.
  assert recording.events == (Event(10.0, 25.5, "cpsz"), Event(30.0, 35.0, "mysz"))
  assert "aaaaahln_s001_t000.csv" in skip_reason(result, "aaaaahln_s001_t000.edf")
  assert "beyond the end" in skip_reason(result, "aaaaaxyz_s002_t000.edf")
  assert "no aaaaaxyz_s002_t001.csv or aaaaaxyz_s002_t001.tse" in skip_reason(
      result, "aaaaaxyz_s002_t001.edf")
  signals = recording.load()
  assert signals.data.shape == (19, 40 * 250) and signals.sfreq == 250.0
  assert _stored_positions(signals.data) == list(range(19))
  assert signals.channel_names == TEN_TWENTY


def test_tusz_binary_splits_and_aliases(tusz_root):
  result = datasets.get("tusz", classes="binary", splits=["train", "dev"]).scan(tusz_root / "edf")
  recordings = by_id(result)
  assert sorted(recordings) == ["aaaaahln_s001_t000", "aaaaaool_s004_t001"]
  assert recordings["aaaaaool_s004_t001"].events == (Event(10.0, 25.5, "seiz"), Event(30.0, 35.0, "seiz"))
  assert recordings["aaaaahln_s001_t000"].events == ()
  assert not any("aaaaaxyz" in path for path, _ in result.skipped)  # eval not read
  # LE file stores the 19 channels reversed with new names (P8 ... T7 ...): picked back in order.
  signals = recordings["aaaaahln_s001_t000"].load()
  assert _stored_positions(signals.data) == [18 - i for i in range(19)]


def test_tusz_legacy_tse(tmp_path, fixtures_dir):
  folder = tmp_path / "edf" / "train" / "00004671" / "s007_2012" / "01_tcp_ar"
  _edf(folder / "00004671_s007_t000.edf", _TUSZ_AR, 1930, sfreq=1.0)
  (folder / "00004671_s007_t000.tse_bi").write_bytes(
      (fixtures_dir / "tusz" / "00004671_s007_t000.tse_bi").read_bytes())
  recording, = datasets.get("tusz", classes="binary").scan(tmp_path).recordings
  assert recording.patient == "00004671" and len(recording.events) == 39


# ----------------------------------------------------------------------------- neonatal

_NEONATAL = [f"EEG {c.capitalize()}-Ref" for c in TEN_TWENTY] + ["ECG EKG-REF", "Resp Effort-REF"]


def _write_expert(path: Path, masks: dict[str, np.ndarray], ids: Sequence[str]) -> None:
  """An annotation file in the real format: all 79 ids, empty cells after a recording ends."""
  length = max(m.size for m in masks.values())
  rows = [",".join(ids)]
  for t in range(length):
    rows.append(",".join(str(int(masks[i][t])) if i in masks and t < masks[i].size else ""
                         for i in ids))
  path.write_text("\n".join(rows) + "\n")


@pytest.fixture()
def neonatal_root(tmp_path, fixtures_dir) -> Path:
  """Babies 1 and 2 cut to 130 s from expert B; A = B one second later; C = B without its first event."""
  b_full = ann.parse_neonatal(fixtures_dir / "neonatal" / "annotations_2017_B.csv")
  ids = list(b_full)
  b = {"1": b_full["1"][:130], "2": b_full["2"][:130], "3": b_full["3"][:130]}
  a = {k: np.concatenate([[False], v[:-1]]) for k, v in b.items()}
  c = {k: v.copy() for k, v in b.items()}
  c["1"][32:49] = False
  root = tmp_path / "zenodo"
  root.mkdir()
  for name, masks in (("A", a), ("B", b), ("C", c)):
    _write_expert(root / f"annotations_2017_{name}.csv", masks, ids)
  _edf(root / "eeg1.edf", _NEONATAL, 130)
  _edf(root / "eeg2.edf", _NEONATAL, 100)   # shorter than its 130-s annotation
  _edf(root / "eeg80.edf", _NEONATAL, 10)   # no such baby in the annotations
  return root


def test_neonatal_consensus_options(neonatal_root):
  events = {}
  for rule in ("all", "majority", "any", "A", "B", "C"):
    result = datasets.get("neonatal", consensus=rule).scan(neonatal_root)
    recording, = result.recordings
    assert (recording.recording_id, recording.patient) == ("eeg1", "1")
    events[rule] = recording.events
  assert events["B"][:2] == (Event(32.0, 49.0, "seizure"), Event(95.0, 122.0, "seizure"))
  assert events["A"][0] == Event(33.0, 50.0, "seizure")
  assert events["C"][0] == Event(95.0, 122.0, "seizure")
  assert events["all"][0] == Event(96.0, 122.0, "seizure")
  assert events["majority"][0] == Event(33.0, 49.0, "seizure")
  assert events["any"][0] == Event(32.0, 50.0, "seizure")


def test_neonatal_skips_and_load(neonatal_root):
  result = datasets.get("neonatal").scan(neonatal_root)
  assert "the annotation covers 130 s, beyond the end of the recording (100 s)" in skip_reason(
      result, "eeg2.edf")
  assert "baby 80 has no column" in skip_reason(result, "eeg80.edf")
  assert "annotated but absent" in skip_reason(result, "eeg3.edf")
  recording, = result.recordings
  signals = pickle.loads(pickle.dumps(recording)).load()
  assert signals.data.shape == (19, 130 * 256)
  assert _stored_positions(signals.data) == list(range(19))
  _edf(recording.source, _NEONATAL, 125)  # now shorter than its annotation
  with pytest.raises(DataError, match=r"eeg1.edf: the annotation covers 130 s, beyond the end"):
    recording.load()
  _edf(recording.source, _NEONATAL, 120)  # and than its last event
  with pytest.raises(DataError, match=r"eeg1.edf: event 'seizure' 96-122 s extends beyond"):
    recording.load()


def test_neonatal_missing_expert(neonatal_root):
  (neonatal_root / "annotations_2017_A.csv").unlink()
  with pytest.raises(DataError, match=r"consensus='all' needs annotations_2017_A.csv: not found.*\['B', 'C'\]"):
    datasets.get("neonatal").scan(neonatal_root)
  assert len(datasets.get("neonatal", consensus="C").scan(neonatal_root).recordings) == 1


# ----------------------------------------------------------------------------- AUBMC


def _segment(rng, transpose: bool = False) -> np.ndarray:
  data = rng.normal(size=(19, 500)) + np.arange(19)[:, None] * 10.0
  return data.T if transpose else data


@pytest.fixture()
def aubmc_segments(tmp_path) -> Path:
  root = tmp_path / "AUBMC"
  rng = np.random.default_rng(1)
  folders = {"Normal": "normal", "Complex Partial Seizures": "complex_partial",
             "electrographic_seizures": "electrographic",
             "Video-detected seizures with no EEG change": "video_only"}
  for folder in folders:
    (root / "Segments" / folder).mkdir(parents=True)
  np.savetxt(root / "Segments" / "Normal" / "P1_seg001.csv", _segment(rng), delimiter=",")
  np.savetxt(root / "Segments" / "Normal" / "patient2_seg001.txt", _segment(rng, True))
  np.save(root / "Segments" / "Complex Partial Seizures" / "P1_seg002.npy", _segment(rng, True))
  scipy.io.savemat(root / "Segments" / "electrographic_seizures" / "Pat_3_seg7.mat",
                   {"segment": _segment(rng)})
  broken = _segment(rng)
  broken[4, 100] = np.nan
  np.save(root / "Segments" / "Video-detected seizures with no EEG change" / "P6_s1.npy", broken)
  (root / "Segments" / "README.md").write_text("segments")
  return root


def test_aubmc_segments(aubmc_segments):
  result = datasets.get("aubmc").scan(aubmc_segments)
  recordings = by_id(result)
  assert sorted(recordings) == [
      "Segments_Complex_Partial_Seizures_P1_seg002", "Segments_Normal_P1_seg001",
      "Segments_Normal_patient2_seg001", "Segments_Video-detected_seizures_with_no_EEG_change_P6_s1",
      "Segments_electrographic_seizures_Pat_3_seg7"]
  labels = {r.recording_id.split("_")[1]: [e.label for e in r.events] for r in result.recordings}
  assert labels == {"Normal": [], "Complex": ["complex_partial"], "electrographic": ["electrographic"],
                    "Video-detected": ["video_only"]}
  assert all(r.is_segment for r in result.recordings)
  assert {r.patient for r in result.recordings} == {"P1", "P2", "P3", "P6"}
  assert recordings["Segments_Complex_Partial_Seizures_P1_seg002"].events == (
      Event(0.0, 1.0, "complex_partial"),)
  broken = "Segments_Video-detected_seizures_with_no_EEG_change_P6_s1"
  for recording_id in set(recordings) - {broken}:
    signals = pickle.loads(pickle.dumps(recordings[recording_id])).load()
    assert signals.data.shape == (19, 500) and signals.sfreq == 500.0
    np.testing.assert_allclose(signals.data.mean(axis=1), np.arange(19) * 10.0, atol=0.5)
  with pytest.raises(DataError, match=r"P6_s1.npy: segment holds NaN"):
    recordings[broken].load()


def test_aubmc_bad_segment_shape(tmp_path):
  (tmp_path / "CPS").mkdir()
  np.save(tmp_path / "CPS" / "P1_a.npy", np.zeros((19, 256)))
  recording, = datasets.get("aubmc").scan(tmp_path).recordings
  with pytest.raises(DataError, match=r"P1_a.npy: segment of shape \(19, 256\); expected \(19, 500\)"):
    recording.load()


def test_aubmc_edf_layout(tmp_path, aubmc_segments):
  labels = [f"EEG {c.capitalize()}-REF" for c in reversed(TEN_TWENTY)] + ["ECG"]
  raw = aubmc_segments / "Raw_EDF_Files"
  _edf(raw / "Patient3_session1.edf", labels, 40, 500.0, annotations=[
      (2.0, -1.0, "Recording start"), (5.0, 10.0, "Complex partial seizure"),
      (20.0, 4.0, "Electrographic seizure"), (30.0, 5.0, "seizure type unclear")])
  _edf(raw / "P4_s2.edf", labels, 10, 500.0)  # no annotations
  # Segments win in "auto"; the EDFs are listed as ignored.
  auto = datasets.get("aubmc").scan(aubmc_segments)
  assert all(r.is_segment for r in auto.recordings)
  assert "segment files were found" in skip_reason(auto, "P4_s2.edf")
  result = datasets.get("aubmc", layout="edf").scan(aubmc_segments)
  recording, = result.recordings
  assert (recording.recording_id, recording.patient) == ("Raw_EDF_Files_Patient3_session1", "P3")
  assert recording.events == (Event(5.0, 15.0, "complex_partial"), Event(20.0, 24.0, "electrographic"),
                              Event(30.0, 35.0, "seizure type unclear"))
  assert "no annotation names a class" in skip_reason(result, "P4_s2.edf")
  signals = recording.load()
  assert signals.data.shape == (19, 40 * 500)
  assert _stored_positions(signals.data) == [18 - i for i in range(19)]
  # Only EDFs in the tree: "auto" reads them.
  edf_only = tmp_path / "edf_only"
  raw.rename(edf_only)
  assert len(datasets.get("aubmc").scan(edf_only).recordings) == 1


def test_aubmc_found_nothing_lists_contents(tmp_path):
  (tmp_path / "docs").mkdir()
  (tmp_path / "docs" / "a.json").write_text("{}")
  (tmp_path / "Seizure").mkdir()   # names no class: ambiguous
  np.save(tmp_path / "Seizure" / "x.npy", np.zeros((19, 500)))
  with pytest.raises(DataError) as error:
    datasets.get("aubmc").scan(tmp_path)
  message = str(error.value)
  assert "found no class folders of segment files nor EDF files" in message
  assert "[Seizure/, docs/]" in message and ".json x1" in message and ".npy x1" in message
