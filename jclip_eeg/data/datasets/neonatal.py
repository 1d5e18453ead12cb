"""Helsinki neonatal EEG (Stevenson et al. 2019; Zenodo 2547147 / 4940267).

Layout: `ROOT/eeg1.edf` ... `ROOT/eeg79.edf` and `ROOT/annotations_2017_{A,B,C}.csv`
(one file per expert: header row = baby ids, then one row per second, 1 =
seizure). Per-second seizure masks are combined by `consensus`: "all" (default:
every expert), "majority" (2 of 3), "any", or one expert "A"/"B"/"C"; runs of
seizure seconds become events [first second, last second + 1).

Patient = baby id (one recording per baby). Channels: the 19 10-20 electrodes,
labels like `EEG Fp1-Ref` matched case-insensitively. A recording whose
annotation lasts longer than its EDF is skipped by `scan` and refused by `load`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import ClassVar

import numpy as np

from jclip_eeg.data import montages
from jclip_eeg.data.annotations import (CONSENSUS_RULES, Annotation, Event, consensus, parse_neonatal,
                                        runs_to_events)
from jclip_eeg.data.channels import TEN_TWENTY
from jclip_eeg.data.datasets import MontageOption, describe, edf_recordings, require_dir
from jclip_eeg.data.types import DatasetSpec, ScanResult
from jclip_eeg.errors import ConfigError, DataError

CLASS_NAMES = ("normal", "seizure")
EXPERTS = ("A", "B", "C")
MONTAGE = montages.referential("native", TEN_TWENTY)
_EDF = re.compile(r"eeg(\d+)\.edf", re.IGNORECASE)
_EXPECTED = ("eeg1.edf ... eeg79.edf with annotations_2017_A.csv, _B.csv, _C.csv beside them; "
             "download the Helsinki neonatal EEG from Zenodo (record 2547147)")


def _annotation_file(expert: str) -> str:
  return f"annotations_2017_{expert}.csv"


def baby_events(annotation_csv: str | os.PathLike, edf_path: str | os.PathLike) -> tuple[Event, ...]:
  """Seizure events of recording `edf_path` (eegN.edf is baby N) in one expert's annotations_2017_X.csv."""
  edf_name = Path(edf_path).name
  match = _EDF.fullmatch(edf_name)
  if match is None:
    raise DataError(f"{edf_path}: expected a Helsinki recording named eegN.edf (N = the baby id, a column of "
                    f"{annotation_csv})")
  baby, masks = match.group(1), parse_neonatal(annotation_csv)
  if baby not in masks:
    raise DataError(f"{annotation_csv}: no column for baby {baby} ({edf_name})")
  return runs_to_events(masks[baby], CLASS_NAMES[1])


@dataclasses.dataclass(frozen=True)
class Neonatal(MontageOption):
  """Reader for the Helsinki neonatal set.

  Attributes:
    consensus: "all", "majority", "any", or one expert "A", "B" or "C".
  """
  consensus: str = dataclasses.field(default="all", metadata={
      "help": "which experts' seizure seconds count: all, majority, any, or one expert A, B or C"})
  download: ClassVar[str] = ("the Helsinki neonatal EEG set from Zenodo, https://zenodo.org/records/2547147 "
                             "(or https://zenodo.org/records/4940267)")
  native: ClassVar = MONTAGE
  annotation_patterns: ClassVar[tuple[str, ...]] = ("annotations_2017_?.csv",)

  def __post_init__(self):
    super().__post_init__()
    if self.consensus not in CONSENSUS_RULES + EXPERTS:
      raise ConfigError(f"neonatal.consensus: {self.consensus!r}; expected one of "
                        f"{CONSENSUS_RULES + EXPERTS}")

  @property
  def spec(self) -> DatasetSpec:
    return DatasetSpec(name="neonatal", class_names=CLASS_NAMES,
                       channel_names=self.channels.channel_names, sfreq=256.0, seizure_overlap=0.5)

  def seizure_events(self, annotation: Path, edf_path: Path) -> tuple[Event, ...]:
    """One expert's seizures of baby N (`eegN.edf`) in an annotations_2017_X.csv."""
    return baby_events(annotation, edf_path)

  def scan(self, root: str | os.PathLike) -> ScanResult:
    """One recording per baby that has both an EDF and annotations from the needed experts."""
    root = require_dir(root, _EXPECTED)
    edfs = {m.group(1): p for p in sorted(root.iterdir()) if (m := _EDF.fullmatch(p.name))}
    if not edfs:
      raise DataError(f"{root}: no eegN.edf files; expected {_EXPECTED}; {describe(root)}")
    masks = self._masks(root)
    items, skipped = [], []
    for baby, mask in masks.items():
      path = edfs.get(baby)
      if path is None:
        skipped.append((str(root / f"eeg{baby}.edf"), "annotated but absent"))
        continue
      annotation = Annotation(runs_to_events(mask, CLASS_NAMES[1]), extent_s=float(mask.size))
      items.append((path.stem.lower(), baby, path, annotation))
    skipped += [(str(path), f"baby {baby} has no column in the annotations of experts "
                 f"{self._experts}") for baby, path in edfs.items() if baby not in masks]
    recordings, unusable = edf_recordings(items, self.channels)
    return ScanResult(recordings, skipped + unusable)

  @property
  def _experts(self) -> tuple[str, ...]:
    return EXPERTS if self.consensus in CONSENSUS_RULES else (self.consensus,)

  def _masks(self, root: Path) -> dict[str, np.ndarray]:
    """{baby id: (T,) bool per-second consensus mask} from the needed annotation files."""
    paths = {e: root / _annotation_file(e) for e in self._experts}
    missing = [p.name for p in paths.values() if not p.is_file()]
    if missing:
      present = [e for e in EXPERTS if (root / _annotation_file(e)).is_file()]
      raise DataError(f"{root}: consensus={self.consensus!r} needs {', '.join(missing)}: not "
                      f"found; experts with annotations here: {present or 'none'} "
                      "(read one of them alone with consensus='B', say)")
    rule = self.consensus if self.consensus in CONSENSUS_RULES else "any"
    return consensus({e: parse_neonatal(p) for e, p in paths.items()}, rule)
