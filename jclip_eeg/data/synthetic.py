"""Synthetic EEG written as real EDF files in the CHB-MIT layout.

`generate(root)` writes `root/chbNN/chbNN_MM.edf`, one `root/chbNN/chbNN-summary.txt`
per patient in the format of PhysioNet's CHB-MIT summaries, and the manifest
`root/synthetic.json`, so tests and the demo go through the real CHB-MIT reader.

The signal model, per recording:
* one referential source per 10-20 electrode: 1/f^beta background mixed across
  electrodes with an exponential spatial correlation (length 0.6 head radii,
  neighbours correlate ~0.4), waxing and waning posterior alpha (8.5-11.5 Hz),
  eye blinks on the frontal electrodes, bursts of 20-100 Hz muscle activity on
  the temporal ones and a little 60 Hz mains;
* the 23 bipolar channels as differences of those sources (the two `T8-P8` are
  identical, `P7-T7` is minus `T7-P7`, as in the real recordings);
* seizures: rhythmic discharges whose frequency evolves from 6-8 Hz down to 3-4 Hz
  while sinusoidal waves sharpen into spike-and-wave, 3-5 x the background
  amplitude, ramped in and out over 1.5-3 s. They are added to the bipolar
  channels `seizure_channels` only (a left fronto-temporal focus by default,
  the same for every patient), so a channel-importance map can be checked.
Patients differ in background amplitude, 1/f exponent, alpha frequency, artefact
rates and seizure frequencies, gains and shapes. Even-numbered patients have a
dummy `-` channel (flat) as 5th signal, as some CHB-MIT files do; patients from
chb03 on number their seizures in the summary (`Seizure 1 Start Time:`), as the
later CHB-MIT summaries do. The last recording of chb01 has no seizure (unless
it is the only recording).

Patient traits come from `numpy.random.default_rng([seed, patient])` and each
recording from `default_rng([seed, patient, recording])`, so the same arguments
give byte-identical files.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.special

from jclip_eeg.data.channels import CHBMIT_LABELS
from jclip_eeg.data.edf import DEFAULT_START, write_edf
from jclip_eeg.errors import ConfigError, DataError

MANIFEST = "synthetic.json"
DEFAULT_SEIZURE_CHANNELS: tuple[str, ...] = (
    "FP1-F7", "F7-T7", "T7-P7", "FP1-F3", "F3-C3", "P7-T7", "T7-FT9")
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
# Electrode weights of the artefact and alpha sources (others 0).
_BLINK = {"FP1": 1.0, "FP2": 1.0, "F7": 0.4, "F8": 0.4, "F3": 0.3, "F4": 0.3,
          "FZ": 0.3, "FT9": 0.1, "FT10": 0.1}
_ALPHA = ({"O1": 1.0, "P7": 0.5, "P3": 0.6, "PZ": 0.5, "C3": 0.15},
          {"O2": 1.0, "P8": 0.5, "P4": 0.6, "PZ": 0.5, "C4": 0.15})
_MUSCLE = ({"T7": 1.0, "FT9": 1.0, "F7": 0.6}, {"T8": 1.0, "FT10": 1.0, "F8": 0.6})
# Seizure placement: seconds kept free at both ends and between seizures.
_EDGE_S, _GAP_S = 10, 10
_MIN_SEIZURE_S = 8  # room for the onset and offset ramps (up to 3 s each)


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
  """
  recording_id: str
  patient: str
  path: Path
  labels: tuple[str, ...]
  duration_s: float
  seizures: tuple[tuple[float, float], ...]


@dataclasses.dataclass(frozen=True)
class SyntheticManifest:
  """What `generate` wrote (also stored as `root/synthetic.json`)."""
  root: Path
  seed: int
  sfreq: float
  channel_names: tuple[str, ...]
  seizure_channels: tuple[str, ...]
  recordings: tuple[SyntheticRecording, ...]

  @property
  def patients(self) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r.patient for r in self.recordings))


@dataclasses.dataclass(frozen=True)
class _Patient:
  """Per-patient traits (amplitudes in µV, rates in events per second)."""
  scale_uv: float
  beta: float
  alpha_hz: float
  alpha_uv: float
  blink_uv: float
  blink_rate: float
  muscle_uv: float
  muscle_rate: float
  onset_hz: float
  end_hz: float
  sharpness: float
  seizure_gain: float
  # Seizure channels that share an electrode pair (T7-P7, P7-T7) share a gain
  # and phase; `sign` is -1 for the reversed one.
  pair_of: np.ndarray  # (len(seizure_channels),) int, index into the pair arrays
  sign: np.ndarray  # (len(seizure_channels),)
  pair_gain: np.ndarray  # (n_pairs,)
  pair_phase: np.ndarray  # (n_pairs,) radians


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


def _blinks(rng: np.random.Generator, p: _Patient, n: int, sfreq: float) -> np.ndarray:
  """(n,) blink potential at FP1/FP2: fast rise, slower fall, 0.3-0.5 s long."""
  times = _event_times(rng, p.blink_rate, n / sfreq)
  impulses = np.zeros(n)
  np.add.at(impulses, (times * sfreq).astype(int), rng.uniform(0.6, 1.0, times.size))
  t = np.arange(int(0.6 * sfreq)) / sfreq
  kernel = (t / 0.08) * np.exp(1.0 - t / 0.08)  # peak 1 at 80 ms
  return p.blink_uv * np.convolve(impulses, kernel)[:n]


def _tapered(n: int, rise: float, fall: float) -> np.ndarray:
  """(n,) window: raised-cosine rise over `rise` samples, 1, raised-cosine fall over `fall`."""
  ramp = np.minimum(1.0, np.minimum(np.arange(n) / rise, np.arange(n)[::-1] / fall))
  return 0.5 - 0.5 * np.cos(np.pi * ramp)


def _bursts(rng: np.random.Generator, rate: float, n: int, sfreq: float) -> np.ndarray:
  """(n,) 0..1 envelope of 0.5-3 s bursts with tapered edges."""
  envelope = np.zeros(n)
  for start in _event_times(rng, rate, n / sfreq):
    length = int(rng.uniform(0.5, 3.0) * sfreq)
    first = int(start * sfreq)
    window = _tapered(length, length / 4, length / 4)[:n - first]
    envelope[first:first + window.size] = np.maximum(envelope[first:first + window.size], window)
  return envelope


def _electrodes(rng: np.random.Generator, p: _Patient, n: int, sfreq: float) -> np.ndarray:
  """(E, n) referential EEG in µV: background, alpha, blinks, muscle, mains."""
  freqs = np.fft.rfftfreq(n, 1.0 / sfreq)
  pink = (freqs**2 + 1.0) ** (-p.beta / 4.0)  # 1/f^beta power, flat below 1 Hz
  x = p.scale_uv * (_spatial_mixing() @ _shaped_noise(rng, len(ELECTRODES), n, pink))
  alpha_shape = np.exp(-0.5 * ((freqs - p.alpha_hz) / 0.7) ** 2)
  alpha = _shaped_noise(rng, 2, n, alpha_shape) * _envelope(rng, n, sfreq, 0.6)
  x += p.alpha_uv * (np.stack([_weights(w) for w in _ALPHA], axis=1) @ alpha)
  x += _weights(_BLINK)[:, None] * _blinks(rng, p, n, sfreq)[None]
  muscle = _shaped_noise(rng, 2, n, _band(n, sfreq, 20.0, 100.0))
  muscle *= np.stack([_bursts(rng, p.muscle_rate, n, sfreq) for _ in range(2)])
  x += p.muscle_uv * (np.stack([_weights(w) for w in _MUSCLE], axis=1) @ muscle)
  mains = np.sin(2 * np.pi * 60.0 * np.arange(n) / sfreq + rng.uniform(0, 2 * np.pi))
  x += rng.uniform(0.5, 3.0, (len(ELECTRODES), 1)) * mains[None]
  return x


def _bipolar(electrodes: np.ndarray) -> np.ndarray:
  """(len(CHBMIT_LABELS), n) bipolar derivations `A-B` = A - B from (E, n) sources."""
  index = {e: i for i, e in enumerate(ELECTRODES)}
  pairs = [label.split("-") for label in CHBMIT_LABELS]
  return (electrodes[[index[a] for a, _ in pairs]] - electrodes[[index[b] for _, b in pairs]])


# ----------------------------------------------------------------------------- seizures


def _discharge(rng: np.random.Generator, p: _Patient, length_s: int, sfreq: float) -> np.ndarray:
  """(len(seizure_channels), length_s * sfreq) evolving rhythmic discharge in µV.

  Frequency glides from `onset_hz` to `end_hz` with slow jitter; waves sharpen
  into spike-and-wave (von Mises spikes plus a slow wave); amplitude grows from
  60 % to 100 % and is ramped in and out with raised cosines.
  """
  n = int(length_s * sfreq)
  u = np.arange(n) / n
  jitter = 0.3 * _shaped_noise(rng, 1, n, _band(n, sfreq, 0.0, 0.5))[0]
  hz = np.clip(p.onset_hz + (p.end_hz - p.onset_hz) * u + jitter, 2.5, 9.0)
  phase = 2 * np.pi * np.cumsum(hz) / sfreq + p.pair_phase[p.pair_of][:, None]
  kappa = 1.0 + (p.sharpness - 1.0) * u
  base = scipy.special.i0e(kappa)  # mean of exp(kappa (cos - 1)) over a cycle
  spike = (np.exp(kappa * (np.cos(phase) - 1.0)) - base) / (1.0 - base)
  wave = -np.cos(phase - 2.2)
  ramp = _tapered(n, *(rng.uniform(1.5, 3.0, 2) * sfreq))
  gain = p.sign * (p.pair_gain * rng.uniform(0.85, 1.15, p.pair_gain.size))[p.pair_of]
  amplitude = p.scale_uv * p.seizure_gain * rng.uniform(0.85, 1.15)
  return amplitude * gain[:, None] * (0.75 * spike + 0.5 * wave) * ((0.6 + 0.4 * u) * ramp)


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


def _pair_signs(channels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
  """Each channel's unordered electrode pair id and sign (`P7-T7` = -`T7-P7`)."""
  keys, ids, signs = {}, [], []
  for label in channels:
    a, b = label.split("-")
    key = tuple(sorted((a, b)))
    ids.append(keys.setdefault(key, len(keys)))
    signs.append(1.0 if (a, b) == key else -1.0)
  return np.array(ids), np.array(signs)


def _patient(rng: np.random.Generator, seizure_channels: Sequence[str]) -> _Patient:
  """Draws one patient's traits."""
  pair_of, sign = _pair_signs(seizure_channels)
  n_pairs = pair_of.max() + 1
  return _Patient(
      scale_uv=rng.uniform(15.0, 30.0), beta=rng.uniform(1.6, 2.2),
      alpha_hz=rng.uniform(8.5, 11.5), alpha_uv=rng.uniform(8.0, 20.0),
      blink_uv=rng.uniform(80.0, 200.0), blink_rate=rng.uniform(0.05, 0.25),
      muscle_uv=rng.uniform(10.0, 30.0), muscle_rate=rng.uniform(0.02, 0.08),
      onset_hz=rng.uniform(6.0, 8.0), end_hz=rng.uniform(3.0, 4.0),
      sharpness=rng.uniform(4.0, 12.0), seizure_gain=rng.uniform(3.0, 5.0),
      pair_of=pair_of, sign=sign, pair_gain=rng.uniform(0.7, 1.0, n_pairs),
      pair_phase=rng.uniform(-0.4, 0.4, n_pairs))


def _recording(rng: np.random.Generator, p: _Patient, duration_s: int, sfreq: int,
               seizures: Sequence[tuple[int, int]], seizure_rows: Sequence[int],
               dummy: bool) -> list[np.ndarray]:
  """C stored signals of duration_s * sfreq samples in µV (C = 23, or 24 with the dummy)."""
  n = duration_s * sfreq
  x = _bipolar(_electrodes(rng, p, n, sfreq))
  for start, end in seizures:
    x[seizure_rows, start * sfreq:end * sfreq] += _discharge(rng, p, end - start, sfreq)
  # Both T8-P8 copies must carry the same samples, as in the real files.
  x[len(CHBMIT_LABELS) - 1] = x[CHBMIT_LABELS.index("T8-P8")]
  rows = list(x)
  if dummy:
    rows.insert(DUMMY_INDEX, np.zeros(n))
  return rows


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
                sfreq: int, seizure_channels: Sequence[str]) -> None:
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
  unknown = [c for c in seizure_channels if c not in CHBMIT_LABELS]
  if not seizure_channels or unknown:
    raise ConfigError(f"seizure_channels must be CHB-MIT labels {list(CHBMIT_LABELS)}; "
                      f"unknown: {unknown or 'none given'}")


def _write_patient(root: Path, p: int, seed: int, sfreq: int, duration_s: int,
                   seizures_per_recording: tuple[int, int], seizure_duration_s: tuple[int, int],
                   seizure_channels: Sequence[str], seizure_free_last: bool,
                   recordings_per_patient: int) -> tuple[list[SyntheticRecording], Path]:
  """Writes patient `p`'s EDF files and summary; returns the recordings and the summary path."""
  patient = f"chb{p:02d}"
  folder = root / patient
  folder.mkdir(exist_ok=True)
  rng = np.random.default_rng([seed, p])
  traits = _patient(rng, seizure_channels)
  dummy = p % 2 == 0
  labels = (CHBMIT_LABELS[:DUMMY_INDEX] + (DUMMY_LABEL,) + CHBMIT_LABELS[DUMMY_INDEX:]
            if dummy else CHBMIT_LABELS)
  rows = [CHBMIT_LABELS.index(c) for c in seizure_channels]
  start = DEFAULT_START + datetime.timedelta(seconds=int(rng.integers(7 * 3600, 14 * 3600)))
  recordings, blocks = [], []
  for r in range(1, recordings_per_patient + 1):
    rng = np.random.default_rng([seed, p, r])
    fewest, most = (0, 0) if seizure_free_last and r == recordings_per_patient else (
        seizures_per_recording)
    seizures = _place_seizures(rng, int(rng.integers(fewest, most + 1)), duration_s,
                               seizure_duration_s)
    data = _recording(rng, traits, duration_s, sfreq, seizures, rows, dummy)
    name = f"{patient}_{r:02d}"
    path = write_edf(folder / f"{name}.edf", data, sfreq, labels, start=start)
    recordings.append(SyntheticRecording(
        recording_id=name, patient=patient, path=path, labels=labels,
        duration_s=float(duration_s), seizures=tuple((float(s), float(e)) for s, e in seizures)))
    blocks.append((path.name, start, duration_s, seizures))
    start += datetime.timedelta(seconds=duration_s + int(rng.integers(3, 10)))
  summary = folder / f"{patient}-summary.txt"
  _write_text(summary, _summary(p, sfreq, labels, blocks))
  return recordings, summary


def generate(root: str | os.PathLike, *, n_patients: int = 4, recordings_per_patient: int = 2,
             duration_s: int = 600, seizures_per_recording: tuple[int, int] = (1, 2),
             seizure_duration_s: tuple[int, int] = (20, 40), seed: int = 0, sfreq: int = 256,
             seizure_channels: Sequence[str] = DEFAULT_SEIZURE_CHANNELS) -> SyntheticManifest:
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
    seizure_channels: CHB-MIT bipolar labels that carry the seizures.

  Returns:
    The manifest, also written to `root/synthetic.json` last, so a root with a
    manifest is complete.
  """
  seizure_channels = tuple(seizure_channels)
  seizures_per_recording = tuple(seizures_per_recording)
  seizure_duration_s = tuple(seizure_duration_s)
  _check_args(n_patients, recordings_per_patient, duration_s, seizures_per_recording,
              seizure_duration_s, sfreq, seizure_channels)
  root = Path(root)
  root.mkdir(parents=True, exist_ok=True)
  _remove_previous(root)
  recordings, summaries = [], []
  for p in range(1, n_patients + 1):
    written, summary = _write_patient(
        root, p, seed, sfreq, duration_s, seizures_per_recording, seizure_duration_s,
        seizure_channels, seizure_free_last=p == 1 and n_patients * recordings_per_patient > 1,
        recordings_per_patient=recordings_per_patient)
    recordings += written
    summaries.append(summary)
  manifest = SyntheticManifest(root=root, seed=seed, sfreq=float(sfreq),
                               channel_names=CHBMIT_LABELS,
                               seizure_channels=seizure_channels,
                               recordings=tuple(recordings))
  _write_text(root / MANIFEST, _manifest_json(manifest, summaries))
  return manifest


def _manifest_json(manifest: SyntheticManifest, summaries: Sequence[Path]) -> str:
  """The manifest as JSON, paths relative to the root."""
  root = manifest.root
  return json.dumps({
      "seed": manifest.seed,
      "sfreq": manifest.sfreq,
      "channel_names": list(manifest.channel_names),
      "seizure_channels": list(manifest.seizure_channels),
      "patients": list(manifest.patients),
      "summaries": [str(s.relative_to(root)) for s in summaries],
      "recordings": [{
          "recording_id": r.recording_id, "patient": r.patient,
          "file": str(r.path.relative_to(root)), "labels": list(r.labels),
          "duration_s": r.duration_s, "seizures": [list(s) for s in r.seizures],
      } for r in manifest.recordings],
  }, indent=1) + "\n"
