"""Preprocessing of one recording (paper IV-B, DESIGN.md "Preprocessing").

`preprocess(signals, settings, source=...)` takes the picked, ordered signals of a
recording at their native rate and returns them band-passed, resampled to the
dataset rate and z-scored per channel, as float32 (C, T').

Filter. The band-pass is a zero-phase Butterworth of order 4 applied forward
and backward, whose amplitude response is the single pass's power response
  G(f) = |H_hp(f)|^2 |H_lp(f)|^2,  |H_hp|^2 = 1 / (1 + (f_lo/f)^8),  |H_lp|^2 = 1 / (1 + (f/f_hi)^8)
(-6 dB at 0.1 and 70 Hz, like `scipy.signal.sosfiltfilt` of an order-4
high-pass and low-pass). Order 4, i.e. 48 dB/octave after both passes, is the
usual EEG choice: steep enough to suppress muscle activity above 70 Hz (-42 dB
at 128 Hz), while a higher order would ring longer at the 0.1 Hz edge. It is
applied in the frequency domain, and resampling by a rational ratio p/q is done
in the same transform: one float32 rfft at the native rate, multiply by G, keep
(or zero-extend) the bins below the new Nyquist (an ideal anti-aliasing
filter), one irfft at the target rate. On a 10-min, 23-channel recording at
256 Hz (one core) this took 0.03 s against 0.05 s for float32 `sosfiltfilt`
(whose 0.1 Hz poles also lose ~0.5 % accuracy in float32) and 0.08 s for MNE's
default FIR `raw.filter(0.1, 70)`. The recording is mean-removed and padded on
both sides by an odd reflection of `3 / f_lo` seconds (30 s for 0.1 Hz), over
which the filter's step response decays below 2e-4, so the circular transform
does not wrap one end into the other. Recordings longer than ~17 min (2^18
samples) are filtered in blocks that overlap by that padding, which keeps the
FFTs in cache (2x faster on 1-h recordings) and agrees with one whole-recording
transform to ~1e-5.

Z-score: per channel over the whole recording, after filtering. A channel whose
standard deviation is below 1e-6 of the loudest channel's (a disconnected or
flat lead) is set to zeros rather than amplified noise, and is reported in
`Preprocessed.flat_channels`; if every channel is flat the recording is
unusable (DataError).

Pre-cut segments (`Recording.is_segment`, AUBMC): the provider already filtered
them, and a 1-s segment is too short for a 0.1 Hz high-pass, so they are only
z-scored (per segment, per channel); they must already be at the target rate.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import scipy.fft

from jclip_eeg.data.types import DatasetSpec, Signals
from jclip_eeg.errors import ConfigError, DataError

FILTER_ORDER = 4
_PAD_CYCLES = 3.0  # padding = this many periods of the high-pass edge
_FLAT_RELATIVE_STD = 1e-6
_MAX_RATIO_TERM = 1000  # largest p or q of the resampling ratio p/q
# FFT block length in input samples: float32 rfft+irfft cost per sample is flat up
# to 2^18 and doubles by 2^20 (cache; measured on a 2-core EPYC), so longer
# recordings are filtered in overlapping blocks.
_BLOCK = 2 ** 18


@dataclasses.dataclass(frozen=True)
class PreprocessSettings:
  """Everything that determines the preprocessed signal (it keys the resumable parts).

  Attributes:
    sfreq: output sampling rate in Hz.
    band_hz: (low, high) band-pass edges in Hz (-6 dB points).
    order: Butterworth order of each edge (applied forward and backward).
  """
  sfreq: float
  band_hz: tuple[float, float] = (0.1, 70.0)
  order: int = FILTER_ORDER

  def __post_init__(self):
    lo, hi = self.band_hz
    if not 0 < lo < hi < self.sfreq / 2:
      raise ConfigError(f"band_hz: {self.band_hz}; expected 0 < low < high < "
                        f"{self.sfreq / 2:g} Hz (the Nyquist rate of {self.sfreq:g} Hz)")
    if self.order < 1:
      raise ConfigError(f"filter order: {self.order}; expected >= 1")

  @classmethod
  def for_spec(cls, spec: DatasetSpec) -> PreprocessSettings:
    return cls(sfreq=float(spec.sfreq), band_hz=tuple(map(float, spec.band_hz)))


@dataclasses.dataclass(frozen=True)
class Preprocessed:
  """A preprocessed recording: `data` (C, T) float32 z-scored at `sfreq` Hz."""
  data: np.ndarray
  sfreq: float
  flat_channels: tuple[str, ...] = ()


def preprocess(signals: Signals, settings: PreprocessSettings, *, source: str | Path,
               is_segment: bool = False) -> Preprocessed:
  """Band-pass, resample and z-score one recording (module docstring).

  Args:
    signals: (C, T) samples at the native rate, channels in dataset order.
    settings: target rate and filter.
    source: the raw file, named in every error.
    is_segment: a pre-cut, already filtered segment: only z-scored.

  Raises:
    DataError: non-finite samples, every channel flat, an empty recording, a
      segment not at the target rate, or a rate ratio that is not a small fraction.
  """
  data = np.asarray(signals.data, dtype=np.float32)
  if data.ndim != 2 or data.shape[1] == 0:
    raise DataError(f"{source}: expected (channels, samples) signals, got shape {data.shape}")
  means = data.mean(axis=1)  # float32 pairwise summation; NaN/inf propagate
  bad = ~np.isfinite(means)
  if bad.any():
    names = [signals.channel_names[i] for i in np.flatnonzero(bad)]
    raise DataError(f"{source}: non-finite samples (NaN or inf) in channel(s) {names}")
  if is_segment:
    if signals.sfreq != settings.sfreq:
      raise DataError(f"{source}: pre-cut segment at {signals.sfreq:g} Hz; segments are not "
                      f"resampled and must already be at {settings.sfreq:g} Hz")
    filtered = data.copy()
  else:
    filtered = filter_resample(data, means, signals.sfreq, settings, source=source)
  zscored, flat = zscore(filtered, source=source)
  return Preprocessed(zscored, settings.sfreq,
                      tuple(signals.channel_names[i] for i in np.flatnonzero(flat)))


def zero_phase_gain(freqs_hz: np.ndarray, band_hz: tuple[float, float], order: int) -> np.ndarray:
  """G(f) of the module docstring at `freqs_hz` (>= 0), float64; G(0) = 0."""
  f = np.asarray(freqs_hz, dtype=np.float64)
  lo, hi = band_hz
  with np.errstate(divide="ignore"):
    high_pass = np.where(f > 0, 1.0 / (1.0 + (lo / f) ** (2 * order)), 0.0)
  low_pass = 1.0 / (1.0 + (f / hi) ** (2 * order))
  return high_pass * low_pass


def filter_resample(data: np.ndarray, means: np.ndarray, sfreq_in: float,
                    settings: PreprocessSettings, *, source: str | Path) -> np.ndarray:
  """Zero-phase band-pass and resample, one rfft/irfft pair per block (module docstring).

  Recordings longer than one FFT block (~2^18 samples) are cut into blocks that
  overlap by the padding on each side, and each block keeps only its core.

  Args:
    data: (C, n) float32 samples at `sfreq_in` Hz.
    means: (C,) per-channel means of `data` (removed before padding).
    sfreq_in: native rate in Hz.
    settings: target rate `settings.sfreq` and band.
    source: named in errors.

  Returns:
    (C, ceil(n * sfreq_out / sfreq_in)) float32, sample k at time k / sfreq_out.
  """
  p, q = resample_ratio(sfreq_in, settings.sfreq, source=source)
  n = data.shape[1]
  # Pads are whole multiples of q samples so block cores start on output samples.
  pad = q * math.ceil(_PAD_CYCLES / settings.band_hz[0] * sfreq_in / q)
  length = min(n + 2 * pad, max(_BLOCK, 8 * pad))
  n_fft_in = q * scipy.fft.next_fast_len(math.ceil(length / q), real=True)
  n_fft_out = n_fft_in // q * p
  core = n_fft_in - 2 * pad
  gain = zero_phase_gain(np.arange(n_fft_out // 2 + 1) * (sfreq_in / n_fft_in),
                         settings.band_hz, settings.order)
  gain = (gain * (n_fft_out / n_fft_in)).astype(np.float32)  # irfft divides by n_fft_out
  # Allocated at FFT length when one block covers everything: no copy inside rfft.
  padded = _odd_pad(data, means, pad, n_fft_in)
  n_out, skip = -(-n * p // q), pad * p // q
  if n <= core:
    return _filter_block(padded, n_fft_in, n_fft_out, gain)[:, skip:skip + n_out]
  out = np.empty((data.shape[0], n_out), np.float32)
  for start in range(0, n, core):
    block = _filter_block(padded[:, start:start + core + 2 * pad], n_fft_in, n_fft_out, gain)
    lo = start * p // q
    hi = min(n_out, lo + core * p // q)
    out[:, lo:hi] = block[:, skip:skip + hi - lo]
  return out


def _filter_block(block: np.ndarray, n_fft_in: int, n_fft_out: int,
                  gain: np.ndarray) -> np.ndarray:
  """(C, <= n_fft_in) float32 -> (C, n_fft_out): zero-filled rfft, times `gain`
  ((n_fft_out // 2 + 1,) float32), spectrum cut or zero-extended, irfft."""
  spectrum = scipy.fft.rfft(block, n=n_fft_in, axis=1)
  if len(gain) > spectrum.shape[1]:  # upsampling: zero bins above the input's Nyquist
    spectrum = np.pad(spectrum, ((0, 0), (0, len(gain) - spectrum.shape[1])))
  spectrum = spectrum[:, :len(gain)]
  spectrum *= gain
  return scipy.fft.irfft(spectrum, n=n_fft_out, axis=1, overwrite_x=True)


def resample_ratio(sfreq_in: float, sfreq_out: float, *, source: str | Path) -> tuple[int, int]:
  """(p, q) with sfreq_out / sfreq_in = p / q in lowest terms, both <= 1000."""
  if not (sfreq_in > 0 and math.isfinite(sfreq_in)):
    raise DataError(f"{source}: sampling rate {sfreq_in!r} Hz; expected a positive number")
  exact = Fraction(sfreq_out) / Fraction(sfreq_in)
  ratio = exact.limit_denominator(_MAX_RATIO_TERM)
  if ratio.numerator > _MAX_RATIO_TERM or abs(ratio - exact) > 1e-9 * exact:
    raise DataError(f"{source}: cannot resample {sfreq_in:g} Hz to {sfreq_out:g} Hz: the ratio "
                    f"is not a fraction p/q with p, q <= {_MAX_RATIO_TERM}")
  return ratio.numerator, ratio.denominator


def zscore(data: np.ndarray, *, source: str | Path) -> tuple[np.ndarray, np.ndarray]:
  """Per-channel z-score of (C, T) float32 `data`, IN PLACE.

  Returns:
    (`data` z-scored, (C,) bool mask of flat channels, which are set to zeros).
  """
  data -= data.mean(axis=1, keepdims=True)
  # float32 accumulation is plenty for a scale factor (relative error ~1e-6).
  stds = np.sqrt(np.einsum("ct,ct->c", data, data) / data.shape[1])
  return scale_to_unit(data, stds, source=source)


def scale_to_unit(centred: np.ndarray, stds: np.ndarray, *,
                  source: str | Path) -> tuple[np.ndarray, np.ndarray]:
  """Divides each channel of mean-removed (C, T) float32 `centred` by its std, IN PLACE.

  The second half of `zscore`, for statistics measured elsewhere (streamed
  detection measures them over a whole recording, then scales block by block).

  Args:
    centred: (C, T) float32, each channel's recording mean already removed.
    stds: (C,) the channels' standard deviations over the recording.
    source: named in errors.

  Returns:
    (`centred` scaled, (C,) bool mask of flat channels, which are set to zeros).

  Raises:
    DataError: every channel is flat.
  """
  stds = np.asarray(stds)
  flat = stds <= _FLAT_RELATIVE_STD * stds.max()
  if flat.all():
    raise DataError(f"{source}: every channel is flat (zero variance after filtering)")
  scale = np.where(flat, 0.0, 1.0 / np.where(flat, 1.0, stds)).astype(np.float32)
  centred *= scale[:, None]
  return centred, flat


def _odd_pad(data: np.ndarray, means: np.ndarray, pad: int, min_length: int) -> np.ndarray:
  """(C, n) -> (C, max(n + 2 pad, min_length)) float32: `pad` samples, then
  `data - means`, then `pad` samples, the pads an odd reflection about each end
  (at most n - 1 samples; zeros beyond and after)."""
  c, n = data.shape
  out = np.zeros((c, max(n + 2 * pad, min_length)), np.float32)
  body = out[:, pad:pad + n]
  body[:] = data
  body -= means[:, None].astype(np.float32)
  width = min(pad, n - 1)
  if width:
    out[:, pad - width:pad] = 2 * body[:, :1] - body[:, width:0:-1]
    out[:, pad + n:pad + n + width] = 2 * body[:, -1:] - body[:, -2:-2 - width:-1]
  return out
