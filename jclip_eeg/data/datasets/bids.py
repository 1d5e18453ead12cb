"""BIDS EEG in the layout epilepsy2bids writes (SzCORE): any converted dataset, CHB-MIT, Siena, TUSZ, SeizeIT.

Layout: `ROOT/sub-XX/ses-YY/eeg/sub-XX_ses-YY_task-T_run-ZZ_eeg.edf` (the
session level may be absent) with `..._events.tsv` beside each EDF: SzCORE
columns onset, duration, eventType, confidence, channels, dateTime,
recordingDuration; seizure rows have an eventType starting with `sz`, a
seizure-free recording has one `bckg` row, confidence may be `n/a`
(`annotations.parse_szcore_tsv`). Patient = the subject folder (`sub-XX`);
recording id = the file stem without `_eeg`. Classes normal/seizure.

Channels: the files hold whatever montage the conversion wrote: 19
common-average electrodes (`Fp1-Avg` ..., SzCORE's challenge files, TUSZ and
Siena conversions) or CHB-MIT's 18 double-banana channels with the file's own
labels (`F7-T7` for F7-T3). There is no native list: `montage="banana18"`
(default) reads both kinds, `average19` the referential ones only.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import ClassVar

from jclip_eeg.data.annotations import parse_szcore_tsv
from jclip_eeg.data.datasets import EdfItem, MontageOption, describe, edf_recordings, require_dir
from jclip_eeg.data.types import DatasetSpec, Event, ScanResult
from jclip_eeg.errors import DataError

CLASS_NAMES = ("normal", "seizure")
_EEG, _EVENTS = "_eeg.edf", "_events.tsv"
_EXPECTED = ("sub-XX/ses-YY/eeg/sub-XX_ses-YY_task-T_run-ZZ_eeg.edf with its _events.tsv beside it (a BIDS "
             "dataset as epilepsy2bids writes it)")


def events_file(edf_path: Path) -> Path:
  """The `*_events.tsv` beside a BIDS `*_eeg.edf`."""
  return edf_path.with_name(edf_path.name.removesuffix(_EEG) + _EVENTS)


@dataclasses.dataclass(frozen=True)
class Bids(MontageOption):
  """Reader for BIDS EEG (SzCORE events); `montage` banana18 (default) or average19."""
  montage: str = dataclasses.field(default="banana18", metadata={
      "help": "banana18 (the 18 double-banana derivations: any epilepsy2bids output) or average19 (the 19 "
              "10-20 electrodes in common average: referential files only)"})
  native: ClassVar = None
  download: ClassVar[str] = ("a BIDS dataset: convert a public one with epilepsy2bids (pip install "
                             "epilepsy2bids), or use the SzCORE challenge data")
  annotation_patterns: ClassVar[tuple[str, ...]] = ("*_events.tsv",)

  @property
  def spec(self) -> DatasetSpec:
    return DatasetSpec(name="bids", class_names=CLASS_NAMES, channel_names=self.channels.channel_names,
                       sfreq=256.0, seizure_overlap=0.5)

  def seizure_events(self, annotation: Path, edf_path: Path) -> tuple[Event, ...]:
    """The seizure rows of an SzCORE `events.tsv` (it belongs to one recording, so `edf_path` is not needed)."""
    return parse_szcore_tsv(annotation, CLASS_NAMES[1]).events

  def scan(self, root: str | os.PathLike) -> ScanResult:
    """Every `sub-*/[ses-*/]eeg/*_eeg.edf` under `root` that has its `_events.tsv`."""
    root = require_dir(root, _EXPECTED)
    edfs = sorted({*root.glob(f"sub-*/ses-*/eeg/*{_EEG}"), *root.glob(f"sub-*/eeg/*{_EEG}")})
    if not edfs:
      raise DataError(f"{root}: no sub-*/ses-*/eeg/*_eeg.edf under it; expected {_EXPECTED}; {describe(root)}")
    items, skipped = [], []
    for path in edfs:
      item = _item(path, root)
      if isinstance(item, str):
        skipped.append((str(path), item))
      else:
        items.append(item)
    recordings, unusable = edf_recordings(items, self.channels)
    return ScanResult(recordings, skipped + unusable)


def _item(path: Path, root: Path) -> EdfItem | str:
  """(id, patient, path, annotation) of one BIDS EDF, or the reason it is skipped."""
  tsv = events_file(path)
  if not tsv.is_file():
    return f"no {tsv.name} beside it"
  try:
    annotation = parse_szcore_tsv(tsv, CLASS_NAMES[1])
  except DataError as error:
    return f"unreadable events: {error}"
  return path.name.removesuffix(_EEG), path.relative_to(root).parts[0], path, annotation
