"""Fault corpus, EDF files: damaged and inconsistent headers and data.

Each fault is made by editing one field (or the size) of a valid EDF written
by `edf.write_edf`. Reading it gives one DataError line naming the file and
what is wrong; in a CHB-MIT layout the reader's scan lists it as skipped with
that reason and keeps the intact recording; preparing a store lists it in
`skipped` (or stops with `strict`). Faults only visible when the samples are
read (a recording shorter than a window, no data records) are skips of the
preparation itself.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from faults import SFREQ, raises_naming, set_field, skip_reason, write_chbmit_root, write_recording

from jclip_eeg.data import datasets, edf
from jclip_eeg.data.channels import CHBMIT_LABELS
from jclip_eeg.data.prepare import prepare_store
from jclip_eeg.errors import DataError


def _records(path: Path) -> int:
  return int(path.read_bytes()[236:244].decode())


def _header_bytes(path: Path) -> int:
  return int(path.read_bytes()[184:192].decode())


def _cut(path: Path, size: int) -> None:
  with open(path, "r+b") as f:
    f.truncate(size)


def _append(path: Path, n_bytes: int) -> None:
  with open(path, "ab") as f:
    f.write(b"\x00" * n_bytes)


def _into_folder(path: Path) -> None:
  path.unlink()
  path.mkdir()


def _with_field(name: str, value: str | Callable[[Path], str], signal: int = 0) -> Callable[[Path], None]:
  def mutate(path: Path) -> None:
    set_field(path, name, value(path) if callable(value) else value, signal)
  return mutate


def _both(*mutations: Callable[[Path], None]) -> Callable[[Path], None]:
  def mutate(path: Path) -> None:
    for mutation in mutations:
      mutation(path)
  return mutate


# (fault, how to make it from a valid file, what the message says). Every one is a header or size fault.
HEADER_FAULTS = [
    ("empty file", lambda p: p.write_bytes(b""), "shorter than the 256-byte EDF header"),
    ("100 bytes", lambda p: _cut(p, 100), "(100 bytes, shorter than the 256-byte EDF header)"),
    ("BDF file", lambda p: p.write_bytes(b"\xffBIOSEMI" + p.read_bytes()[8:]), "BDF (24-bit) files are not supported"),
    ("version 1", _with_field("version", "1"), "version field '1', expected '0'"),
    ("a text file", lambda p: p.write_text("File Name: chb01_01.edf\n" * 40), "not an EDF file (version field"),
    ("header bytes off by one block", _with_field("header_bytes", lambda p: str(_header_bytes(p) + 256)),
     "expected 256 x (signals + 1)"),
    ("header bytes not a number", _with_field("header_bytes", "abc"),
     "header field 'header bytes / data records / signals'"),
    ("data records not a number", _with_field("n_records", "many"),
     "header field 'header bytes / data records / signals'"),
    ("data records negative", _with_field("n_records", "-5"), "-5 data records"),
    ("data records fractional", _with_field("n_records", "2.5"), "expected whole numbers"),
    ("fewer data records than the file holds", _with_field("n_records", lambda p: str(_records(p) // 2)),
     "inconsistent EDF header: it counts"),
    ("more data records than the file holds", _with_field("n_records", lambda p: str(_records(p) * 2)),
     "truncated EDF file: the header promises"),
    ("record duration 0", _with_field("record_s", "0"), "data record duration is 0.0 s, expected > 0"),
    ("record duration negative", _with_field("record_s", "-1"), "data record duration is -1.0 s, expected > 0"),
    ("record duration with a unit", _with_field("record_s", "1 s"), "header field 'data record duration'"),
    ("record duration nan", _with_field("record_s", "nan"), "header field 'data record duration'"),
    ("record duration inf", _with_field("record_s", "inf"), "header field 'data record duration'"),
    ("no signals", _with_field("n_signals", "0"), "0 signals but a header of"),
    ("signal count not a number", _with_field("n_signals", "x"),
     "header field 'header bytes / data records / signals'"),
    ("one signal more than the header holds", _with_field("n_signals", lambda p: str(int(p.read_bytes()[252:256]) + 1)),
     "signals but a header of"),
    ("zero samples per record", _with_field("spr", "0"), "has 0 samples per record"),
    ("samples per record not a number", _with_field("spr", "abc"), "header field 'samples per record'"),
    ("samples per record halved", _with_field("spr", "128"), "inconsistent EDF header: it counts"),
    ("samples per record doubled", _with_field("spr", "512"), "truncated EDF file"),
    ("digital range empty", _both(_with_field("dmin", "100"), _with_field("dmax", "100")), "has an empty range"),
    ("digital range reversed", _both(_with_field("dmin", "200"), _with_field("dmax", "100")), "has an empty range"),
    ("physical range empty", _both(_with_field("pmin", "5"), _with_field("pmax", "5")), "has an empty range"),
    ("physical minimum not a number", _with_field("pmin", "low"), "header field 'physical minimum'"),
    ("physical maximum inf", _with_field("pmax", "inf"), "header field 'physical maximum'"),
    ("digital minimum fractional", _with_field("dmin", "-3.5"), "header field 'digital minimum'"),
    ("digital maximum not a number", _with_field("dmax", "top"), "header field 'digital maximum'"),
    ("last signal's range empty", _both(_with_field("dmin", "1", signal=2), _with_field("dmax", "1", signal=2)),
     "signal 2 ('T7-P7') has an empty range"),
    ("data cut short", lambda p: _cut(p, p.stat().st_size - 100), "truncated EDF file: the header promises"),
    ("cut inside the signal headers", lambda p: _cut(p, 300), "truncated EDF file: the header promises"),
    ("a partial record appended", lambda p: _append(p, 10), "inconsistent EDF header: it counts"),
    ("a whole record appended", lambda p: _append(p, 2 * 3 * SFREQ), "inconsistent EDF header: it counts"),
    ("a folder, not a file", _into_folder, "cannot read EDF file"),
    ("deleted", lambda p: p.unlink(), "EDF file not found"),
]


@pytest.mark.parametrize("fault, mutate, message", HEADER_FAULTS, ids=[f[0] for f in HEADER_FAULTS])
def test_a_damaged_header_is_one_line_naming_the_file(tmp_path, fault, mutate, message):
  path = write_recording(tmp_path / "rec.edf")
  mutate(path)
  with raises_naming(DataError, path, message):
    edf.read_header(path)
  with raises_naming(DataError, path, message):
    edf.read_edf(path, ["FP1-F7"])


def test_records_minus_one_is_inferred_from_the_size(tmp_path):
  """The spec's -1 (unknown while recording) is the one header that may disagree with the size."""
  path = write_recording(tmp_path / "rec.edf", seconds=20)
  set_field(path, "n_records", "-1")
  assert edf.read_header(path).duration_s == 20.0
  np.testing.assert_array_equal(edf.read_edf(path, ["FP1-F7"]).data, edf.read_edf(
      write_recording(tmp_path / "intact.edf", seconds=20), ["FP1-F7"]).data)


@pytest.fixture(scope="module")
def chbmit(tmp_path_factory) -> Path:
  """ROOT/chb01 with a seizure recording and a seizure-free one, 20 s each."""
  return write_chbmit_root(tmp_path_factory.mktemp("chbmit") / "root",
                           {"chb01_01.edf": [(5, 12)], "chb01_02.edf": []}, seconds=20)


def _copy(root: Path, tmp_path: Path) -> Path:
  return Path(shutil.copytree(root, tmp_path / "root"))


# A listed file that is no file is absent to the scan.
_SCAN_MESSAGES = {"a folder, not a file": "listed in chb01-summary.txt but absent",
                  "deleted": "listed in chb01-summary.txt but absent"}


# The scan reads headers only: every header fault is a listed skip, and the intact recording is kept.
@pytest.mark.parametrize("fault, mutate, message", HEADER_FAULTS, ids=[f[0] for f in HEADER_FAULTS])
def test_the_scan_lists_a_damaged_file_and_keeps_the_rest(chbmit, tmp_path, fault, mutate, message):
  root = _copy(chbmit, tmp_path)
  damaged = root / "chb01" / "chb01_02.edf"
  mutate(damaged)
  scan = datasets.get("chbmit").scan(root)
  assert [r.recording_id for r in scan.recordings] == ["chb01_01"]
  assert _SCAN_MESSAGES.get(fault, message) in skip_reason(scan.skipped, damaged)


def _write_chbmit_edf(path: Path, seconds: float, sfreqs: list[float], labels=CHBMIT_LABELS) -> None:
  rng = np.random.default_rng(1)
  edf.write_edf(path, [rng.normal(0, 30, round(seconds * f)) for f in sfreqs], sfreqs, list(labels),
                physical_range=(-500.0, 500.0))


# Faults of the channels or the length: found by the scan or when the samples are read, listed as skips.
CONTENT_FAULTS = [
    ("a channel renamed", lambda p: set_field(p, "label", "XX-YY", signal=3),
     f"missing channel(s) ['{CHBMIT_LABELS[3]}']"),
    ("picked channels at two rates", lambda p: _write_chbmit_edf(p, 20, [512.0] + [256.0] * 22),
     "the picked channels have different sampling rates [256.0, 512.0] Hz"),
    ("only the first channels", lambda p: _write_chbmit_edf(p, 20, [256.0] * 5, CHBMIT_LABELS[:5]),
     "missing channel(s)"),
    ("no data records", lambda p: (set_field(p, "n_records", "0"), _cut(p, _header_bytes(p))),
     "extends beyond the end of the recording (0 s)"),
]


@pytest.mark.parametrize("fault, mutate, message", CONTENT_FAULTS, ids=[f[0] for f in CONTENT_FAULTS])
def test_a_recording_without_the_montage_is_listed(chbmit, tmp_path, fault, mutate, message):
  root = _copy(chbmit, tmp_path)
  damaged = root / "chb01" / "chb01_01.edf"  # the seizure recording: its seizure must fit in it
  mutate(damaged)
  scan = datasets.get("chbmit").scan(root)
  assert [r.recording_id for r in scan.recordings] == ["chb01_02"]
  assert message in skip_reason(scan.skipped, damaged)


def _half_second(path: Path) -> None:
  """One 0.5-s data record at 512 Hz (a 1-s file at 256 Hz whose record duration says 0.5 s)."""
  _write_chbmit_edf(path, 1, [256.0] * 23)
  set_field(path, "record_s", "0.5")


LOAD_FAULTS = [
    ("half a second of EEG", _half_second, "0.5 s"),
    ("no data records", lambda p: (set_field(p, "n_records", "0"), _cut(p, _header_bytes(p))), "shape (23, 0)"),
]


@pytest.mark.parametrize("fault, mutate, message", LOAD_FAULTS, ids=[f[0] for f in LOAD_FAULTS])
def test_a_seizure_free_recording_too_short_to_window_is_listed_by_the_preparation(chbmit, tmp_path, fault, mutate,
                                                                                    message):
  root = _copy(chbmit, tmp_path)
  damaged = root / "chb01" / "chb01_02.edf"
  mutate(damaged)
  store = prepare_store("chbmit", root, tmp_path / "store", workers=1, progress=False)
  assert store.recordings == ("chb01_01",)
  reason = skip_reason(store.metadata["skipped"], damaged)
  assert str(damaged) in reason and message in reason
  assert store.metadata["report"]["skipped"] == 1
  with raises_naming(DataError, damaged, "strict"):
    prepare_store("chbmit", root, tmp_path / "strict", workers=1, progress=False, strict=True)
  assert not (tmp_path / "strict").exists()


def test_a_header_promising_fewer_records_is_a_listed_skip_or_fatal_with_strict(chbmit, tmp_path):
  """The issue's case: n_records 10 of the file's 20 used to be stored as 10 s with "0 files skipped"."""
  root = _copy(chbmit, tmp_path)
  damaged = root / "chb01" / "chb01_02.edf"
  set_field(damaged, "n_records", "10")
  store = prepare_store("chbmit", root, tmp_path / "store", workers=1, progress=False)
  assert store.recordings == ("chb01_01",) and store.metadata["report"]["hours"] == round(20 / 3600, 4)
  assert "counts 10 data records" in skip_reason(store.metadata["skipped"], damaged)
  with raises_naming(DataError, damaged, "counts 10 data records", "strict mode"):
    prepare_store("chbmit", root, tmp_path / "strict", workers=1, progress=False, strict=True)
