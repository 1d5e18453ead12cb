"""The synthetic CHB-MIT-layout generator: files, summaries, determinism, seizure placement."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from jclip_eeg.data import edf, synthetic
from jclip_eeg.data.channels import CHBMIT_LABELS
from jclip_eeg.errors import ConfigError

SMALL = dict(n_patients=2, recordings_per_patient=2, duration_s=120)
# Written here, independently of the real summary parser.
BLOCK = re.compile(
    r"File Name: (?P<name>\S+)\nFile Start Time: (?P<start>\d?\d:\d\d:\d\d)\n"
    r"File End Time: (?P<end>\d?\d:\d\d:\d\d)\nNumber of Seizures in File: (?P<count>\d+)\n"
    r"(?P<seizures>(?:Seizure(?: \d+)? (?:Start|End) Time: \d+ seconds\n)*)")
SEIZURE = re.compile(r"Seizure(?: (\d+))? (Start|End) Time: (\d+) seconds")


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> synthetic.SyntheticManifest:
  return synthetic.generate(tmp_path_factory.mktemp("synthetic"), **SMALL)


def _files(root: Path) -> dict[str, bytes]:
  return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _seconds(clock: str) -> int:
  h, m, s = map(int, clock.split(":"))
  return 3600 * h + 60 * m + s


def test_layout_and_manifest(small):
  root = small.root
  assert sorted(_files(root)) == [
      "chb01/chb01-summary.txt", "chb01/chb01_01.edf", "chb01/chb01_02.edf",
      "chb02/chb02-summary.txt", "chb02/chb02_01.edf", "chb02/chb02_02.edf",
      "synthetic.json"]
  stored = json.loads((root / "synthetic.json").read_text())
  assert stored["seed"] == 0 and stored["sfreq"] == 256
  assert stored["seizure_channels"] == list(synthetic.DEFAULT_SEIZURE_CHANNELS)
  assert stored["patients"] == ["chb01", "chb02"] == list(small.patients)
  assert [r["seizures"] for r in stored["recordings"]] == [
      [list(s) for s in r.seizures] for r in small.recordings]


def test_files_have_chbmit_channels_rate_and_duration(small):
  for rec in small.recordings:
    header = edf.read_header(rec.path)
    assert header.labels == rec.labels and header.duration_s == 120
    assert set(header.sfreqs) == {256.0} and set(header.n_samples) == {120 * 256}
    expected = list(CHBMIT_LABELS)
    if rec.patient == "chb02":  # even patients carry the dummy channel
      expected.insert(synthetic.DUMMY_INDEX, "-")
    assert list(header.labels) == expected
  dummy = next(r for r in small.recordings if "-" in r.labels)
  flat = edf.read_edf(dummy.path, ["-"]).data
  assert np.ptp(flat) == 0 and np.abs(flat).max() < 1e-4


def test_montage_identities(small):
  x = edf.read_edf(small.recordings[0].path, CHBMIT_LABELS).data
  np.testing.assert_array_equal(x[14], x[22])  # T8-P8 is stored twice
  step = np.abs(x).max() / 32767  # quantisation of the larger channel
  np.testing.assert_allclose(x[CHBMIT_LABELS.index("P7-T7")], -x[CHBMIT_LABELS.index("T7-P7")],
                             atol=2 * step)
  rms = x.std(axis=1)
  assert np.all((5 < rms) & (rms < 100)), rms  # background of tens of µV


def test_seizures_placed_and_one_recording_without(small):
  counts = [len(r.seizures) for r in small.recordings]
  assert counts[1] == 0 and all(c >= 1 for c in counts[:1] + counts[2:])
  for rec in small.recordings:
    bounds = np.array(rec.seizures).ravel()
    assert np.all(np.diff(bounds) > 0) and np.all((bounds >= 0) & (bounds <= 120))
    assert all(20 <= e - s <= 40 for s, e in rec.seizures)


def test_summary_format_matches_chbmit(small, fixtures_dir: Path):
  real = (fixtures_dir / "chbmit" / "chb01-summary.txt").read_text()
  ours = (small.root / "chb01" / "chb01-summary.txt").read_text()
  # Same header (rate and channel list) byte for byte, then the same block grammar.
  assert ours.split("File Name:")[0] == real.split("File Name:")[0]
  assert len(BLOCK.findall(real)) == real.count("File Name:")
  for patient in small.patients:
    text = (small.root / patient / f"{patient}-summary.txt").read_text()
    blocks = list(BLOCK.finditer(text))
    recordings = [r for r in small.recordings if r.patient == patient]
    assert [b["name"] for b in blocks] == [r.path.name for r in recordings]
    for block, rec in zip(blocks, recordings):
      assert (_seconds(block["end"]) - _seconds(block["start"])) % 86400 == 120
      times = [int(t) for _, _, t in SEIZURE.findall(block["seizures"])]
      assert int(block["count"]) == len(rec.seizures)
      assert times == [int(t) for s in rec.seizures for t in s]
    channels = re.findall(r"^Channel \d+: (\S+)$", text, flags=re.M)
    assert tuple(channels) == recordings[0].labels


def test_later_patients_number_their_seizures(tmp_path: Path):
  manifest = synthetic.generate(tmp_path, n_patients=3, recordings_per_patient=1,
                                duration_s=60, seizures_per_recording=(1, 1))
  first = (tmp_path / "chb02" / "chb02-summary.txt").read_text()
  third = (tmp_path / "chb03" / "chb03-summary.txt").read_text()
  assert "Seizure Start Time:" in first and "Seizure 1 Start Time:" not in first
  assert "Seizure 1 Start Time:" in third and "Seizure 1 End Time:" in third
  assert len(manifest.recordings[2].seizures) == 1


def test_same_seed_same_bytes_other_seed_differs(small, tmp_path: Path):
  original = _files(small.root)
  again = synthetic.generate(tmp_path / "again", **SMALL)
  assert _files(again.root) == original
  other = synthetic.generate(tmp_path / "other", seed=1, **SMALL)
  changed = _files(other.root)
  assert all(changed[name] != original[name] for name in original if name.endswith(".edf"))


def _band_power(x: np.ndarray, sfreq: float, low: float, high: float) -> np.ndarray:
  """(C,) mean power of each row of (C, T) between `low` and `high` Hz (FFT mask)."""
  spectrum = np.fft.rfft(x - x.mean(axis=1, keepdims=True), axis=1)
  freqs = np.fft.rfftfreq(x.shape[1], 1 / sfreq)
  band = (freqs >= low) & (freqs <= high)
  return (np.abs(spectrum[:, band]) ** 2).sum(axis=1) / x.shape[1] ** 2


def test_seizure_power_is_confined_to_the_known_channels(small):
  focus = [CHBMIT_LABELS.index(c) for c in small.seizure_channels]
  rest = [i for i in range(len(CHBMIT_LABELS)) if i not in focus]
  tested = 0
  for rec in small.recordings:
    signals = edf.read_edf(rec.path, CHBMIT_LABELS)
    x, fs = signals.data.astype(np.float64), signals.sfreq
    ictal = np.zeros(x.shape[1], dtype=bool)
    for start, end in rec.seizures:
      ictal[int(start * fs):int(end * fs)] = True
    if not ictal.any():
      continue
    baseline = _band_power(x[:, ~ictal], fs, 3, 8)
    for start, end in rec.seizures:
      ratio = _band_power(x[:, int(start * fs):int(end * fs)], fs, 3, 8) / baseline
      assert ratio[focus].min() > 3, (rec.recording_id, ratio)
      assert np.median(ratio[rest]) < 1.5 and ratio[rest].max() < ratio[focus].min()
      tested += 1
  assert tested >= 3


def test_regenerating_removes_files_of_the_previous_run(tmp_path: Path):
  synthetic.generate(tmp_path, n_patients=2, recordings_per_patient=1, duration_s=60,
                     seizures_per_recording=(1, 1))
  (tmp_path / "notes.txt").write_text("mine")
  manifest = synthetic.generate(tmp_path, n_patients=1, recordings_per_patient=1, duration_s=60,
                                seizures_per_recording=(1, 1))
  assert not (tmp_path / "chb02" / "chb02_01.edf").exists()
  assert (tmp_path / "notes.txt").read_text() == "mine"
  assert [r.recording_id for r in manifest.recordings] == ["chb01_01"]


@pytest.mark.parametrize("kwargs, field", [
    (dict(seizure_channels=("FP1-F7", "C3-CZ")), "seizure_channels"),
    (dict(duration_s=60), "duration_s"),
    (dict(seizure_duration_s=(40, 20)), "seizure_duration_s"),
    (dict(n_patients=0), "n_patients"),
])
def test_bad_arguments_name_the_field(tmp_path: Path, kwargs, field):
  with pytest.raises(ConfigError, match=field):
    synthetic.generate(tmp_path, **kwargs)
  assert not any(tmp_path.iterdir())
