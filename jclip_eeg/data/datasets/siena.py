"""Siena Scalp EEG database (PhysioNet siena-scalp-eeg/1.0.0): 14 adults, focal seizures, 512 Hz.

Layout: `ROOT/PNxx/PNxx-N.edf` with `ROOT/PNxx/Seizures-list-PNxx.txt` beside
them (ROOT may also be a single `PNxx` folder). The list gives each file's
registration start and end and its seizures' start and end as *clock times*
(`19.58.36`; `:` also occurs); offsets are taken from the EDF header's start
time, modulo a day, so a recording that crosses midnight is handled
(`annotations.parse_siena_list`, which also fixes the list's known typos).

Patient = the folder (`PNxx`). Channels: the EDFs are referential, labelled
`EEG Fp1` ... with extra electrodes (Fc1, Cp5, F9, ...) and non-EEG channels
(`EKG EKG`, `SPO2`, `HR`, a channel named `1`), which are ignored; the native
montage is the 19 10-20 electrodes (as TUSZ), and banana18 / average19 are
computed from them. Classes normal/seizure; 50% overlap inside seizures.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import ClassVar

from jclip_eeg.data import edf, montages
from jclip_eeg.data.annotations import Annotation, SienaFile, parse_siena_list
from jclip_eeg.data.channels import TEN_TWENTY
from jclip_eeg.data.datasets import MontageOption, describe, require_dir, scan_listings
from jclip_eeg.data.types import DatasetSpec, Event, ScanResult
from jclip_eeg.errors import DataError

CLASS_NAMES = ("normal", "seizure")
MONTAGE = montages.referential("native", TEN_TWENTY)
_EXPECTED = ("PNxx/Seizures-list-PNxx.txt with PNxx/PNxx-N.edf beside it; download the Siena Scalp EEG "
             "database from PhysioNet siena-scalp-eeg/1.0.0")


def _events(listing: SienaFile, edf_path: Path) -> tuple[Event, ...]:
  """The listed seizures of one EDF in seconds from its header's start (else the registration start)."""
  start = edf.read_header(edf_path).start
  seconds = None if start is None else start.hour * 3600 + start.minute * 60 + start.second
  try:
    return listing.events(seconds, CLASS_NAMES[1])
  except DataError as error:
    raise DataError(f"{edf_path}: {error}") from None


@dataclasses.dataclass(frozen=True)
class Siena(MontageOption):
  """Reader for the Siena Scalp EEG database (its only option is the montage)."""
  native: ClassVar = MONTAGE
  download: ClassVar[str] = ("the Siena Scalp EEG database from PhysioNet, "
                             "https://physionet.org/content/siena-scalp-eeg/1.0.0/ "
                             "(wget -r -N -c -np https://physionet.org/files/siena-scalp-eeg/1.0.0/)")
  annotation_patterns: ClassVar[tuple[str, ...]] = ("Seizures-list-*.txt",)

  @property
  def spec(self) -> DatasetSpec:
    return DatasetSpec(name="siena", class_names=CLASS_NAMES, channel_names=self.channels.channel_names,
                       sfreq=256.0, seizure_overlap=0.5)

  def seizure_events(self, annotation: Path, edf_path: Path) -> tuple[Event, ...]:
    """The seizures a `Seizures-list-PNxx.txt` lists for the file named like `edf_path`."""
    listed = parse_siena_list(annotation)
    if edf_path.name not in listed:
      raise DataError(f"{annotation}: does not list {edf_path.name} (it lists {sorted(listed)})")
    return _events(listed[edf_path.name], edf_path)

  def scan(self, root: str | os.PathLike) -> ScanResult:
    """All EDFs listed in the seizure lists under `root` (see the module docstring)."""
    root = require_dir(root, _EXPECTED)
    lists = sorted(root.glob("PN*/Seizures-list-PN*.txt")) or sorted(root.glob("Seizures-list-PN*.txt"))
    if not lists:
      raise DataError(f"{root}: no PNxx/Seizures-list-PNxx.txt under it; expected {_EXPECTED}; {describe(root)}")
    return scan_listings(lists, parse_siena_list, lambda listing: listing.stem.removeprefix("Seizures-list-"),
                         lambda entry, path: Annotation(_events(entry, path)), self.channels)
