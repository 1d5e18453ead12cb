"""Band-pass, resampling and z-scoring (jclip_eeg.data.preprocess)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from jclip_eeg.data import preprocess as preprocess_module
from jclip_eeg.data.preprocess import (PreprocessSettings, filter_resample, preprocess,
                                       zero_phase_gain)
from jclip_eeg.data.types import Signals
from jclip_eeg.errors import ConfigError, DataError

SETTINGS = PreprocessSettings(sfreq=256.0)
MARGIN_S = 40  # beyond the edge effects of the 0.1 Hz high-pass


def _eeg_like(sfreq: float, seconds: float, channels: int = 3, seed: int = 0) -> np.ndarray:
  """Random walk (strong low frequencies) + white noise + 10 Hz + DC offset, float32 (C, T)."""
  rng = np.random.default_rng(seed)
  n = int(sfreq * seconds)
  t = np.arange(n) / sfreq
  x = np.cumsum(rng.standard_normal((channels, n)), axis=1) * 0.3
  x += 5 * rng.standard_normal((channels, n)) + 20 * np.sin(2 * np.pi * 10 * t) + 100
  return x.astype(np.float32)


def _signals(data: np.ndarray, sfreq: float) -> Signals:
  return Signals(data, sfreq, tuple(f"ch{i}" for i in range(data.shape[0])))


def _run(data: np.ndarray, sfreq: float) -> np.ndarray:
  return filter_resample(data, data.mean(axis=1), sfreq, SETTINGS, source="test.edf")


def _exact(data: np.ndarray, sfreq: float, sfreq_out: float) -> np.ndarray:
  """The definition in float64: G(f) applied on a 4x zero-padded FFT, spectrum cut/extended."""
  n = data.shape[1]
  n_fft = 4 * n
  spectrum = np.fft.rfft(data.astype(np.float64) - data.mean(axis=1, keepdims=True), n=n_fft)
  spectrum *= zero_phase_gain(np.fft.rfftfreq(n_fft, 1 / sfreq), SETTINGS.band_hz, 4)
  n_out = int(n_fft * sfreq_out / sfreq)
  out = np.zeros((data.shape[0], n_out // 2 + 1), complex)
  m = min(out.shape[1], spectrum.shape[1])
  out[:, :m] = spectrum[:, :m]
  return np.fft.irfft(out, n=n_out) * n_out / n_fft


def _interior(x: np.ndarray, sfreq: float = 256.0) -> np.ndarray:
  return x[:, int(MARGIN_S * sfreq):-int(MARGIN_S * sfreq)]


def test_gain_edges():
  gain = zero_phase_gain(np.array([0.0, 0.1, 10.0, 70.0, 128.0]), (0.1, 70.0), 4)
  np.testing.assert_allclose(gain[[1, 3]], 0.5, rtol=1e-3)  # -6 dB: forward-backward
  assert gain[0] == 0 and gain[2] == pytest.approx(1, abs=1e-5) and gain[4] < 0.01


@pytest.mark.parametrize("sfreq", [256.0, 512.0, 250.0, 1000.0])
def test_matches_exact_definition(sfreq):
  data = _eeg_like(sfreq, 200)
  ours = _run(data, sfreq)
  n_out = -(-data.shape[1] * 256 // int(sfreq))
  assert ours.shape == (3, n_out) and ours.dtype == np.float32
  exact = _exact(data, sfreq, 256.0)[:, :n_out]
  error = _interior(ours - exact)
  assert np.sqrt(np.mean(error ** 2)) < 1e-4 * _interior(exact).std()


@pytest.mark.parametrize("sfreq", [256.0, 250.0])
def test_blocks_of_a_long_recording_match_exact_definition(sfreq, monkeypatch):
  # A small block makes a 200-s recording take several overlapping blocks.
  monkeypatch.setattr(preprocess_module, "_BLOCK", 2 ** 14)
  data = _eeg_like(sfreq, 200)
  ours = _run(data, sfreq)
  exact = _exact(data, sfreq, 256.0)[:, :ours.shape[1]]
  error = _interior(ours - exact)
  assert np.sqrt(np.mean(error ** 2)) < 1e-3 * _interior(exact).std()


def test_close_to_sosfiltfilt_on_eeg_band_signals():
  # sosfiltfilt of digital order-4 Butterworths differs from the analog power
  # response only near Nyquist; on 0.5-40 Hz content the two agree closely.
  t = np.arange(256 * 300) / 256
  data = np.stack([np.sin(2 * np.pi * f * t + p) for f, p in [(0.5, 0), (3, 1), (10, 2), (40, 3)]])
  data = (data + 50).astype(np.float32)
  sos_hp = scipy.signal.butter(4, 0.1, "highpass", fs=256, output="sos")
  sos_lp = scipy.signal.butter(4, 70, "lowpass", fs=256, output="sos")
  reference = scipy.signal.sosfiltfilt(sos_lp, scipy.signal.sosfiltfilt(sos_hp, data.astype(float)))
  error = _interior(_run(data, 256.0) - reference)
  assert np.abs(error).max() < 0.01


def test_zero_phase_and_resampled_timing():
  # A 10 Hz cosine at 512 Hz comes out at 256 Hz with the same phase and amplitude.
  t_in = np.arange(512 * 200) / 512
  data = np.cos(2 * np.pi * 10 * t_in)[None].astype(np.float32)
  out = _run(data, 512.0)
  t_out = np.arange(out.shape[1]) / 256
  np.testing.assert_allclose(_interior(out), _interior(np.cos(2 * np.pi * 10 * t_out)[None]),
                             atol=2e-3)


def test_out_of_band_is_removed():
  t = np.arange(512 * 300) / 512
  slow, fast = np.sin(2 * np.pi * 0.01 * t), np.sin(2 * np.pi * 110 * t)
  out = _run(np.stack([slow, fast]).astype(np.float32), 512.0)
  assert np.abs(_interior(out)).max(axis=1).tolist() < [0.01, 0.01]


def test_preprocess_zscores_each_channel_without_touching_input():
  data = _eeg_like(512.0, 120)
  before = data.copy()
  out = preprocess(_signals(data, 512.0), SETTINGS, source="a.edf")
  assert out.data.dtype == np.float32 and out.data.shape == (3, 256 * 120) and out.sfreq == 256
  np.testing.assert_allclose(out.data.mean(axis=1), 0, atol=1e-4)
  np.testing.assert_allclose(out.data.std(axis=1), 1, rtol=1e-4)
  np.testing.assert_array_equal(data, before)
  assert out.flat_channels == ()


def test_flat_channel_is_zeroed_and_reported():
  data = _eeg_like(256.0, 60)
  data[1] = 7.0
  out = preprocess(_signals(data, 256.0), SETTINGS, source="a.edf")
  assert out.flat_channels == ("ch1",)
  assert not out.data[1].any()
  np.testing.assert_allclose(out.data[[0, 2]].std(axis=1), 1, rtol=1e-4)


def test_all_flat_is_an_error():
  with pytest.raises(DataError, match="flat.edf: every channel is flat"):
    preprocess(_signals(np.ones((2, 2560), np.float32), 256.0), SETTINGS, source="flat.edf")


def test_non_finite_samples_name_file_and_channel():
  data = _eeg_like(256.0, 10)
  data[2, 100] = np.nan
  with pytest.raises(DataError, match=r"bad\.edf: non-finite.*\['ch2'\]"):
    preprocess(_signals(data, 256.0), SETTINGS, source="bad.edf")


def test_segments_are_only_zscored():
  rng = np.random.default_rng(1)
  segment = (rng.standard_normal((19, 500)) * 30 + 5).astype(np.float32)
  out = preprocess(_signals(segment, 500.0), PreprocessSettings(sfreq=500.0), source="s.csv",
                   is_segment=True)
  expected = (segment - segment.mean(1, keepdims=True)) / segment.std(1, keepdims=True)
  np.testing.assert_allclose(out.data, expected, atol=1e-5)
  with pytest.raises(DataError, match="s.csv: pre-cut segment at 256 Hz"):
    preprocess(_signals(segment, 256.0), PreprocessSettings(sfreq=500.0), source="s.csv",
               is_segment=True)


def test_short_recording():
  out = preprocess(_signals(_eeg_like(250.0, 3), 250.0), SETTINGS, source="short.edf")
  assert out.data.shape == (3, 768) and np.isfinite(out.data).all()


def test_irrational_rate_ratio_is_an_error():
  with pytest.raises(DataError, match="odd.edf: cannot resample 256.3 Hz"):
    preprocess(_signals(_eeg_like(256.3, 5), 256.3), SETTINGS, source="odd.edf")


def test_bad_band_is_a_config_error():
  with pytest.raises(ConfigError, match="band_hz"):
    PreprocessSettings(sfreq=256.0, band_hz=(0.0, 70.0))
  with pytest.raises(ConfigError, match="band_hz"):
    PreprocessSettings(sfreq=128.0, band_hz=(0.1, 70.0))
