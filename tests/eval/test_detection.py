"""Continuous detection: streamed preprocessing equals training's, windows -> seconds, detect() end to end.

The issue's bar (event F1 >= 0.9, < 1 false alarm per hour on unseen synthetic
recordings) needs a model that learned: it is checked in test_learned_run.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyedflib
import pytest

from jclip_eeg.data import edf, synthetic
from jclip_eeg.data.annotations import Annotation, parse_chbmit_summary
from jclip_eeg.data.datasets import chbmit, load_edf
from jclip_eeg.data.preprocess import PreprocessSettings, preprocess
from jclip_eeg.errors import DataError
from jclip_eeg.eval import detection, events


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
  root = tmp_path_factory.mktemp("detect_raw")
  synthetic.generate(root, n_patients=1, recordings_per_patient=1, duration_s=150,
                     seizures_per_recording=(1, 1), seizure_duration_s=(20, 20), seed=3)
  return root / "chb01" / "chb01_01.edf"


def _reader(path: Path) -> edf.EdfBlocks:
  return edf.EdfBlocks(path, chbmit.MONTAGE.picks, normalise=chbmit.MONTAGE.normalise)


@pytest.mark.parametrize("block_s", [40.0, 1000.0])
def test_streamed_preprocessing_matches_training(recording, block_s):
  settings = PreprocessSettings(256.0)
  streamed = np.concatenate(list(detection.preprocessed_blocks(_reader(recording), settings, block_s)), axis=1)
  whole = preprocess(load_edf(recording, chbmit.MONTAGE, Annotation(())), settings, source=recording).data
  assert streamed.shape == whole.shape
  assert np.max(np.abs(streamed - whole)) < 2e-3  # z-scored units; seams see 30 s of real signal


def test_block_reads_equal_whole_file(recording):
  reader = _reader(recording)
  whole = load_edf(recording, chbmit.MONTAGE, Annotation(())).data
  np.testing.assert_array_equal(reader.read(1000, 5000), whole[:, 1000:5000])  # not on record boundaries
  np.testing.assert_array_equal(reader.read(), whole)
  assert reader.n_samples == whole.shape[1] and reader.sfreq == 256.0
  with pytest.raises(DataError, match="outside the recording"):
    reader.read(0, whole.shape[1] + 1)


def test_missing_channel_is_a_clear_error(recording):
  with pytest.raises(DataError, match="missing channel.*NOPE"):
    edf.EdfBlocks(recording, ("NOPE",))
  with pytest.raises(DataError, match="not found"):
    _reader(recording.with_name("absent.edf"))


def test_window_probabilities_cross_blocks_in_order():
  signal = np.arange(10 * 8, dtype=np.float32).reshape(1, -1)  # 80 samples, one channel
  blocks = iter([signal[:, :23], signal[:, 23:50], signal[:, 50:]])
  first_sample = lambda x: np.stack([x[:, 0, 0], x[:, 0, -1]], axis=1)  # noqa: E731
  got = detection.window_probabilities(blocks, window=8, stride=4, predict=first_sample)
  starts = np.arange(0, 80 - 8 + 1, 4)
  np.testing.assert_array_equal(got, np.stack([starts, starts + 7], axis=1))


def test_per_second_averages_overlapping_windows():
  # 2-s windows every second over 5 s: second k is covered by windows k-1 and k; second 4 by window 3 only.
  got = detection.per_second(np.array([0.0, 1.0, 0.0, 1.0]), stride_s=1.0, window_s=2.0, duration_s=5.0)
  np.testing.assert_allclose(got, [0.0, 0.5, 0.5, 0.5, 1.0])
  tail = detection.per_second(np.array([0.2, 0.4]), stride_s=1.0, window_s=1.0, duration_s=2.5)
  np.testing.assert_allclose(tail, [0.2, 0.4, 0.4])  # the uncovered half second repeats the last value


def _band_power_predictor(recording: Path) -> detection.Predictor:
  """A stand-in model: P(seizure) rises with 3-8 Hz power on the patient's seizure channels (no training needed)."""
  names = chbmit.MONTAGE.channel_names
  focus = synthetic.load_foci(recording.parents[1])[recording.parent.name].channels
  rows = [names.index(c) for c in focus if c in names]

  def predict(x: np.ndarray) -> np.ndarray:
    spectrum = np.abs(np.fft.rfft(x[:, rows], axis=-1)) ** 2
    ratio = spectrum[..., 3:9].sum(-1).mean(-1) / (spectrum[..., 1:40].sum(-1).mean(-1) + 1e-12)
    p = 1 / (1 + np.exp(-20 * (ratio - 0.5)))
    return np.stack([1 - p, p], axis=1)

  meta = dict(dataset="synthetic", class_names=["normal", "seizure"], channel_names=list(names), sfreq=256.0,
              window_samples=256, band_hz=[0.1, 70.0])
  return detection.Predictor(predict, meta)


def test_detect_runs_end_to_end_and_writes_scores(recording, tmp_path):
  got = detection.detect(_band_power_predictor(recording), recording, block_s=60.0, progress=True)
  assert got.probs.shape == (150,) and got.duration_s == 150.0
  with pyedflib.EdfReader(str(recording)) as reader:
    assert got.date_time == reader.getStartdatetime().isoformat()
  truth = parse_chbmit_summary(recording.parent / "chb01-summary.txt")[recording.name]
  reference = [(e.start_s, e.end_s) for e in truth]
  inside = np.concatenate([np.arange(int(a), int(b)) for a, b in reference])
  outside = np.setdiff1d(np.arange(150), inside)
  assert got.probs[inside].mean() > got.probs[outside].mean()  # the pipeline keeps time aligned
  path = tmp_path / "events.tsv"
  events.write_tsv(path, got.events, got.duration_s, got.date_time)
  assert events.read_tsv(path)[1] == 150.0


def test_detect_reads_each_datasets_own_annotation_file(fixtures_dir, script_module):
  """--annotations with the real CHB-MIT, TUSZ and Helsinki files: the recording's seizures, in seconds."""
  reference = script_module("detect").reference_intervals
  chbmit_summary = fixtures_dir / "chbmit" / "chb01-summary.txt"
  assert reference(chbmit_summary, Path("chb01_03.edf")) == [(2996.0, 3036.0)]
  assert reference(fixtures_dir / "tusz" / "aaaaaool_s004_t001.csv_bi", Path("x.edf")) == [(733.9656, 818.0202)]
  assert reference(fixtures_dir / "tusz" / "aaaaahln_s001_t000.csv_bi", Path("x.edf")) == []  # background only
  helsinki = fixtures_dir / "neonatal" / "annotations_2017_B.csv"
  baby1 = reference(helsinki, Path("/data/eeg1.edf"))
  column = np.genfromtxt(helsinki, delimiter=",", skip_header=1)[:, 0]  # baby 1, one row per second
  assert baby1[0] == (32.0, 49.0) and sum(b - a for a, b in baby1) == np.nansum(column)
  with pytest.raises(DataError, match="no column for baby 80"):
    reference(helsinki, Path("eeg80.edf"))
  with pytest.raises(DataError, match="named eegN.edf"):
    reference(helsinki, Path("chb01_03.edf"))
  with pytest.raises(DataError, match="does not list chb01_99.edf"):
    reference(chbmit_summary, Path("chb01_99.edf"))
