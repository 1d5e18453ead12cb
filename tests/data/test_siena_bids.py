"""The Siena and BIDS readers on real-format files: the real Siena seizure list, Siena-like EDFs, and BIDS
folders written by hand in epilepsy2bids's layout and by epilepsy2bids itself (from those Siena files and from
our synthetic CHB-MIT-layout data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reader_helpers import (SIENA_LABELS, by_id, epilepsy2bids_chbmit, epilepsy2bids_siena, siena_signals,
                            skip_reason, write_siena)

from jclip_eeg.data import datasets, montages, synthetic
from jclip_eeg.data.annotations import parse_siena_list, parse_szcore_tsv, siena_edf_name
from jclip_eeg.data.channels import BANANA18, ELECTRODES_10_20, TEN_TWENTY
from jclip_eeg.data.edf import write_edf
from jclip_eeg.data.prepare import prepare_store
from jclip_eeg.data.types import Event
from jclip_eeg.errors import DataError


@pytest.fixture(scope="module")
def siena_list(fixtures_dir) -> Path:
  return fixtures_dir / "siena" / "Seizures-list-PN00.txt"


@pytest.fixture(scope="module")
def siena_root(tmp_path_factory, siena_list) -> Path:
  """PN00-1 (1250 s: its seizure is at 1143-1213 s) and PN00-3 (900 s) of the fixture's list; the rest absent."""
  return write_siena(tmp_path_factory.mktemp("siena"), siena_list, {"PN00-1.edf": 1250, "PN00-3.edf": 900})


# ----------------------------------------------------------------------------- Siena seizure lists


def test_the_real_siena_list_gives_clock_times_per_file(siena_list):
  listed = parse_siena_list(siena_list)
  assert list(listed) == [f"PN00-{n}.edf" for n in range(1, 6)]
  first = listed["PN00-1.edf"]
  assert (first.registration_start_s, first.registration_end_s) == (19 * 3600 + 39 * 60 + 33, 20 * 3600 + 22 * 60 + 58)
  assert first.events(None) == (Event(1143.0, 1213.0, "seizure"),)  # 19.58.36-19.59.46 after 19.39.33
  # The list's typo (end 19.29.29: an hour-long seizure past the recording's end) is corrected to 18.29.29.
  assert listed["PN00-3.edf"].events(None) == (Event(765.0, 825.0, "seizure"),)
  assert listed["PN00-2.edf"].events(None) == (Event(1220.0, 1274.0, "seizure"),)


def test_siena_list_variants_and_midnight(tmp_path):
  path = tmp_path / "Seizures-list-PN12.txt"
  path.write_text("PN12\nChannel 5: 1\n\nSeizure n 1\nFile name: PN12-1.edf\nRegistration start time: 23.50.00\n"
                  "Registration end time: 00.30.00\nStart time: 00:05:00\nEnd time: 00:06:10\n\n"
                  "Seizure n 2\nFile name: PN12-1.edf\nSeizure start time: 23.55.00\nSeizure end time: 23.56.00\n\n"
                  "File name: PNO6-2.edf\nRegistration start time: 10.00.00\nSeizure start time: 10.00.30\n"
                  "Seizure end time: 10.01.00\n")
  listed = parse_siena_list(path)
  assert sorted(listed) == ["PN06-2.edf", "PN12-1.edf"]
  # After midnight is the next day; the second block of a file keeps its registration start.
  assert listed["PN12-1.edf"].events(23 * 3600 + 50 * 60) == (Event(900.0, 970.0, "seizure"),
                                                             Event(300.0, 360.0, "seizure"))
  assert listed["PN12-1.edf"].events(23 * 3600 + 49 * 60) == (Event(960.0, 1030.0, "seizure"),
                                                             Event(360.0, 420.0, "seizure"))
  assert [siena_edf_name(n) for n in ("PN01.edf", "PN11-.edf", "PNO6-1.edf", "PN10-7.8.9.edf")] == [
      "PN01-1.edf", "PN11-1.edf", "PN06-1.edf", "PN10-7.8.9.edf"]


@pytest.mark.parametrize("text, message", [
    ("File name: PN12-1.edf\nSeizure end time: 10.00.00\n", r"PN12.txt:2: a seizure end time without a start time"),
    ("File name: PN12-1.edf\nSeizure start time: 10.00.00\n", r"PN12.txt:2: a seizure start time without an end"),
    ("File name: PN12-1.edf\nSeizure start time: 10.0x.00\n", r"PN12.txt:2: time '10.0x.00'; expected hh.mm.ss"),
    ("Seizure start time: 10.00.00\n", r"PN12.txt:1: .* before any 'File name:' line"),
])
def test_siena_list_errors_name_file_and_line(tmp_path, text, message):
  path = tmp_path / "Seizures-list-PN12.txt"
  path.write_text(text)
  with pytest.raises(DataError, match=message):
    parse_siena_list(path)


# ----------------------------------------------------------------------------- Siena reader


def test_siena_scan_and_load(siena_root):
  result = datasets.get("siena").scan(siena_root)
  recordings = by_id(result)
  assert sorted(recordings) == ["PN00-1", "PN00-3"]
  assert recordings["PN00-1"].events == (Event(1143.0, 1213.0, "seizure"),)
  assert recordings["PN00-3"].events == (Event(765.0, 825.0, "seizure"),)
  assert {r.patient for r in result.recordings} == {"PN00"}
  assert "listed in Seizures-list-PN00.txt but absent" in skip_reason(result, "PN00-2.edf")
  signals = recordings["PN00-3"].load()
  assert signals.channel_names == TEN_TWENTY and signals.sfreq == 512.0 and signals.data.shape == (19, 900 * 512)
  # Picked by name past `EEG Fc1`, `EKG EKG`, `SPO2` and the channel named `1`: T3 is stored 7th, O1 5th.
  written = siena_signals(900, seed=1)  # PN00-3 is write_siena's second file
  for electrode in ("T3", "O1", "T6"):
    np.testing.assert_allclose(signals.data[TEN_TWENTY.index(electrode)],
                               written[SIENA_LABELS.index(f"EEG {electrode}")], atol=400 / 65535 / 2 + 1e-4)
  assert datasets.get("siena").spec.sfreq == 256.0


def test_siena_in_banana18_and_average19(siena_root):
  native = datasets.get("siena").scan(siena_root)
  raw = {name: row for name, row in zip(TEN_TWENTY, by_id(native)["PN00-3"].load().data)}
  banana = by_id(datasets.get("siena", montage="banana18").scan(siena_root))["PN00-3"].load()
  assert banana.channel_names == BANANA18
  np.testing.assert_allclose(banana.data[BANANA18.index("T3-T5")], raw["T3"] - raw["T5"], atol=1e-4)
  average = by_id(datasets.get("siena", montage="average19").scan(siena_root))["PN00-3"].load()
  mean = np.mean([raw[e.upper()] for e in ELECTRODES_10_20], axis=0)
  np.testing.assert_allclose(average.data[ELECTRODES_10_20.index("T4")], raw["T4"] - mean, atol=1e-4)


def test_siena_list_is_a_reference_annotation(siena_root):
  listing = siena_root / "PN00" / "Seizures-list-PN00.txt"
  assert datasets.reference_events(listing, siena_root / "PN00" / "PN00-1.edf") == (Event(1143.0, 1213.0, "seizure"),)
  with pytest.raises(DataError, match="does not list PN00-9.edf"):
    datasets.reference_events(listing, siena_root / "PN00" / "PN00-9.edf")


# ----------------------------------------------------------------------------- BIDS, written by hand


def _bids_recording(root: Path, subject: str, run: int, labels, rows: str) -> Path:
  eeg = root / f"sub-{subject}" / "ses-01" / "eeg"
  eeg.mkdir(parents=True, exist_ok=True)
  stem = f"sub-{subject}_ses-01_task-szMonitoring_run-{run:02}"
  data = np.random.default_rng(run).normal(0, 20, (len(labels), 60 * 256)).clip(-99, 99)
  write_edf(eeg / f"{stem}_eeg.edf", data, 256.0, list(labels), physical_range=(-100.0, 100.0))
  (eeg / f"{stem}_events.tsv").write_text(
      "onset\tduration\teventType\tconfidence\tchannels\tdateTime\trecordingDuration\n" + rows)
  return eeg / f"{stem}_eeg.edf"


def test_bids_reader_on_the_szcore_layout(tmp_path):
  average = [f"{e}-Avg" for e in ELECTRODES_10_20]
  _bids_recording(tmp_path, "01", 0, average,
                  "12.00\t20.00\tsz_foc_ia\tn/a\tT4,T6\t2000-01-01 08:40:46\t60.00\n")
  _bids_recording(tmp_path, "02", 0, [c.upper() for c in BANANA18],
                  "0.00\t60.00\tbckg\tn/a\tn/a\t2000-01-01 10:00:00\t60.00\n")
  lonely = _bids_recording(tmp_path, "02", 1, average, "")
  lonely.with_name(lonely.name.replace("_eeg.edf", "_events.tsv")).unlink()
  result = datasets.get("bids").scan(tmp_path)
  recordings = by_id(result)
  assert sorted(recordings) == ["sub-01_ses-01_task-szMonitoring_run-00", "sub-02_ses-01_task-szMonitoring_run-00"]
  assert recordings["sub-01_ses-01_task-szMonitoring_run-00"].events == (Event(12.0, 32.0, "seizure"),)
  assert recordings["sub-02_ses-01_task-szMonitoring_run-00"].events == ()
  assert {r.patient for r in result.recordings} == {"sub-01", "sub-02"}
  assert "no sub-02_ses-01_task-szMonitoring_run-01_events.tsv beside it" in skip_reason(
      result, "sub-02_ses-01_task-szMonitoring_run-01_eeg.edf")
  assert all(r.load().channel_names == BANANA18 for r in result.recordings)
  referential = datasets.get("bids", montage="average19").scan(tmp_path)
  assert [r.recording_id for r in referential.recordings] == ["sub-01_ses-01_task-szMonitoring_run-00"]
  assert "cannot be re-referenced" in skip_reason(referential, "sub-02_ses-01_task-szMonitoring_run-00_eeg.edf")


def test_szcore_tsv_rows_and_errors(tmp_path):
  path = tmp_path / "x_events.tsv"
  path.write_text("onset\tduration\teventType\tconfidence\tchannels\tdateTime\trecordingDuration\n"
                  "30.00\t5.00\tsz\t0.8\tn/a\tn/a\t100.00\n10.00\t5.00\tsz_gen\tn/a\tn/a\tn/a\t100.00\n"
                  "50.00\t5.00\tartefact\tn/a\tn/a\tn/a\t100.00\n")
  annotation = parse_szcore_tsv(path)
  assert annotation.events == (Event(10.0, 15.0, "seizure"), Event(30.0, 35.0, "seizure"),
                               Event(50.0, 55.0, "artefact"))
  assert annotation.extent_s == 100.0
  path.write_text("onset\tduration\teventType\n1.0\tn/a\tsz\n")
  with pytest.raises(DataError, match=r"x_events.tsv:2: onset '1.0' / duration 'n/a' are not numbers"):
    parse_szcore_tsv(path)
  path.write_text("onset\tlength\teventType\n")
  with pytest.raises(DataError, match=r"missing column\(s\) \['duration'\]"):
    parse_szcore_tsv(path)


# ----------------------------------------------------------------------------- BIDS, written by epilepsy2bids


def test_epilepsy2bids_siena_folder_reads_back_with_the_same_seizures(siena_root, tmp_path):
  pytest.importorskip("epilepsy2bids")
  bids = epilepsy2bids_siena(siena_root, tmp_path / "bids")
  siena = {r.recording_id: r.events for r in datasets.get("siena").scan(siena_root).recordings}
  result = datasets.get("bids", montage="average19").scan(bids)
  assert not result.skipped
  converted = sorted(result.recordings, key=lambda r: r.recording_id)
  assert [r.patient for r in converted] == ["sub-00", "sub-00"]
  assert [r.events for r in converted] == [siena["PN00-1"], siena["PN00-3"]]
  signals = converted[1].load()
  assert signals.sfreq == 256.0 and signals.channel_names == montages.AVERAGE.channel_names
  # epilepsy2bids resampled and averaged; our average19 of its file is that file (re-averaging is idempotent),
  # to its 15-bit quantisation of a few hundred µV (~0.01 µV).
  stored = montages.read_signals(converted[1].source, montages.referential("stored", ELECTRODES_10_20))
  np.testing.assert_allclose(signals.data, stored.data, atol=0.05)


def test_epilepsy2bids_chbmit_folder_prepares_in_banana18(tmp_path):
  pytest.importorskip("epilepsy2bids")
  raw = tmp_path / "raw"
  synthetic.generate(raw, n_patients=2, recordings_per_patient=1, duration_s=60, seizures_per_recording=(1, 1),
                     seizure_duration_s=(10, 10), seed=1)
  bids = epilepsy2bids_chbmit(raw, tmp_path / "bids")
  expected = {r.recording_id: r.events for r in datasets.get("synthetic").scan(raw).recordings}
  result = datasets.get("bids").scan(bids)
  assert not result.skipped
  assert sorted(r.events for r in result.recordings) == sorted(expected.values())
  store = prepare_store("bids", bids, tmp_path / "store", options={"montage": "banana18"}, workers=1, progress=False)
  assert store.channel_names == BANANA18 and store.x.shape[1:] == (18, 256)
  assert set(store.patient.tolist()) == {"sub-01", "sub-02"}
