"""Synthetic EEG written as real EDF files in the CHB-MIT layout: a seizure benchmark amplitude does not solve.

`generate(root)` writes `root/chbNN/chbNN_MM.edf`, one `root/chbNN/chbNN-summary.txt`
per patient in the format of PhysioNet's CHB-MIT summaries, and the manifest
`root/synthetic.json`, so tests and the demo go through the real CHB-MIT reader.

Each patient has (traits from `numpy.random.default_rng([seed, patient])`):
* a background of its own: 1/f^beta noise (s = 10-40 µV, beta 1.3-2.4) mixed
  across the 21 referential electrodes with an exponential spatial correlation
  (length 0.6 head radii, neighbours correlate ~0.4), waxing and waning
  posterior alpha (8-12 Hz, 0.3-0.9 x s), intermittent diffuse theta (4-7 Hz
  bursts, up to 0.3 x s, as in drowsiness) and a little 60 Hz mains;
* a seizure focus, recorded per patient in the manifest (`foci`): focal (75 %),
  the 5-10 electrode pairs nearest a centre electrode (mostly temporal or
  fronto-temporal, `_FOCUS_CENTRES`), relative gain 1 at the nearest down to
  0.4 at the farthest; or generalised (25 %), every pair, gains 0.5-1. All
  seizures of a patient come from its focus (stereotyped seizures);
* a seizure amplitude: the discharge's RMS at full development over each focus
  channel's background RMS (robust: 1.4826 x median absolute deviation) is a
  patient median (log-uniform 1-2) times a per-seizure factor (log-uniform
  0.7-1.5), so 0.7-3 x, times the channel's gain (+-15 % per seizure);
* artefacts, at patient-specific sizes and rates: eye blinks (frontal, 3-8 x s),
  bursts of 20-100 Hz muscle activity (temporal, 0.7-2 x s), chewing (2-8 s runs
  of 1-2 Hz muscle bursts on both temporal sides, 1.5-4 x s), electrode pops (a
  step at one electrode decaying over 0.05-0.3 s, 3-10 x s, seen in every
  channel that uses it).

Each recording (`default_rng([seed, patient, recording])`):
* the 23 bipolar channels are differences of the electrode signals (the two
  `T8-P8` are identical, `P7-T7` is minus `T7-P7`, as in the real recordings);
* seizures, each of a morphology drawn uniformly from `MORPHOLOGIES` (recorded
  in the manifest): "rhythmic", evolving rhythmic theta to delta (5-8 Hz gliding
  to 2.5-4 Hz while the waves sharpen into spike-and-wave); "spike_wave", 2.5-3.5 Hz
  spike-and-wave from the onset; "fast", a low-voltage fast onset (14-25 Hz at 50-70 %
  of the later amplitude over the first 20-35 %) evolving into rhythmic theta and
  delta. A discharge ramps in and out over 1-2 s and grows from 70 % to 100 %;
  the focus channels share one waveform with small per-pair lags (+-0.4 rad) and
  gains. They are added to the focus channels only, so a channel-importance map
  can be checked patient by patient;
* half the recordings have one bad channel over a stretch of 20-60 % of the
  recording (recorded in the manifest as `bad_channel`): "flat" (an electrode
  pair bridged: that bipolar channel, and its reversed copy, read 0, seizures
  included) or "noisy" (one electrode picks up broadband noise at 3-6 x s, in
  every channel that uses it).
Even-numbered patients have a dummy `-` channel (flat) as 5th signal, as some
CHB-MIT files do; patients from chb03 on number their seizures in the summary
(`Seizure 1 Start Time:`), as the later CHB-MIT summaries do. The last recording
of chb01 has no seizure (unless it is the only recording). The same arguments
give byte-identical files.

Amplitude alone does not solve it (seizures can be smaller than the artefacts),
nor do per-channel band powers (foci differ between patients, artefacts share
the seizures' bands): benchmarks/synthetic_difficulty.py measures both
against the demo's models.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.special

from jclip_eeg.data.channels import CHBMIT_LABELS
from jclip_eeg.data.edf import DEFAULT_START, write_edf
from jclip_eeg.errors import ConfigError, DataError

MANIFEST = "synthetic.json"
MORPHOLOGIES: tuple[str, ...] = ("rhythmic", "spike_wave", "fast")
FOCUS_KINDS: tuple[str, ...] = ("focal", "generalised")
DUMMY_LABEL = "-"
DUMMY_INDEX = 4  # the dummy channel is stored as the 5th signal

# Approximate 2-D scalp positions (x to the right, y to the nose; head radius 1).
_POSITIONS: dict[str, tuple[float, float]] = {
    "FP1": (-0.31, 0.95), "FP2": (0.31, 0.95), "F7": (-0.81, 0.59), "F8": (0.81, 0.59),
    "F3": (-0.40, 0.55), "F4": (0.40, 0.55), "FZ": (0.0, 0.50), "FT9": (-1.05, 0.31),
    "FT10": (1.05, 0.31), "T7": (-1.0, 0.0), "T8": (1.0, 0.0), "C3": (-0.50, 0.0),
    "C4": (0.50, 0.0), "CZ": (0.0, 0.0), "P7": (-0.81, -0.59), "P8": (0.81, -0.59),
    "P3": (-0.40, -0.55), "P4": (0.40, -0.55), "PZ": (0.0, -0.50),
    "O1": (-0.31, -0.95), "O2": (0.31, -0.95),
}
ELECTRODES: tuple[str, ...] = tuple(_POSITIONS)
_CORRELATION_LENGTH = 0.6
# Electrode weights of the artefact and rhythm sources (others 0).
_BLINK = {"FP1": 1.0, "FP2": 1.0, "F7": 0.4, "F8": 0.4, "F3": 0.3, "F4": 0.3,
          "FZ": 0.3, "FT9": 0.1, "FT10": 0.1}
_ALPHA = ({"O1": 1.0, "P7": 0.5, "P3": 0.6, "PZ": 0.5, "C3": 0.15},
          {"O2": 1.0, "P8": 0.5, "P4": 0.6, "PZ": 0.5, "C4": 0.15})
_MUSCLE = ({"T7": 1.0, "FT9": 1.0, "F7": 0.6}, {"T8": 1.0, "FT10": 1.0, "F8": 0.6})
_CHEW = ({"T7": 1.0, "FT9": 1.0, "F7": 0.7, "P7": 0.3}, {"T8": 1.0, "FT10": 1.0, "F8": 0.7, "P8": 0.3})
# Seizure placement: seconds kept free at both ends and between seizures.
_EDGE_S, _GAP_S = 10, 10
_MIN_SEIZURE_S = 8  # room for the onset and offset ramps (up to 3 s each)
_GENERALISED_SHARE = 0.25
# Relative chance of each electrode to be a focus centre: mostly temporal (as in most focal epilepsies).
_FOCUS_CENTRES = {"T7": 6.0, "T8": 6.0, "F7": 4.0, "F8": 4.0, "FT9": 2.0, "FT10": 2.0, "P7": 2.0, "P8": 2.0,
                  "F3": 1.0, "F4": 1.0, "C3": 1.0, "C4": 1.0, "P3": 1.0, "P4": 1.0,
                  "FP1": 0.5, "FP2": 0.5, "O1": 0.5, "O2": 0.5, "FZ": 0.5, "CZ": 0.5, "PZ": 0.5}
_BAD_CHANNEL_SHARE = 0.5
# The repeated T8-P8 is written as a copy of the first; seizures and defects go to the first.
_REPEAT = len(CHBMIT_LABELS) - 1


def _pair_signs(channels: Sequence[str]) -> tuple[tuple[tuple[str, str], ...], np.ndarray, np.ndarray]:
  """Distinct unordered electrode pairs of `channels`, and each channel's pair id and sign (`P7-T7` = -`T7-P7`)."""
  keys: dict[tuple[str, str], int] = {}
  ids, signs = [], []
  for label in channels:
    a, b = label.split("-")
    key = tuple(sorted((a, b)))
    ids.append(keys.setdefault(key, len(keys)))
    signs.append(1.0 if (a, b) == key else -1.0)
  return tuple(keys), np.array(ids), np.array(signs)


_PAIRS, _PAIR_OF, _SIGN = _pair_signs(CHBMIT_LABELS)


@dataclasses.dataclass(frozen=True)
class SeizureFocus:
  """Where one patient's seizures sit.

  Attributes:
    kind: "focal" or "generalised".
    channels: the CHB-MIT labels that carry them, in `CHBMIT_LABELS` order (both
      `T7-P7` and `P7-T7` when their pair is in the focus; `T8-P8` once, though
      stored twice).
    gains: (len(channels),) relative amplitude of each, in (0, 1].
  """
  kind: str
  channels: tuple[str, ...]
  gains: tuple[float, ...]

  def to_json(self) -> dict[str, Any]:
    return {"kind": self.kind, "channels": list(self.channels), "gains": list(self.gains)}


@dataclasses.dataclass(frozen=True)
class BadChannel:
  """A stretch of one recording where a channel misbehaves.

  Attributes:
    kind: "flat" or "noisy".
    channels: affected CHB-MIT labels (`T8-P8` once).
    start_s, end_s: the stretch in seconds.
  """
  kind: str
  channels: tuple[str, ...]
  start_s: float
  end_s: float

  def to_json(self) -> dict[str, Any]:
    return dataclasses.asdict(self) | {"channels": list(self.channels)}


@dataclasses.dataclass(frozen=True)
class SyntheticRecording:
  """One written file.

  Attributes:
    recording_id: file stem, e.g. "chb01_02".
    patient: e.g. "chb01".
    path: the EDF file.
    labels: signal labels as stored (the 23 CHB-MIT labels, maybe plus `-`).
    duration_s: length in seconds.
    seizures: (start_s, end_s) of each seizure, whole seconds, sorted.
    morphologies: one of `MORPHOLOGIES` per seizure.
    bad_channel: the recording's bad stretch, or None.
  """
  recording_id: str
  patient: str
  path: Path
  labels: tuple[str, ...]
  duration_s: float
  seizures: tuple[tuple[float, float], ...]
  morphologies: tuple[str, ...]
  bad_channel: BadChannel | None


@dataclasses.dataclass(frozen=True)
class SyntheticManifest:
  """What `generate` wrote (also stored as `root/synthetic.json`); `foci` maps patient -> focus."""
  root: Path
  seed: int
  sfreq: float
  channel_names: tuple[str, ...]
  foci: Mapping[str, SeizureFocus]
  recordings: tuple[SyntheticRecording, ...]

  @property
  def patients(self) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r.patient for r in self.recordings))


@dataclasses.dataclass(frozen=True)
class _Patient:
  """Per-patient traits (amplitudes in µV, rates in events per second, frequencies in Hz)."""
  scale_uv: float
  beta: float
  alpha_hz: float
  alpha_uv: float
  theta_uv: float
  mains_uv: float
  blink_uv: float
  blink_rate: float
  muscle_uv: float
  muscle_rate: float
  chew_uv: float
  chew_rate: float
  pop_uv: float
  pop_rate: float
  seizure_ratio: float  # discharge RMS over background RMS at full development
  sharpness: float  # von Mises concentration the spikes reach
  pair_gain: np.ndarray  # (len(_PAIRS),) relative seizure gain, 0 outside the focus
  pair_phase: np.ndarray  # (len(_PAIRS),) radians
  focus: SeizureFocus


# ----------------------------------------------------------------------------- noise


def _shaped_noise(rng: np.random.Generator, rows: int, n: int, amplitude: np.ndarray) -> np.ndarray:
  """(rows, n) float32 unit-variance noise whose amplitude spectrum is `amplitude`.

  `amplitude` has one value per `rfftfreq(n)` bin; DC and Nyquist are zeroed.
  Random-phase synthesis (fixed amplitudes, uniform phases): a sum of many
  sinusoids, Gaussian for all practical purposes, and ~10x cheaper than drawing
  Gaussian spectra.
  """
  shape = np.array(amplitude, dtype=np.float32)
  shape[0] = 0.0
  shape[-1] = 0.0
  phase = rng.random((rows, shape.size), dtype=np.float32) * np.float32(2 * np.pi)
  spectrum = np.empty(phase.shape, dtype=np.complex64)
  spectrum.real = shape * np.cos(phase)
  spectrum.imag = shape * np.sin(phase)
  # irfft of s_k exp(i theta_k) has variance 2 sum(s_k^2) / n^2.
  return np.fft.irfft(spectrum, n=n) * np.float32(n / np.sqrt(2.0 * np.sum(shape.astype(float)**2)))


def _band(n: int, sfreq: float, low: float, high: float) -> np.ndarray:
  """Flat amplitude spectrum between `low` and `high` Hz over `rfftfreq(n, 1/sfreq)`."""
  freqs = np.fft.rfftfreq(n, 1.0 / sfreq)
  return ((freqs >= low) & (freqs <= high)).astype(float)


def _envelope(rng: np.random.Generator, n: int, sfreq: float, depth: float) -> np.ndarray:
  """(n,) slow positive modulation 1 + depth * (noise below 0.2 Hz), floored at 0."""
  slow = _shaped_noise(rng, 1, n, _band(n, sfreq, 0.0, 0.2))[0]
  return np.maximum(1.0 + depth * slow, 0.0)


def _weights(spec: dict[str, float]) -> np.ndarray:
  """(len(ELECTRODES),) electrode weights from a sparse {electrode: weight}."""
  return np.array([spec.get(e, 0.0) for e in ELECTRODES])


def _spatial_mixing() -> np.ndarray:
  """(E, E) Cholesky factor of exp(-distance / length) between electrodes."""
  xy = np.array([_POSITIONS[e] for e in ELECTRODES])
  distance = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
  return np.linalg.cholesky(np.exp(-distance / _CORRELATION_LENGTH))


def _event_times(rng: np.random.Generator, rate: float, duration_s: float) -> np.ndarray:
  """Sorted Poisson event times in seconds."""
  return np.sort(rng.uniform(0.0, duration_s, rng.poisson(rate * duration_s)))


def _tapered(n: int, rise: float, fall: float) -> np.ndarray:
  """(n,) window: raised-cosine rise over `rise` samples, 1, raised-cosine fall over `fall`."""
  ramp = np.minimum(1.0, np.minimum(np.arange(n) / rise, np.arange(n)[::-1] / fall))
  return 0.5 - 0.5 * np.cos(np.pi * ramp)


def _add_pulse(envelope: np.ndarray, first: int, pulse: np.ndarray) -> None:
  """envelope[first:first + len(pulse)] = max(itself, pulse), clipped at the end, IN PLACE."""
  part = pulse[:max(envelope.size - first, 0)]
  envelope[first:first + part.size] = np.maximum(envelope[first:first + part.size], part)


# ----------------------------------------------------------------------------- artefacts


def _blinks(rng: np.random.Generator, p: _Patient, n: int, sfreq: float) -> np.ndarray:
  """(n,) blink potential at FP1/FP2: fast rise, slower fall, 0.3-0.5 s long."""
  times = _event_times(rng, p.blink_rate, n / sfreq)
  impulses = np.zeros(n)
  np.add.at(impulses, (times * sfreq).astype(int), rng.uniform(0.6, 1.0, times.size))
  t = np.arange(int(0.6 * sfreq)) / sfreq
  kernel = (t / 0.08) * np.exp(1.0 - t / 0.08)  # peak 1 at 80 ms
  return p.blink_uv * np.convolve(impulses, kernel)[:n]


def _bursts(rng: np.random.Generator, rate: float, n: int, sfreq: float) -> np.ndarray:
  """(n,) 0..1 envelope of 0.5-3 s bursts with tapered edges."""
  envelope = np.zeros(n)
  for start in _event_times(rng, rate, n / sfreq):
    length = int(rng.uniform(0.5, 3.0) * sfreq)
    _add_pulse(envelope, int(start * sfreq), _tapered(length, length / 4, length / 4))
  return envelope


def _chewing(rng: np.random.Generator, rate: float, n: int, sfreq: float) -> np.ndarray:
  """(n,) 0..1 envelope of chewing: runs of 2-8 s of 0.15-0.3 s bursts at 1-2 Hz."""
  envelope = np.zeros(n)
  for start in _event_times(rng, rate, n / sfreq):
    period, burst = 1.0 / rng.uniform(1.0, 2.0), int(rng.uniform(0.15, 0.3) * sfreq)
    for bite in start + np.arange(0.0, rng.uniform(2.0, 8.0), period):
      _add_pulse(envelope, int(bite * sfreq), _tapered(burst, burst / 3, burst / 3))
  return envelope


def _pops(rng: np.random.Generator, p: _Patient, n: int, sfreq: float) -> np.ndarray:
  """(E, n) electrode pops: a step of +-(0.5-1) x pop_uv at one electrode decaying over 0.05-0.3 s."""
  x = np.zeros((len(ELECTRODES), n))
  for start in _event_times(rng, p.pop_rate, n / sfreq):
    electrode, tau = rng.integers(len(ELECTRODES)), rng.uniform(0.05, 0.3) * sfreq
    size = p.pop_uv * rng.uniform(0.5, 1.0) * rng.choice([-1.0, 1.0])
    first = int(start * sfreq)
    decay = size * np.exp(-np.arange(min(int(6 * tau), n - first)) / tau)
    x[electrode, first:first + decay.size] += decay
  return x


def _muscle(rng: np.random.Generator, envelopes: np.ndarray, sides: Sequence[dict[str, float]],
            n: int, sfreq: float) -> np.ndarray:
  """(E, n) 20-100 Hz muscle noise of unit variance on each side, modulated by envelopes (2, n)."""
  noise = _shaped_noise(rng, 2, n, _band(n, sfreq, 20.0, 100.0)) * envelopes
  return np.stack([_weights(w) for w in sides], axis=1) @ noise


def _electrodes(rng: np.random.Generator, p: _Patient, n: int, sfreq: float) -> np.ndarray:
  """(E, n) referential EEG in µV: background, alpha, theta, blinks, muscle, chewing, pops, mains."""
  freqs = np.fft.rfftfreq(n, 1.0 / sfreq)
  pink = (freqs**2 + 1.0) ** (-p.beta / 4.0)  # 1/f^beta power, flat below 1 Hz
  mixing = _spatial_mixing()
  x = p.scale_uv * (mixing @ _shaped_noise(rng, len(ELECTRODES), n, pink))
  alpha_shape = np.exp(-0.5 * ((freqs - p.alpha_hz) / 0.7) ** 2)
  alpha = _shaped_noise(rng, 2, n, alpha_shape) * _envelope(rng, n, sfreq, 0.6)
  x += p.alpha_uv * (np.stack([_weights(w) for w in _ALPHA], axis=1) @ alpha)
  theta = mixing @ _shaped_noise(rng, len(ELECTRODES), n, _band(n, sfreq, 4.0, 7.0))
  x += p.theta_uv * theta * np.maximum(_envelope(rng, n, sfreq, 1.5) - 1.0, 0.0)  # intermittent bursts
  x += _weights(_BLINK)[:, None] * _blinks(rng, p, n, sfreq)[None]
  bursts = np.stack([_bursts(rng, p.muscle_rate, n, sfreq) for _ in range(2)])
  x += p.muscle_uv * _muscle(rng, bursts, _MUSCLE, n, sfreq)
  chewing = _chewing(rng, p.chew_rate, n, sfreq)
  x += p.chew_uv * _muscle(rng, np.stack([chewing, chewing]), _CHEW, n, sfreq)
  x += _pops(rng, p, n, sfreq)
  mains = np.sin(2 * np.pi * 60.0 * np.arange(n) / sfreq + rng.uniform(0, 2 * np.pi))
  x += rng.uniform(0.5, p.mains_uv, (len(ELECTRODES), 1)) * mains[None]
  return x


def _bipolar(electrodes: np.ndarray) -> np.ndarray:
  """(len(CHBMIT_LABELS), n) bipolar derivations `A-B` = A - B from (E, n) sources."""
  index = {e: i for i, e in enumerate(ELECTRODES)}
  pairs = [label.split("-") for label in CHBMIT_LABELS]
  return (electrodes[[index[a] for a, _ in pairs]] - electrodes[[index[b] for _, b in pairs]])


def _labels_of_pairs(pairs: np.ndarray) -> tuple[str, ...]:
  """CHB-MIT labels (the repeated `T8-P8` once) whose electrode pair is in `pairs`."""
  return tuple(label for i, label in enumerate(CHBMIT_LABELS[:_REPEAT]) if _PAIR_OF[i] in pairs)


def _bad_channel(rng: np.random.Generator, p: _Patient, electrodes: np.ndarray,
                 duration_s: int, sfreq: float) -> tuple[BadChannel | None, np.ndarray | None]:
  """Draws the recording's bad stretch; a noisy electrode is added to `electrodes` IN PLACE.

  Returns the stretch and, for a flat one, the bipolar rows to zero (else None).
  """
  if rng.random() >= _BAD_CHANNEL_SHARE:
    return None, None
  length = int(rng.uniform(0.2, 0.6) * duration_s)
  start = int(rng.integers(0, duration_s - length + 1))
  lo, hi = int(start * sfreq), int((start + length) * sfreq)
  if rng.random() < 0.5:
    pair = int(rng.integers(len(_PAIRS)))
    rows = np.flatnonzero(_PAIR_OF[:_REPEAT] == pair)
    return BadChannel("flat", _labels_of_pairs(np.array([pair])), float(start), float(start + length)), rows
  electrode = ELECTRODES[int(rng.integers(len(ELECTRODES)))]
  level = p.scale_uv * rng.uniform(3.0, 6.0)
  electrodes[ELECTRODES.index(electrode), lo:hi] += level * _shaped_noise(
      rng, 1, hi - lo, _band(hi - lo, sfreq, 1.0, 100.0))[0]
  channels = tuple(label for label in CHBMIT_LABELS[:_REPEAT] if electrode in label.split("-"))
  return BadChannel("noisy", channels, float(start), float(start + length)), None


# ----------------------------------------------------------------------------- seizures


def _glide(n: int, start_hz: float, end_hz: float, jitter: np.ndarray) -> np.ndarray:
  """(n,) frequency gliding linearly from start_hz to end_hz plus `jitter` (n,) Hz."""
  return start_hz + (end_hz - start_hz) * np.arange(n) / n + jitter


def _trajectory(rng: np.random.Generator, p: _Patient, morphology: str, n: int,
                sfreq: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Per-sample frequency (Hz), spike concentration kappa and envelope of one discharge, each (n,).

  Spike-and-wave mixes in with kappa: kappa 0 is a pure sinusoid (module docstring).
  """
  u = np.arange(n) / n
  jitter = 0.3 * _shaped_noise(rng, 1, n, _band(n, sfreq, 0.0, 0.5))[0]
  if morphology == "rhythmic":
    hz = _glide(n, rng.uniform(5.0, 8.0), rng.uniform(2.5, 4.0), jitter)
    return hz, p.sharpness * u, np.ones(n)
  if morphology == "spike_wave":
    start_hz = rng.uniform(2.5, 3.5)
    return _glide(n, start_hz, 0.85 * start_hz, 0.3 * jitter), np.full(n, p.sharpness), np.ones(n)
  onset = int(rng.uniform(0.2, 0.35) * n)
  fast = rng.uniform(14.0, 25.0) * (1.0 + 0.05 * jitter[:onset])
  slow = _glide(n - onset, rng.uniform(5.5, 7.0), rng.uniform(3.0, 4.0), jitter[onset:])
  kappa = np.concatenate([np.zeros(onset), p.sharpness * np.arange(n - onset) / (n - onset)])
  envelope = np.concatenate([np.linspace(0.5, 0.7, onset), np.ones(n - onset)])
  return np.concatenate([fast, slow]), kappa, envelope


def _waveform(phase: np.ndarray, kappa: np.ndarray) -> np.ndarray:
  """Spike-and-wave of phase (rows, n) radians: von Mises spikes of concentration kappa (n,) plus a slow
  wave; kappa -> 0 leaves the wave, a sinusoid."""
  base = scipy.special.i0e(kappa)  # mean of exp(kappa (cos - 1)) over a cycle
  spike = (np.exp(kappa * (np.cos(phase) - 1.0)) - base) / np.maximum(1.0 - base, 1e-9)
  mix = np.minimum(kappa, 1.0)  # spikes fade in as kappa reaches 1
  return mix * 0.75 * spike + 0.5 * -np.cos(phase - 2.2)


def _discharge(rng: np.random.Generator, p: _Patient, morphology: str, rows: np.ndarray, background_rms: np.ndarray,
               length_s: int, sfreq: float) -> np.ndarray:
  """(len(rows), length_s * sfreq) discharge in µV on bipolar rows `rows`, background_rms (len(rows),) µV.

  The waveform is normalised to unit RMS, then scaled to seizure_ratio x a per-seizure factor (0.7-1.5) x the
  row's background RMS x its gain (+-15 % per seizure and per pair), grown from
  70 % to 100 % and ramped in and out with raised cosines.
  """
  n = int(length_s * sfreq)
  hz, kappa, envelope = _trajectory(rng, p, morphology, n, sfreq)
  pairs = _PAIR_OF[rows]
  phase = 2 * np.pi * np.cumsum(np.clip(hz, 1.5, 30.0)) / sfreq + p.pair_phase[pairs][:, None]
  wave = _waveform(phase, kappa) * envelope
  wave /= np.sqrt(np.mean(wave ** 2, axis=1, keepdims=True))
  ramp = _tapered(n, *(rng.uniform(1.0, 2.0, 2) * sfreq))
  gain = _SIGN[rows] * (p.pair_gain * rng.uniform(0.85, 1.15, len(_PAIRS)))[pairs]
  amplitude = p.seizure_ratio * np.exp(rng.uniform(np.log(0.7), np.log(1.5))) * background_rms * gain
  return amplitude[:, None] * wave * ((0.7 + 0.3 * np.arange(n) / n) * ramp)


def _place_seizures(rng: np.random.Generator, count: int, duration_s: int,
                    lengths_s: tuple[int, int]) -> list[tuple[int, int]]:
  """`count` non-overlapping (start, end) seconds, `_EDGE_S` from the ends, `_GAP_S` apart."""
  if count == 0:
    return []
  lengths = rng.integers(lengths_s[0], lengths_s[1] + 1, count)
  slack = duration_s - lengths.sum() - 2 * _EDGE_S - (count - 1) * _GAP_S
  shifts = np.sort(rng.integers(0, slack + 1, count))
  before = np.concatenate([[0], np.cumsum(lengths)[:-1]])  # seizure seconds before each
  starts = _EDGE_S + shifts + before + np.arange(count) * _GAP_S
  return [(int(s), int(s + n)) for s, n in zip(starts, lengths)]


# ----------------------------------------------------------------------------- patients


def _midpoints() -> np.ndarray:
  """(len(_PAIRS), 2) scalp position of each electrode pair (the midpoint of its electrodes)."""
  return np.array([np.mean([_POSITIONS[a], _POSITIONS[b]], axis=0) for a, b in _PAIRS])


def _draw_focus(rng: np.random.Generator) -> np.ndarray:
  """(len(_PAIRS),) seizure gain per electrode pair, 0 outside the focus (module docstring)."""
  if rng.random() < _GENERALISED_SHARE:
    return rng.uniform(0.5, 1.0, len(_PAIRS))
  weights = _weights(_FOCUS_CENTRES)
  centre = np.array(_POSITIONS[ELECTRODES[rng.choice(len(ELECTRODES), p=weights / weights.sum())]])
  centre += rng.normal(0.0, 0.1, 2)
  distance = np.linalg.norm(_midpoints() - centre, axis=1)
  nearest = np.argsort(distance, kind="stable")[:int(rng.integers(5, 11))]
  near = distance[nearest]
  gains = np.zeros(len(_PAIRS))
  gains[nearest] = 1.0 - 0.6 * (near - near[0]) / max(near[-1] - near[0], 1e-9)
  return gains


def _given_focus(rng: np.random.Generator, channels: Sequence[str]) -> np.ndarray:
  """(len(_PAIRS),) gains 0.7-1 on the pairs of `channels`, 0 elsewhere."""
  gains = np.zeros(len(_PAIRS))
  pairs = np.unique(_PAIR_OF[[CHBMIT_LABELS.index(c) for c in channels]])
  gains[pairs] = rng.uniform(0.7, 1.0, pairs.size)
  return gains


def _focus(pair_gain: np.ndarray) -> SeizureFocus:
  """The manifest's view of per-pair gains."""
  pairs = np.flatnonzero(pair_gain > 0)
  channels = _labels_of_pairs(pairs)
  kind = "generalised" if pairs.size == len(_PAIRS) else "focal"
  gains = tuple(float(pair_gain[_PAIR_OF[CHBMIT_LABELS.index(c)]]) for c in channels)
  return SeizureFocus(kind, channels, gains)


def _patient(rng: np.random.Generator, seizure_channels: Sequence[str] | None) -> _Patient:
  """Draws one patient's traits (module docstring)."""
  pair_gain = _draw_focus(rng) if seizure_channels is None else _given_focus(rng, seizure_channels)
  scale_uv = rng.uniform(10.0, 40.0)
  return _Patient(
      scale_uv=scale_uv, beta=rng.uniform(1.3, 2.4),
      alpha_hz=rng.uniform(8.0, 12.0), alpha_uv=scale_uv * rng.uniform(0.3, 0.9),
      theta_uv=scale_uv * rng.uniform(0.0, 0.3), mains_uv=rng.uniform(1.0, 5.0),
      blink_uv=scale_uv * rng.uniform(3.0, 8.0), blink_rate=rng.uniform(0.05, 0.3),
      muscle_uv=scale_uv * rng.uniform(0.7, 2.0), muscle_rate=rng.uniform(0.02, 0.1),
      chew_uv=scale_uv * rng.uniform(1.5, 4.0), chew_rate=rng.uniform(0.003, 0.015),
      pop_uv=scale_uv * rng.uniform(3.0, 10.0), pop_rate=rng.uniform(0.005, 0.03),
      seizure_ratio=float(np.exp(rng.uniform(np.log(1.0), np.log(2.0)))), sharpness=rng.uniform(4.0, 12.0),
      pair_gain=pair_gain, pair_phase=rng.uniform(-0.4, 0.4, len(_PAIRS)), focus=_focus(pair_gain))


def _robust_rms(x: np.ndarray) -> np.ndarray:
  """(C,) 1.4826 x median absolute deviation of each row of (C, n): the RMS of the background, artefacts aside."""
  return 1.4826 * np.median(np.abs(x - np.median(x, axis=1, keepdims=True)), axis=1)


def _recording(rng: np.random.Generator, p: _Patient, duration_s: int, sfreq: int,
               seizures: Sequence[tuple[int, int]], seizure_scale: float, dummy: bool
               ) -> tuple[list[np.ndarray], tuple[str, ...], BadChannel | None]:
  """C stored signals of duration_s * sfreq samples in µV (C = 23, or 24 with the dummy), the seizures'
  morphologies and the bad stretch. Discharges are multiplied by `seizure_scale`."""
  n = duration_s * sfreq
  electrodes = _electrodes(rng, p, n, sfreq)
  bad, flat_rows = _bad_channel(rng, p, electrodes, duration_s, sfreq)
  x = _bipolar(electrodes)
  rows = np.flatnonzero(p.pair_gain[_PAIR_OF[:_REPEAT]] > 0)
  morphologies = tuple(MORPHOLOGIES[int(k)] for k in rng.integers(len(MORPHOLOGIES), size=len(seizures)))
  background_rms = _robust_rms(x[rows])
  for (start, end), morphology in zip(seizures, morphologies):
    discharge = _discharge(rng, p, morphology, rows, background_rms, end - start, sfreq)
    x[rows, start * sfreq:end * sfreq] += seizure_scale * discharge
  if flat_rows is not None:
    x[flat_rows, int(bad.start_s * sfreq):int(bad.end_s * sfreq)] = 0.0
  # Both T8-P8 copies must carry the same samples, as in the real files.
  x[_REPEAT] = x[CHBMIT_LABELS.index("T8-P8")]
  signals = list(x)
  if dummy:
    signals.insert(DUMMY_INDEX, np.zeros(n))
  return signals, morphologies, bad


# ----------------------------------------------------------------------------- files


_Block = tuple[str, datetime.datetime, int, Sequence[tuple[int, int]]]


def _summary(patient_index: int, sfreq: int, labels: Sequence[str],
             blocks: Sequence[_Block]) -> str:
  """`chbNN-summary.txt` text; blocks are (file name, start, duration_s, seizures)."""
  lines = [f"Data Sampling Rate: {sfreq} Hz", "*" * 25, "", "Channels in EDF Files:",
           "*" * 22]
  lines += [f"Channel {k}: {label}" for k, label in enumerate(labels, 1)]
  lines += [""]
  numbered = patient_index >= 3
  for name, start, duration_s, seizures in blocks:
    end = start + datetime.timedelta(seconds=duration_s)
    lines += ["", f"File Name: {name}", f"File Start Time: {start:%H:%M:%S}",
              f"File End Time: {end:%H:%M:%S}",
              f"Number of Seizures in File: {len(seizures)}"]
    for k, (s, e) in enumerate(seizures, 1):
      tag = f"Seizure {k}" if numbered else "Seizure"
      lines += [f"{tag} Start Time: {s} seconds", f"{tag} End Time: {e} seconds"]
  return "\n".join(lines) + "\n"


def _write_text(path: Path, text: str) -> None:
  """Writes `text` atomically (temp file, then rename)."""
  tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
  tmp.write_text(text)
  os.replace(tmp, path)


def _remove_previous(root: Path) -> None:
  """Deletes the files a previous `generate` listed in `root`'s manifest."""
  manifest = root / MANIFEST
  if not manifest.exists():
    return
  try:
    previous = json.loads(manifest.read_text())
    files = [r["file"] for r in previous["recordings"]] + previous["summaries"]
  except (ValueError, KeyError, TypeError) as e:
    raise DataError(f"{manifest}: not a synthetic-data manifest ({e}); remove it or "
                    "choose another root") from None
  manifest.unlink()
  for name in files:
    (root / name).unlink(missing_ok=True)


def _check_args(n_patients: int, recordings_per_patient: int, duration_s: int,
                seizures_per_recording: tuple[int, int], seizure_duration_s: tuple[int, int],
                sfreq: int, seizure_channels: Sequence[str] | None, seizure_scale: float) -> None:
  """ConfigError naming the argument that cannot produce a valid dataset."""
  if not 1 <= n_patients <= 99 or not 1 <= recordings_per_patient <= 99:
    raise ConfigError("n_patients and recordings_per_patient must be in 1..99 "
                      f"(got {n_patients}, {recordings_per_patient})")
  if int(sfreq) != sfreq or sfreq < 128:  # 60 Hz mains must stay below Nyquist
    raise ConfigError(f"sfreq must be a whole number of Hz >= 128 (got {sfreq})")
  lo, hi = seizure_duration_s
  if not _MIN_SEIZURE_S <= lo <= hi:
    raise ConfigError(f"seizure_duration_s must be (min, max) with {_MIN_SEIZURE_S} <= "
                      f"min <= max (got {seizure_duration_s})")
  fewest, most = seizures_per_recording
  if not 0 <= fewest <= most:
    raise ConfigError(f"seizures_per_recording must be (min, max), 0 <= min <= max "
                      f"(got {seizures_per_recording})")
  if most and most * hi + 2 * _EDGE_S + (most - 1) * _GAP_S > duration_s:
    raise ConfigError(f"duration_s={duration_s} cannot hold {most} seizures of {hi} s "
                      f"({_EDGE_S} s from the ends, {_GAP_S} s apart)")
  if not seizure_scale >= 0:
    raise ConfigError(f"seizure_scale must be >= 0 (got {seizure_scale})")
  if seizure_channels is None:
    return
  unknown = [c for c in seizure_channels if c not in CHBMIT_LABELS]
  if not seizure_channels or unknown:
    raise ConfigError(f"seizure_channels must be None or CHB-MIT labels {list(CHBMIT_LABELS)}; "
                      f"unknown: {unknown or 'none given'}")


def _write_patient(root: Path, p: int, seed: int, sfreq: int, duration_s: int,
                   seizures_per_recording: tuple[int, int], seizure_duration_s: tuple[int, int],
                   seizure_channels: Sequence[str] | None, seizure_scale: float, seizure_free_last: bool,
                   recordings_per_patient: int) -> tuple[list[SyntheticRecording], Path, SeizureFocus]:
  """Writes patient `p`'s EDF files and summary; returns the recordings, the summary path and the focus."""
  patient = f"chb{p:02d}"
  folder = root / patient
  folder.mkdir(exist_ok=True)
  rng = np.random.default_rng([seed, p])
  traits = _patient(rng, seizure_channels)
  dummy = p % 2 == 0
  labels = (CHBMIT_LABELS[:DUMMY_INDEX] + (DUMMY_LABEL,) + CHBMIT_LABELS[DUMMY_INDEX:]
            if dummy else CHBMIT_LABELS)
  start = DEFAULT_START + datetime.timedelta(seconds=int(rng.integers(7 * 3600, 14 * 3600)))
  recordings, blocks = [], []
  for r in range(1, recordings_per_patient + 1):
    rng = np.random.default_rng([seed, p, r])
    fewest, most = (0, 0) if seizure_free_last and r == recordings_per_patient else (
        seizures_per_recording)
    seizures = _place_seizures(rng, int(rng.integers(fewest, most + 1)), duration_s,
                               seizure_duration_s)
    data, morphologies, bad = _recording(rng, traits, duration_s, sfreq, seizures, seizure_scale, dummy)
    name = f"{patient}_{r:02d}"
    path = write_edf(folder / f"{name}.edf", data, sfreq, labels, start=start)
    recordings.append(SyntheticRecording(
        recording_id=name, patient=patient, path=path, labels=labels,
        duration_s=float(duration_s), seizures=tuple((float(s), float(e)) for s, e in seizures),
        morphologies=morphologies, bad_channel=bad))
    blocks.append((path.name, start, duration_s, seizures))
    start += datetime.timedelta(seconds=duration_s + int(rng.integers(3, 10)))
  summary = folder / f"{patient}-summary.txt"
  _write_text(summary, _summary(p, sfreq, labels, blocks))
  return recordings, summary, traits.focus


def generate(root: str | os.PathLike, *, n_patients: int = 4, recordings_per_patient: int = 2,
             duration_s: int = 600, seizures_per_recording: tuple[int, int] = (1, 2),
             seizure_duration_s: tuple[int, int] = (20, 40), seed: int = 0, sfreq: int = 256,
             seizure_channels: Sequence[str] | None = None, seizure_scale: float = 1.0) -> SyntheticManifest:
  """Writes a synthetic CHB-MIT-layout dataset under `root` (see the module doc).

  Args:
    root: output folder (created). Files listed by a previous manifest there are
      removed first; anything else is left alone.
    n_patients: patients chb01, chb02, ...
    recordings_per_patient: files chbNN_01, chbNN_02, ... per patient.
    duration_s: length of every recording in seconds.
    seizures_per_recording: (min, max) seizures drawn per recording; chb01's last
      recording has none whatever this says (unless it is the only recording).
    seizure_duration_s: (min, max) whole seconds per seizure.
    seed: everything is a function of the arguments and this seed.
    sfreq: sampling rate in Hz.
    seizure_channels: None (default) draws each patient's focus (module doc);
      CHB-MIT bipolar labels give every patient that focal focus instead (with
      the reversed copy of a pair, `P7-T7` for `T7-P7`, added).
    seizure_scale: multiplies every discharge (>= 0): > 1 makes the data easier,
      0 writes the same recordings without them (the summaries still list the
      seizures), so the difference of two scales is the discharge alone.

  Returns:
    The manifest, also written to `root/synthetic.json` last, so a root with a
    manifest is complete.
  """
  seizure_channels = None if seizure_channels is None else tuple(seizure_channels)
  seizures_per_recording = tuple(seizures_per_recording)
  seizure_duration_s = tuple(seizure_duration_s)
  _check_args(n_patients, recordings_per_patient, duration_s, seizures_per_recording,
              seizure_duration_s, sfreq, seizure_channels, seizure_scale)
  root = Path(root)
  root.mkdir(parents=True, exist_ok=True)
  _remove_previous(root)
  recordings, summaries, foci = [], [], {}
  for p in range(1, n_patients + 1):
    written, summary, foci[f"chb{p:02d}"] = _write_patient(
        root, p, seed, sfreq, duration_s, seizures_per_recording, seizure_duration_s,
        seizure_channels, seizure_scale, seizure_free_last=p == 1 and n_patients * recordings_per_patient > 1,
        recordings_per_patient=recordings_per_patient)
    recordings += written
    summaries.append(summary)
  manifest = SyntheticManifest(root=root, seed=seed, sfreq=float(sfreq),
                               channel_names=CHBMIT_LABELS,
                               foci=foci, recordings=tuple(recordings))
  _write_text(root / MANIFEST, _manifest_json(manifest, summaries))
  return manifest


def load_foci(root: str | os.PathLike) -> dict[str, SeizureFocus]:
  """Each patient's seizure focus, from the manifest `root/synthetic.json` that `generate` wrote.

  Raises:
    DataError: no manifest there, or one without foci (written before foci were per patient).
  """
  manifest = Path(root) / MANIFEST
  if not manifest.is_file():
    raise DataError(f"{manifest}: no synthetic-data manifest; write the data with synthetic.generate")
  foci = json.loads(manifest.read_text()).get("foci")
  if not isinstance(foci, dict):
    raise DataError(f"{manifest}: no per-patient 'foci'; generate the data again")
  return {patient: SeizureFocus(f["kind"], tuple(f["channels"]), tuple(f["gains"])) for patient, f in foci.items()}


def _manifest_json(manifest: SyntheticManifest, summaries: Sequence[Path]) -> str:
  """The manifest as JSON, paths relative to the root."""
  root = manifest.root
  return json.dumps({
      "seed": manifest.seed,
      "sfreq": manifest.sfreq,
      "channel_names": list(manifest.channel_names),
      "patients": list(manifest.patients),
      "foci": {patient: focus.to_json() for patient, focus in manifest.foci.items()},
      "summaries": [str(s.relative_to(root)) for s in summaries],
      "recordings": [{
          "recording_id": r.recording_id, "patient": r.patient,
          "file": str(r.path.relative_to(root)), "labels": list(r.labels),
          "duration_s": r.duration_s, "seizures": [list(s) for s in r.seizures],
          "morphologies": list(r.morphologies),
          "bad_channel": None if r.bad_channel is None else r.bad_channel.to_json(),
      } for r in manifest.recordings],
  }, indent=1) + "\n"
