"""CHB-MIT Scalp EEG (PhysioNet chbmit/1.0.0) and our synthetic data in the same layout.

Layout: `ROOT/chbNN/chbNN_MM.edf` (also `chbNN_MM+.edf`) and
`ROOT/chbNN/chbNN-summary.txt`, whose `File Name:` blocks list each file's
seizures (`Seizure Start Time:` or `Seizure N Start Time:`, in seconds). ROOT
may also be a single `chbNN` folder.

Patient = the folder name (`chbNN`). Note that chb21 was recorded from the same
girl as chb01, 1.5 years later; the two keep separate ids (as PhysioNet does),
so a patient-wise split can put the same person on both sides: group them
yourself if that matters.

A `File Name:` must name a file in the summary's own folder: a name with a
folder part (`../x.edf`, `/etc/passwd`) is skipped, never read. A summary
that does not parse skips its patient: each EDF of the folder is listed with
the summary's error.

Channels (`montage="native"`) are picked by name (T7/T3-style aliases): dummy
channels (`-`, `--0`, `ECG`, `VNS`) are ignored, files whose montage changed
(`Channels changed:` in the summary) still give the 23 channels in the same
order, a referential file (chb12_27-29) gives them by subtraction when it holds
the electrodes, and a file lacking one of them is skipped with the missing
names. `banana18` picks SzCORE's 18 double-banana channels; `average19` is
refused (a bipolar recording cannot be re-referenced).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import ClassVar

from jclip_eeg.data.annotations import Annotation, parse_chbmit_summary
from jclip_eeg.data.channels import CHBMIT_LABELS
from jclip_eeg.data.datasets import MontageOption, describe, require_dir, scan_listings
from jclip_eeg.data.montages import bipolar
from jclip_eeg.data.types import DatasetSpec, Event, ScanResult
from jclip_eeg.errors import ConfigError, DataError

CLASS_NAMES = ("normal", "seizure")
MONTAGE = bipolar("native", CHBMIT_LABELS)
_EXPECTED = ("chbNN/chbNN-summary.txt with chbNN/chbNN_MM.edf beside it; download CHB-MIT "
             "from PhysioNet chbmit/1.0.0, or write synthetic data with jclip_eeg.data.synthetic")


_DOWNLOADS = {
    "chbmit": "CHB-MIT from PhysioNet, https://physionet.org/content/chbmit/1.0.0/ "
              "(wget -r -N -c -np https://physionet.org/files/chbmit/1.0.0/)",
    "synthetic": "nothing to download: prepare_data.py --dataset synthetic generates it",
}


@dataclasses.dataclass(frozen=True)
class ChbMit(MontageOption):
  """Reader for CHB-MIT; `name="synthetic"` reads our synthetic data (same layout)."""
  name: str = "chbmit"
  annotation_patterns: ClassVar[tuple[str, ...]] = ("chb*-summary.txt",)
  native: ClassVar = MONTAGE

  def __post_init__(self):
    super().__post_init__()
    if self.name not in _DOWNLOADS:
      raise ConfigError(f"ChbMit.name: {self.name!r}; expected one of {sorted(_DOWNLOADS)}")

  @property
  def download(self) -> str:
    return _DOWNLOADS[self.name]

  @property
  def spec(self) -> DatasetSpec:
    return DatasetSpec(name=self.name, class_names=CLASS_NAMES,
                       channel_names=self.channels.channel_names, sfreq=256.0, seizure_overlap=0.5)

  def seizure_events(self, annotation: Path, edf_path: Path) -> tuple[Event, ...]:
    """The seizures a `chbNN-summary.txt` lists for the file named like `edf_path`."""
    listed = parse_chbmit_summary(annotation)
    if edf_path.name not in listed:
      raise DataError(f"{annotation}: does not list {edf_path.name}")
    return listed[edf_path.name]

  def scan(self, root: str | os.PathLike) -> ScanResult:
    """All recordings listed in the summaries under `root` (see the module docstring)."""
    root = require_dir(root, _EXPECTED)
    summaries = sorted(root.glob("chb*/chb*-summary.txt")) or sorted(root.glob("chb*-summary.txt"))
    if not summaries:
      raise DataError(f"{root}: no chbNN/chbNN-summary.txt under it; expected {_EXPECTED}; "
                      f"{describe(root)}")
    return scan_listings(summaries, parse_chbmit_summary, lambda summary: summary.name.removesuffix("-summary.txt"),
                         lambda events, path: Annotation(events), self.channels)
