"""Dataset readers: a raw dataset root -> `Recording`s with events, plus all a dataset's own knowledge.

`get(name, **options)` returns a reader (`Dataset`), which owns everything
dataset-specific: `.spec` (`DatasetSpec`: classes, channels, rates, overlap),
`.channels` (the `montages.Montage` its recordings are read in, chosen by the
`montage` option every reader takes: `native`, `banana18` or `average19`),
`.download` (where the raw data comes from), its options (the reader's
dataclass fields, documented by `option_help`), `.scan(root)` (`ScanResult`),
and `.seizure_events(annotation, edf)` for its annotation files
(`annotation_patterns`; `reference_events` routes a file to the reader it
belongs to). Nothing outside this package keeps a per-dataset table;
`options_of(config.data)` gives a run's reader options, its montage included.
`scan` only reads annotation files and EDF headers; signals are read by
`Recording.load()`, which is a `functools.partial` of a module-level function
so recordings can be sent to worker processes.

`scan` skips (and lists in `ScanResult.skipped`, with the reason) files it cannot
use: an EDF without annotations, an annotation naming an absent EDF, an EDF that
cannot give the montage's channels (the message names what it lacks), or one
whose annotations extend beyond its end. `load()` re-checks the last two,
because files may change after the scan.

Events whose label is not a class of the spec (TUSZ `mysz`, `cnsz`, `atsz`, an
unknown label) are still emitted with their raw label: preprocessing drops the
windows that touch them rather than calling them background.
"""

from __future__ import annotations

import collections
import dataclasses
import fnmatch
import functools
import importlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

from jclip_eeg.data import edf, montages
from jclip_eeg.data.annotations import Annotation
from jclip_eeg.data.montages import Montage
from jclip_eeg.data.types import DatasetSpec, Event, Recording, ScanResult, Signals
from jclip_eeg.errors import ConfigError, DataError

# name -> (module, class, fixed constructor arguments). Imported lazily so the
# reader modules can import the helpers below from this package.
_REGISTRY: dict[str, tuple[str, str, dict[str, str]]] = {
    "chbmit": ("chbmit", "ChbMit", {"name": "chbmit"}),
    "tusz": ("tusz", "Tusz", {}),
    "neonatal": ("neonatal", "Neonatal", {}),
    "aubmc": ("aubmc", "Aubmc", {}),
    "siena": ("siena", "Siena", {}),
    "bids": ("bids", "Bids", {}),
    # Our synthetic data is written in the CHB-MIT layout and read by its reader.
    "synthetic": ("chbmit", "ChbMit", {"name": "synthetic"}),
}
NAMES: tuple[str, ...] = tuple(_REGISTRY)
# What a reader found for one EDF: (recording id, patient, path, annotation).
EdfItem = tuple[str, str, Path, Annotation]


class Dataset(Protocol):
  """What every reader offers (a frozen dataclass whose fields are its options)."""

  download: str  # where the raw data comes from, named when a store is missing
  annotation_patterns: tuple[str, ...]  # file names (fnmatch) of its annotation files
  montage: str  # the option: native, banana18 or average19

  @property
  def spec(self) -> DatasetSpec: ...

  @property
  def channels(self) -> Montage: ...

  def scan(self, root: str | os.PathLike) -> ScanResult: ...

  def seizure_events(self, annotation: Path, edf_path: Path) -> tuple[Event, ...]:
    """The seizure events (not background) of recording `edf_path` in one of its annotation files."""


def get(name: str, /, **options) -> Dataset:
  """The reader registered as `name`, configured with `options`.

  Raises:
    ConfigError: unknown name (the message lists the known ones) or an option
      the reader does not take, or a bad option value.
  """
  if name not in _REGISTRY:
    raise ConfigError(f"dataset: unknown name {name!r}; known datasets: {', '.join(NAMES)}")
  module, class_name, fixed = _REGISTRY[name]
  reader = getattr(importlib.import_module(f"{__name__}.{module}"), class_name)
  allowed = sorted(f.name for f in dataclasses.fields(reader) if f.name not in fixed)
  unknown = sorted(set(options) - set(allowed))
  if unknown:
    raise ConfigError(f"dataset {name!r}: unknown option(s) {unknown}; "
                      f"options are {allowed or 'none'}")
  return reader(**fixed, **options)


def option_help(name: str) -> dict[str, str]:
  """{option: "what it means (default ...)"} of dataset `name`'s reader options."""
  module, class_name, fixed = _REGISTRY[name]
  reader = getattr(importlib.import_module(f"{__name__}.{module}"), class_name)
  return {f.name: f"{f.metadata.get('help', '')} (default {_default_text(f.default)})"
          for f in dataclasses.fields(reader) if f.name not in fixed}


def _default_text(value: object) -> str:
  return ",".join(value) if isinstance(value, tuple) else str(value)


def options_of(data: Mapping[str, Any]) -> dict[str, Any]:
  """The reader options of a run's config.data: `data.options` plus `data.montage` (absent in old configs).

  Raises:
    ConfigError: `data.options` also names a montage, and another one.
  """
  options = dict(data.get("options") or {})
  montage = data.get("montage")
  if montage is not None:
    if options.get("montage", montage) != montage:
      raise ConfigError(f"config.data.montage={montage!r} but config.data.options.montage="
                        f"{options['montage']!r}; set config.data.montage only")
    options["montage"] = montage
  return options


def reference_events(annotation: str | os.PathLike, edf_path: str | os.PathLike) -> tuple[Event, ...]:
  """The seizure events of recording `edf_path` in a dataset annotation file.

  The file goes to the reader whose `annotation_patterns` match its name most
  specifically (`annotations_2017_B.csv` is Helsinki's, not a TUSZ `.csv`).

  Raises:
    DataError: no reader knows the file name, or its reader cannot use it for `edf_path`.
  """
  annotation, edf_path = Path(annotation), Path(edf_path)
  matches = [(len(pattern.replace("*", "").replace("?", "")), name) for name in NAMES if name != "synthetic"
             for pattern in get(name).annotation_patterns if fnmatch.fnmatch(annotation.name, pattern)]
  if not matches:
    known = sorted({p for name in NAMES for p in get(name).annotation_patterns})
    raise DataError(f"{annotation}: not an annotation file of a known dataset; expected one of {known}")
  if not annotation.is_file():
    raise DataError(f"{annotation}: {'not a file' if annotation.exists() else 'annotation file not found'}")
  return get(max(matches)[1]).seizure_events(annotation, edf_path)


# ----------------------------------------------------------------------------- helpers for readers


@dataclasses.dataclass(frozen=True)
class MontageOption:
  """The `montage` option every reader takes: a base of each reader dataclass (its field comes first).

  A reader sets `native` to its own channel list (None: it has none, so another montage is its default).
  Its `__post_init__` must call this one's.
  """
  montage: str = dataclasses.field(default="native", metadata={
      "help": "native (the dataset's own channels), banana18 (the 18 double-banana derivations) or average19 "
              "(the 19 10-20 electrodes in common average; referential recordings only)"})
  native: ClassVar[Montage | None]

  def __post_init__(self):
    _ = self.channels  # a bad montage name fails here, at construction

  @property
  def channels(self) -> Montage:
    """The montage the recordings are read in."""
    return montages.choose(self.montage, self.native, type(self).__name__.lower())


def require_dir(root: str | os.PathLike, expected: str) -> Path:
  """`root` as a Path, or DataError saying it is missing and what it should hold."""
  root = Path(root)
  if not root.is_dir():
    raise DataError(f"{root}: no such directory; expected {expected}")
  return root


def describe(root: Path) -> str:
  """What a directory holds: its top-level entries and the extensions of all files below it."""
  entries = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
  shown = ", ".join(entries[:20]) + (f", ... ({len(entries)} in all)" if len(entries) > 20 else "")
  files = (p for p in root.rglob("*") if p.is_file())
  suffixes = collections.Counter(p.suffix.lower() or "(none)" for p in files)
  kinds = ", ".join(f"{s} x{n}" for s, n in suffixes.most_common())
  return f"found top-level entries [{shown or 'nothing'}]; file extensions [{kinds or 'none'}]"


def extent_problem(annotation: Annotation, duration_s: float, tolerance_s: float) -> str | None:
  """Why `annotation` does not fit in a recording of `duration_s` seconds, or None."""
  limit = duration_s + tolerance_s
  late = [e for e in annotation.events if e.end_s > limit]
  if late:
    e = late[0]
    return (f"event {e.label!r} {e.start_s:g}-{e.end_s:g} s extends beyond the end of the "
            f"recording ({duration_s:g} s)")
  if annotation.extent_s > limit:
    return (f"the annotation covers {annotation.extent_s:g} s, beyond the end of the "
            f"recording ({duration_s:g} s)")
  return None


def scan_listings(listings: Sequence[Path], parse: Callable[[Path], Mapping[str, Any]],
                  patient: Callable[[Path], str], annotation: Callable[[Any, Path], Annotation],
                  montage: Montage) -> ScanResult:
  """The recordings of per-patient listing files that name the EDFs beside them (CHB-MIT summaries, Siena lists).

  Args:
    listings: the listing files, one per patient folder.
    parse: listing -> {EDF file name: entry}; a DataError skips the patient.
    patient: listing -> patient id.
    annotation: (entry, EDF path) -> the recording's Annotation; a DataError skips the file.
    montage: what each EDF must give (`edf_recordings`).
  """
  items, skipped = [], []
  for listing in listings:
    try:
      listed = parse(listing)
    except DataError as error:
      lost = [str(path) for path in sorted(listing.parent.glob("*.edf"))] or [str(listing)]
      skipped += [(path, f"unreadable {listing.name}, patient skipped: {error}") for path in lost]
      continue
    found, unlisted = _listed_edfs(listing, patient(listing), listed, annotation)
    items += found
    skipped += unlisted
  recordings, unusable = edf_recordings(items, montage)
  return ScanResult(recordings, skipped + unusable)


def _listed_edfs(listing: Path, patient: str, listed: Mapping[str, Any],
                 annotation: Callable[[Any, Path], Annotation]) -> tuple[list[EdfItem], list[tuple[str, str]]]:
  """The items of the EDFs one listing names, and the files skipped (absent, unlisted, refused: a name with a
  folder part, `../x.edf` or `/etc/passwd`, would leave the listing's folder and is never read)."""
  items, skipped = [], []
  for file_name, entry in listed.items():
    path = listing.parent / file_name
    if Path(file_name).name != file_name or file_name in ("..", "."):
      skipped.append((str(listing), f"'{file_name}' names a file outside {listing.parent}; refused"))
      continue
    if not path.is_file():
      skipped.append((str(path), f"listed in {listing.name} but absent"))
      continue
    try:
      items.append((path.stem, patient, path, annotation(entry, path)))
    except DataError as error:
      skipped.append((str(path), str(error)))
  for path in sorted(listing.parent.glob("*.edf")):
    if path.name not in listed:
      skipped.append((str(path), f"not listed in {listing.name}, so its seizures are unknown"))
  return items, skipped


def probe_edf(path: Path, montage: Montage, annotation: Annotation) -> str | None:
  """Why the EDF at `path` cannot be used (reading its header only), or None."""
  try:
    header = edf.read_header(path)
  except DataError as error:
    return str(error)
  derivation = montage.derive(header.labels)
  if isinstance(derivation, str):
    return derivation
  wanted = set(derivation.picks)
  rates = {rate for label, rate in zip(header.labels, header.sfreqs)
           if derivation.normalise(label) in wanted}
  if len(rates) > 1:
    return f"the picked channels have different sampling rates {sorted(rates)} Hz"
  return extent_problem(annotation, header.duration_s, 1.0 / rates.pop())


def load_edf(path: Path, montage: Montage, annotation: Annotation) -> Signals:
  """The montage's signals of one EDF (`montages.read_signals`); DataError if the annotation no longer fits."""
  signals = montages.read_signals(path, montage)
  problem = extent_problem(annotation, signals.duration_s, 1.0 / signals.sfreq)
  if problem:
    raise DataError(f"{path}: {problem}")
  return signals


def edf_recordings(items: Sequence[EdfItem], montage: Montage) -> tuple[list[Recording], list[tuple[str, str]]]:
  """(recording id, patient, EDF path, annotation) items -> usable recordings and skipped files.

  Each EDF header is probed (`probe_edf`); recording ids must be unique.
  """
  recordings, skipped = [], []
  seen: dict[str, Path] = {}
  for recording_id, patient, path, annotation in items:
    if recording_id in seen:
      raise DataError(f"{path}: recording id {recording_id!r} also used by {seen[recording_id]}; "
                      "is the dataset copied twice under the root?")
    seen[recording_id] = path
    problem = probe_edf(path, montage, annotation)
    if problem:
      skipped.append((str(path), problem))
      continue
    recordings.append(Recording(
        recording_id=recording_id, patient=patient, source=path, events=annotation.events,
        load=functools.partial(load_edf, path, montage, annotation)))
  return recordings, skipped
