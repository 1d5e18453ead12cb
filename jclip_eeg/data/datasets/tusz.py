"""Temple University Hospital EEG Seizure Corpus (TUSZ v2.0.x, also legacy v1 annotations).

Layout: `ROOT/edf/{train,dev,eval}/<subject>/<session>_<year>/<montage>/<stem>.edf`
(ROOT may also be the `edf` folder), `<stem>` = `<subject>_<session>_<token>`.
Beside each EDF: `<stem>.csv` (per-channel seizure types) and `<stem>.csv_bi`
(term-level `bckg`/`seiz`); legacy v1 trees have `<stem>.tse` / `<stem>.tse_bi`,
used when the csv is absent. Per-channel intervals of one type are merged into
term-level events (their union).

Classes: `classes="types"` gives `bckg` + the 7 seizure types of the paper
(`mysz` is dropped as in the paper; it and the rare `cnsz`/`atsz` are emitted as
events with their raw label so preprocessing drops the windows they touch);
`classes="binary"` gives `bckg`/`seiz`. Patient = subject (the stem's first
field); the official train/dev/eval splits are patient-disjoint and can be
restricted with `splits`.

Channels: the 19 common 10-20 electrodes, matched from `EEG FP1-REF` (01_tcp_ar,
03_tcp_ar_a) or `EEG FP1-LE` (02_tcp_le) and `T7/T8/P7/P8` aliases.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from jclip_eeg.data import montages
from jclip_eeg.data.annotations import parse_tse, parse_tusz_csv
from jclip_eeg.data.channels import TEN_TWENTY
from jclip_eeg.data.datasets import EdfItem, MontageOption, describe, edf_recordings, require_dir
from jclip_eeg.data.types import DatasetSpec, Event, ScanResult
from jclip_eeg.errors import ConfigError, DataError

CLASS_NAMES = {
    "types": ("bckg", "fnsz", "gnsz", "spsz", "cpsz", "absz", "tnsz", "tcsz"),
    "binary": ("bckg", "seiz"),
}
SPLITS = ("train", "dev", "eval")
MONTAGE = montages.referential("native", TEN_TWENTY)
# Annotation file suffixes per class set, preferred first.
_SUFFIXES = {"types": (".csv", ".tse"), "binary": (".csv_bi", ".tse_bi")}
_STEM = re.compile(r"^(?P<subject>[A-Za-z0-9]+)_s\d+_t\d+$")
_EXPECTED = ("edf/{train,dev,eval}/<subject>/<session>_<year>/<montage>/<stem>.edf with "
             "<stem>.csv/.csv_bi beside each EDF; download TUSZ v2 from isip.piconepress.com")


@dataclasses.dataclass(frozen=True)
class Tusz(MontageOption):
  """Reader for TUSZ.

  Attributes:
    classes: "types" (8 classes) or "binary" (bckg/seiz).
    splits: which of the official splits to read (a sequence, or a comma-separated str).
  """
  classes: str = dataclasses.field(default="types", metadata={
      "help": "types (bckg + 7 seizure types) or binary (bckg / seiz)"})
  splits: Sequence[str] = dataclasses.field(default=SPLITS, metadata={
      "help": "comma-separated official splits to read, of train,dev,eval"})
  download: ClassVar[str] = ("the TUH EEG Seizure Corpus v2.0.x (free registration), "
                             "https://isip.piconepress.com/projects/nedc/html/tuh_eeg/ (its edf/ folder)")
  native: ClassVar = MONTAGE
  annotation_patterns: ClassVar[tuple[str, ...]] = ("*.csv", "*.csv_bi", "*.tse", "*.tse_bi")

  def __post_init__(self):
    super().__post_init__()
    if self.classes not in CLASS_NAMES:
      raise ConfigError(f"tusz.classes: {self.classes!r}; expected one of {tuple(CLASS_NAMES)}")
    splits = tuple(self.splits.split(",")) if isinstance(self.splits, str) else tuple(self.splits)
    if not splits or any(s not in SPLITS for s in splits):
      raise ConfigError(f"tusz.splits: {self.splits!r}; expected a non-empty subset of {SPLITS}")
    object.__setattr__(self, "splits", splits)

  @property
  def spec(self) -> DatasetSpec:
    return DatasetSpec(name="tusz", class_names=CLASS_NAMES[self.classes],
                       channel_names=self.channels.channel_names, sfreq=256.0, seizure_overlap=0.75)

  def seizure_events(self, annotation: Path, edf_path: Path) -> tuple[Event, ...]:
    """The seizure events of a recording's own .csv / .csv_bi / .tse / .tse_bi (`bckg` rows left out)."""
    parse = parse_tse if annotation.suffix.startswith(".tse") else parse_tusz_csv
    return tuple(e for e in parse(annotation).events if e.label != "bckg")

  def scan(self, root: str | os.PathLike) -> ScanResult:
    """Every EDF of the chosen splits that has an annotation file of the chosen class set."""
    root = require_dir(root, _EXPECTED)
    edf_root = root / "edf" if (root / "edf").is_dir() else root
    present = [s for s in self.splits if (edf_root / s).is_dir()]
    if not present:
      raise DataError(f"{root}: no {'/'.join(self.splits)} folder under {edf_root}; expected "
                      f"{_EXPECTED}; {describe(root)}")
    skipped = [(str(edf_root / s), "split folder absent") for s in self.splits if s not in present]
    items = []
    for split in present:
      for path in sorted((edf_root / split).rglob("*.edf")):
        item = self._item(path, edf_root / split)
        if isinstance(item, str):
          skipped.append((str(path), item))
        else:
          items.append(item)
    if not items and not skipped:
      raise DataError(f"{edf_root}: no .edf files under {', '.join(present)}; expected {_EXPECTED}")
    recordings, unusable = edf_recordings(items, self.channels)
    return ScanResult(recordings, skipped + unusable)

  def _item(self, path: Path, split_dir: Path) -> EdfItem | str:
    """(id, patient, path, annotation) for one EDF, or the reason it is skipped."""
    suffixes = _SUFFIXES[self.classes]
    candidates = [path.with_suffix(s) for s in suffixes]
    annotation_path = next((p for p in candidates if p.is_file()), None)
    if annotation_path is None:
      return f"no {' or '.join(path.stem + s for s in suffixes)} beside it"
    parse = parse_tse if annotation_path.suffix.startswith(".tse") else parse_tusz_csv
    try:
      annotation = parse(annotation_path)
    except DataError as error:
      return f"unreadable annotation: {error}"
    return path.stem, _subject(path, split_dir), path, annotation


def _subject(path: Path, split_dir: Path) -> str:
  """Subject id from `<subject>_<session>_<token>`, else the first folder below the split."""
  match = _STEM.match(path.stem)
  return match.group("subject") if match else path.relative_to(split_dir).parts[0]
