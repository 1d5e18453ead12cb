"""Continuous seizure detection on a raw EDF of any length: per-second probabilities -> events.

`detect(predictor, edf_path)` reads the model's montage (`input_montage`: the
channels it was trained on, derived from whatever the file holds, so a model
trained on one dataset runs on another's files), preprocesses them exactly as `jclip_eeg.data.preprocess`
does for training (band-pass + resampling, per-channel z-score over the whole
recording), scores sliding windows, and turns the per-second seizure
probability into events (`jclip_eeg.eval.events`).

Streaming. The montage's channels are read in blocks of `block_s` seconds
(`montages.MontageBlocks`). Each block is read with `overlap` = 3 / f_low seconds (30 s
for 0.1 Hz, the filter's own padding) of real signal on both sides, filtered
and resampled by `preprocess.filter_resample`, and trimmed back to its core,
so block seams see the same neighbouring signal as a whole-recording transform
(agreement ~1e-4 of the signal's scale, tested); the first and last blocks get
the filter's odd-reflection padding at the recording's true ends, as in
training. The per-recording z-score needs the whole recording, so the file is
read twice: pass 1 accumulates each channel's mean and variance of the
filtered signal (float64), pass 2 filters again, z-scores (`preprocess.scale_to_unit`,
the training rule for flat channels) and scores. Peak memory is a few blocks,
whatever the recording's length.

Windows of the model's length start every `stride_s` seconds (default 1 s);
second k's seizure probability is the mean over the windows that overlap
[k, k+1) of 1 - P(background) (class 0). A final partial second that no
window covers takes the last covered second's value.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tqdm

from jclip_eeg import export
from jclip_eeg.data import datasets, edf, montages
from jclip_eeg.data.preprocess import (
  PreprocessSettings,
  filter_resample,
  resample_ratio,
  scale_to_unit,
)
from jclip_eeg.errors import ConfigError, DataError
from jclip_eeg.eval.events import DetectedEvent, PostProcessing, to_events

_PAD_CYCLES = 3.0  # overlap = this many periods of the high-pass edge, as preprocess pads
_BATCH = 256


@dataclasses.dataclass(frozen=True)
class Predictor:
  """A trained model as detection sees it.

  Attributes:
    predict: (B, C, T) float32 z-scored windows -> (B, n_classes) probabilities.
    metadata: dataset, montage, class_names, channel_names, sfreq (Hz), window_samples,
      band_hz, role, prediction, detection (`runs.stage.FinishedStage.metadata`).
  """
  predict: Callable[[np.ndarray], np.ndarray]
  metadata: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Detection:
  """Detection on one recording.

  Attributes:
    probs: (n_seconds,) seizure probability per second, before smoothing.
    events: the detected seizures.
    settings: the post-processing that made `events` from `probs`.
    duration_s: the recording's length in seconds.
    start: the EDF start (local time), None when the header's date does not parse.
    source: the reader the model's channels came from (`read(start, stop)` in
      samples at `source.sfreq`), for drawing the EEG.
    channel_names: the model's channels, the rows `source.read` returns.
  """
  probs: np.ndarray
  events: list[DetectedEvent]
  settings: PostProcessing
  duration_s: float
  start: datetime.datetime | None
  source: edf.EdfBlocks
  channel_names: tuple[str, ...]


# ============================================================================= models


def load_predictor(path: str | Path) -> Predictor:
  """A finished stage directory (W/student, W/teacher) or an exported artefact (`scripts/export.py`).

  Raises:
    ConfigError, DataError: `path` is neither (the message says what was expected).
  """
  path = Path(path)
  if path.is_file():
    model = export.load(path)
    return Predictor(model, model.metadata)
  if not path.is_dir():
    raise ConfigError(f"{path}: no such stage directory (e.g. runs/demo/student) or exported .jaxexport file")
  from jclip_eeg.runs import stage as stage_lib  # the model code (seconds of imports) only for a stage directory
  stage = stage_lib.load(path)
  predict = stage.predictor()
  return Predictor(lambda x: np.asarray(predict(x)), stage.metadata())


def settings_of(metadata: Mapping[str, Any]) -> PostProcessing:
  """The post-processing a model carries (tuned on its validation recordings, or the defaults it was trained
  with), else today's defaults."""
  return PostProcessing.of(metadata.get("detection"))


def input_montage(metadata: Mapping[str, Any]) -> montages.Montage:
  """The montage a model reads: its dataset's in its `montage` ("native" for models from before montages).

  Raises:
    ConfigError: the montage's channels are not the model's `channel_names`.
  """
  chosen = datasets.get(metadata["dataset"], montage=metadata.get("montage", "native")).channels
  if tuple(chosen.channel_names) != tuple(metadata["channel_names"]):
    raise ConfigError(f"the model's channels {list(metadata['channel_names'])} are not those of the "
                      f"{metadata['dataset']} reader's {chosen.name} montage {list(chosen.channel_names)}")
  return chosen


# ============================================================================= streaming EDF reading


def filtered_blocks(reader: edf.EdfBlocks, settings: PreprocessSettings, block_s: float) -> Iterator[np.ndarray]:
  """Band-passed, resampled (C, n) float32 blocks that concatenate to the whole recording (module docstring)."""
  p, q = resample_ratio(reader.sfreq, settings.sfreq, source=reader.path)
  overlap = q * math.ceil(_PAD_CYCLES / settings.band_hz[0] * reader.sfreq / q)
  core = q * max(1, math.ceil(block_s * reader.sfreq / q))
  n = reader.n_samples
  for start in range(0, n, core):
    lo, stop = max(0, start - overlap), min(n, start + core)
    raw = reader.read(lo, min(n, stop + overlap))
    means = raw.mean(axis=1)
    if not np.all(np.isfinite(means)):
      raise DataError(f"{reader.path}: non-finite samples between {lo / reader.sfreq:g} s and "
                      f"{stop / reader.sfreq:g} s")
    out = filter_resample(raw, means, reader.sfreq, settings, source=reader.path)
    skip = (start - lo) * p // q
    yield out[:, skip:skip + -(-(stop - start) * p // q)]


def channel_stats(blocks: Iterator[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
  """Per-channel (mean, std), each (C,) float64, of (C, n) blocks concatenated along time."""
  count, total, squares = 0, 0.0, 0.0
  for block in blocks:
    count += block.shape[1]
    total = total + block.sum(axis=1, dtype=np.float64)
    squares = squares + np.einsum("ct,ct->c", block, block, dtype=np.float64)
  mean = total / count
  return mean, np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))


def preprocessed_blocks(reader: edf.EdfBlocks, settings: PreprocessSettings, block_s: float = 600.0,
                        progress: bool = False) -> Iterator[np.ndarray]:
  """z-scored (C, n) float32 blocks at settings.sfreq: training's preprocessing, streamed (two passes)."""
  n_blocks = math.ceil(reader.n_samples / (block_s * reader.sfreq))
  with tqdm.tqdm(total=2 * n_blocks, unit="block", desc=reader.path.name, disable=not progress) as bar:
    mean, std = channel_stats(_ticking(filtered_blocks(reader, settings, block_s), bar))
    for block in _ticking(filtered_blocks(reader, settings, block_s), bar):
      block -= mean.astype(np.float32)[:, None]
      yield scale_to_unit(block, std, source=reader.path)[0]


def _ticking(blocks: Iterator[np.ndarray], bar: tqdm.tqdm) -> Iterator[np.ndarray]:
  """`blocks`, advancing `bar` by one per block."""
  for block in blocks:
    bar.update(1)
    yield block


# ============================================================================= scoring windows


def window_probabilities(blocks: Iterator[np.ndarray], window: int, stride: int,
                         predict: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
  """(n_windows, n_classes) probabilities of windows starting every `stride` samples of the blocks.

  Batches have a fixed size (the last one zero-padded) so a jitted model compiles once.
  """
  carry = np.zeros((0, 0), np.float32)
  pending, probs = [], []

  def flush(final: bool) -> None:
    while len(pending) >= _BATCH or (final and pending):
      batch = np.stack(pending[:_BATCH])
      del pending[:_BATCH]
      n = len(batch)
      if n < _BATCH:
        batch = np.concatenate([batch, np.zeros((_BATCH - n, *batch.shape[1:]), np.float32)])
      probs.append(np.asarray(predict(batch))[:n])

  for block in blocks:
    carry = block if carry.size == 0 else np.concatenate([carry, block], axis=1)
    starts = range(0, carry.shape[1] - window + 1, stride)
    pending.extend(carry[:, s:s + window] for s in starts)
    carry = carry[:, len(starts) * stride:].copy()
    flush(final=False)
  flush(final=True)
  if not probs:
    raise DataError(f"recording shorter than one {window}-sample window")
  return np.concatenate(probs)


def per_second(seizure: np.ndarray, stride_s: float, window_s: float, duration_s: float) -> np.ndarray:
  """(ceil(duration_s),) mean of `seizure` (n_windows,) over the windows overlapping each second."""
  return seconds_of_windows(np.arange(len(seizure)) * stride_s, seizure, window_s, duration_s)


def seconds_of_windows(starts_s: np.ndarray, seizure: np.ndarray, window_s: float, duration_s: float) -> np.ndarray:
  """(ceil(duration_s),) per-second seizure probability from windows starting at `starts_s` (any order).

  Second k is the mean of `seizure` over the windows that overlap [k, k+1);
  a second no window overlaps takes the last covered second's value (the
  first covered one's before it).
  """
  n_seconds = math.ceil(duration_s - 1e-9)
  starts_s, seizure = np.asarray(starts_s, np.float64), np.asarray(seizure, np.float64)
  if not len(starts_s):
    raise DataError("no windows to turn into per-second probabilities")
  first = np.floor(starts_s + 1e-9).astype(int)
  last = np.minimum(np.ceil(starts_s + window_s - 1e-9).astype(int), n_seconds)  # exclusive
  sums, counts = np.zeros(n_seconds), np.zeros(n_seconds)
  for offset in range(int(np.max(last - first))):
    second = first + offset
    covered = second < last
    np.add.at(sums, second[covered], seizure[covered])
    np.add.at(counts, second[covered], 1)
  covered = np.flatnonzero(counts)
  previous = covered[np.maximum(np.searchsorted(covered, np.arange(n_seconds), side="right") - 1, 0)]
  return sums[previous] / counts[previous]


def detect(predictor: Predictor, edf_path: str | Path, settings: PostProcessing | None = None,
           stride_s: float = 1.0, block_s: float = 600.0, progress: bool = False) -> Detection:
  """Seizure events in one EDF recording (module docstring); `settings` default: the model's own."""
  meta = predictor.metadata
  settings = settings or settings_of(meta)
  if not stride_s > 0:
    raise ConfigError(f"stride_s: {stride_s}; expected > 0 seconds")
  if not block_s > 0:
    raise ConfigError(f"block_s: {block_s}; expected > 0 seconds")
  reader = montages.MontageBlocks(edf_path, input_montage(meta))
  prep = PreprocessSettings(sfreq=float(meta["sfreq"]), band_hz=tuple(meta["band_hz"]))
  window = int(meta["window_samples"])
  if reader.n_samples / reader.sfreq < window / prep.sfreq:
    raise DataError(f"{reader.path}: {reader.n_samples / reader.sfreq:g} s of EEG, shorter than the model's "
                    f"{window / prep.sfreq:g}-s window")
  stride = max(1, round(stride_s * prep.sfreq))
  probs = window_probabilities(preprocessed_blocks(reader, prep, block_s, progress), window, stride,
                               predictor.predict)
  duration_s = reader.n_samples / reader.sfreq
  seconds = per_second(1.0 - probs[:, 0], stride / prep.sfreq, window / prep.sfreq, duration_s)
  return Detection(seconds, to_events(seconds, settings), settings, duration_s, reader.header.start, reader,
                   tuple(meta["channel_names"]))
