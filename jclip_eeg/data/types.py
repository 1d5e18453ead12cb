"""The records that flow from dataset readers into preprocessing.

A reader turns a raw dataset root into `Recording`s. Each recording knows how to
load its signals (`load()` -> `Signals`, native sampling rate, channels already
picked and ordered as the dataset's channel list) and carries its labelled
events in seconds. Everything downstream (filtering, resampling, z-scoring,
windowing, the store) is dataset-agnostic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np


@dataclasses.dataclass(frozen=True)
class Event:
  """A labelled interval of a recording, in seconds from its start.

  `label` is one of the dataset's class names (never the background class:
  time not covered by an event is background).
  """
  start_s: float
  end_s: float
  label: str


@dataclasses.dataclass(frozen=True)
class Signals:
  """EEG of one recording: `data` (C, T) float32 in the dataset's channel order."""
  data: np.ndarray
  sfreq: float
  channel_names: tuple[str, ...]

  @property
  def duration_s(self) -> float:
    return self.data.shape[1] / self.sfreq


@dataclasses.dataclass(frozen=True)
class Recording:
  """One recording of one patient, with its seizure events.

  Attributes:
    recording_id: unique within the dataset, safe as a file name (e.g. "chb01_03").
    patient: patient/subject id (the grouping key for patient-wise splits).
    source: the raw file the signals come from (named in every error).
    events: seizure events, in seconds, labelled with class names.
    load: returns the picked, ordered signals at the native sampling rate;
      raises `jclip_eeg.errors.DataError` naming `source` when unusable.
    is_segment: True when the file is already one pre-cut window (AUBMC
      segments): the whole recording is one window labelled by `events`.
  """
  recording_id: str
  patient: str
  source: Path
  events: tuple[Event, ...]
  load: Callable[[], Signals] = dataclasses.field(compare=False, repr=False)
  is_segment: bool = False


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """What preprocessing needs to know about a dataset (DESIGN.md, Preprocessing).

  Attributes:
    name: registry name ("chbmit", "tusz", ...).
    class_names: index = integer label; class 0 is background/normal.
    channel_names: the channel list every recording is picked and ordered to.
    sfreq: target sampling rate in Hz after resampling.
    seizure_overlap: fraction of window overlap inside seizures (0.5 or 0.75).
    band_hz: zero-phase band-pass edges in Hz.
  """
  name: str
  class_names: tuple[str, ...]
  channel_names: tuple[str, ...]
  sfreq: float
  seizure_overlap: float
  band_hz: tuple[float, float] = (0.1, 70.0)


@dataclasses.dataclass(frozen=True)
class ScanResult:
  """A reader's answer for a root: usable recordings plus files it skipped and why."""
  recordings: Sequence[Recording]
  skipped: Sequence[tuple[str, str]] = ()  # (path, reason)
