"""AUBMC focal epilepsy EEG (Mendeley Data 10.17632/5pc2j46cbc): 6 patients, 19 channels, 500 Hz.

The archive's exact layout is not documented, so two layouts are accepted:

(a) segments: one folder per class (any depth; names matched case-insensitively,
    e.g. `Normal`, `Complex Partial Seizures`, `CPS`, `Electrographic`,
    `Video-detected seizures with no EEG change`), each holding pre-cut 1-s
    segment files (`.csv`, `.txt`, `.npy`, `.mat`) of 19 x 500 samples (500 x 19
    is transposed). Each file becomes one `Recording` with `is_segment=True` and
    one event covering it (none for normal). The rows are taken to be in
    `TEN_TWENTY` order: segment files carry no channel names.
(b) EDF+ files (e.g. under `Raw_EDF_Files/`) whose annotations name the class,
    with onset and duration. Annotations that name no class are ignored unless
    they mention a seizure (`seizure`, `ictal`, `sz`): those become events with
    their raw text, so preprocessing drops the windows they touch.

`layout="auto"` (default) reads the segments when there are any (the paper's 1-s
samples), else the EDF files; `"segments"` / `"edf"` force one.

Patient = the first `P3` / `pat3` / `patient_3` pattern in the file name or,
failing that, in its folders (innermost first); else the file's folder name.
Patient-wise splits are only meaningful when the names carry the patient.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from pathlib import Path
from typing import ClassVar

import numpy as np
import scipy.io

from jclip_eeg.data import edf, montages
from jclip_eeg.data.annotations import Annotation
from jclip_eeg.data.channels import TEN_TWENTY
from jclip_eeg.data.datasets import MontageOption, describe, edf_recordings, require_dir
from jclip_eeg.data.montages import Montage
from jclip_eeg.data.types import DatasetSpec, Event, Recording, ScanResult, Signals
from jclip_eeg.errors import ConfigError, DataError

CLASS_NAMES = ("normal", "complex_partial", "electrographic", "video_only")
SFREQ = 500.0
SEGMENT_SUFFIXES = (".csv", ".txt", ".npy", ".mat")
LAYOUTS = ("auto", "segments", "edf")
MONTAGE = montages.referential("native", TEN_TWENTY)
_SEGMENT_SAMPLES = int(SFREQ)  # one second
# Matched against a lower-cased name with punctuation turned into spaces, in this
# order ("video ... no EEG change" must not be read as electrographic).
_CLASS_PATTERNS = (
    ("video_only", re.compile(r"\bvideo|\bno eeg\b|\bclinical only\b")),
    ("electrographic", re.compile(r"\belectrographic|\bsubclinical\b|\begs?\b")),
    ("complex_partial", re.compile(r"\bcomplex\b|\bcps\b|\bcpsz\b")),
    ("normal", re.compile(
        r"\bnormal\b|\binterictal\b|\bnon ?(?:seizure|ictal)\b|\bbackground\b|\bbckg\b")),
)
_SEIZURE_WORDS = re.compile(r"seiz|\bictal\b|\bsz\b")
_PATIENT = re.compile(r"(?<![a-z])(?:patient|pat|pt|p)[ _-]?0*(\d+)(?!\d)", re.IGNORECASE)
_EXPECTED = ("(a) one folder per class (normal, complex partial, electrographic, video) of 1-s "
             f"segment files ({', '.join(SEGMENT_SUFFIXES)}, 19 x 500), or (b) EDF+ files whose "
             "annotations name the class; download AUBMC from Mendeley Data 10.17632/5pc2j46cbc")


def class_of(text: str) -> str | None:
  """The class a folder name or annotation text names, or None."""
  words = " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())
  return next((name for name, pattern in _CLASS_PATTERNS if pattern.search(words)), None)


def patient_of(relative: Path) -> str:
  """Patient id (`P3`) from a path relative to the root, else the file's folder name."""
  for part in (relative.stem, *reversed(relative.parent.parts)):
    if match := _PATIENT.search(part):
      return f"P{match.group(1)}"
  return relative.parent.name or relative.stem


def _recording_id(relative: Path) -> str:
  return re.sub(r"[^A-Za-z0-9.+-]+", "_", str(relative.with_suffix(""))).strip("_")


@dataclasses.dataclass(frozen=True)
class Aubmc(MontageOption):
  """Reader for AUBMC.

  Attributes:
    layout: "auto", "segments" or "edf" (see the module docstring).
  """
  layout: str = dataclasses.field(default="auto", metadata={
      "help": "segments (class folders of 1-s files), edf (EDF+ with class annotations) or auto"})
  download: ClassVar[str] = "the AUBMC set from Mendeley Data, https://doi.org/10.17632/5pc2j46cbc"
  native: ClassVar = MONTAGE
  annotation_patterns: ClassVar[tuple[str, ...]] = ("*.edf",)

  def __post_init__(self):
    super().__post_init__()
    if self.layout not in LAYOUTS:
      raise ConfigError(f"aubmc.layout: {self.layout!r}; expected one of {LAYOUTS}")

  @property
  def spec(self) -> DatasetSpec:
    return DatasetSpec(name="aubmc", class_names=CLASS_NAMES, channel_names=self.channels.channel_names,
                       sfreq=SFREQ, seizure_overlap=0.75)

  def seizure_events(self, annotation: Path, edf_path: Path) -> tuple[Event, ...]:
    """The seizure events an EDF+ file's own annotations name (the file is its own annotation)."""
    found = _edf_annotation(annotation)
    if isinstance(found, str):
      raise DataError(f"{annotation}: {found}")
    return tuple(e for e in found.events if e.label != CLASS_NAMES[0])

  def scan(self, root: str | os.PathLike) -> ScanResult:
    """Segments or EDF recordings under `root`, per `layout`."""
    root = require_dir(root, _EXPECTED)
    segments = _segment_files(root) if self.layout != "edf" else []
    edfs = sorted(p for p in root.rglob("*") if p.suffix.lower() == ".edf" and p.is_file())
    if self.layout == "edf" or (self.layout == "auto" and not segments and edfs):
      if not edfs:
        raise DataError(f"{root}: no EDF files; expected {_EXPECTED}; {describe(root)}")
      return _scan_edfs(root, edfs, self.channels)
    if not segments:
      missing = "class folders of segment files" + (" nor EDF files" if self.layout == "auto" else "")
      raise DataError(f"{root}: found no {missing}; expected {_EXPECTED}; {describe(root)}")
    recordings = _segment_recordings(root, segments, self.channels)
    ignored = [(str(p), "EDF ignored: segment files were found (layout='edf' reads EDFs)")
               for p in edfs] if self.layout == "auto" else []
    return ScanResult(recordings, ignored)


# ----------------------------------------------------------------------------- layout (a)


def _segment_files(root: Path) -> list[tuple[Path, str]]:
  """(file, class) for each segment file below a folder that names a class."""
  found = []
  for path in sorted(root.rglob("*")):
    if path.suffix.lower() not in SEGMENT_SUFFIXES or not path.is_file():
      continue
    folders = path.relative_to(root).parent.parts
    label = next((c for c in map(class_of, reversed(folders)) if c is not None), None)
    if label is not None:
      found.append((path, label))
  return found


def _segment_recordings(root: Path, segments: list[tuple[Path, str]], montage: Montage) -> list[Recording]:
  recordings = []
  seen: dict[str, Path] = {}
  for path, label in segments:
    relative = path.relative_to(root)
    recording_id = _recording_id(relative)
    if recording_id in seen:
      raise DataError(f"{path}: recording id {recording_id!r} also used by {seen[recording_id]}")
    seen[recording_id] = path
    events = () if label == CLASS_NAMES[0] else (Event(0.0, _SEGMENT_SAMPLES / SFREQ, label),)
    recordings.append(Recording(
        recording_id=recording_id, patient=patient_of(relative), source=path, events=events,
        load=functools.partial(load_segment, path, montage), is_segment=True))
  return recordings


def load_segment(path: Path, montage: Montage) -> Signals:
  """One 1-s segment file (19 x 500, rows in `TEN_TWENTY` order) -> Signals (C, 500) float32 at 500 Hz in `montage`."""
  data = _read_array(path)
  n_channels = len(TEN_TWENTY)
  if data.shape == (_SEGMENT_SAMPLES, n_channels):
    data = data.T
  if data.shape != (n_channels, _SEGMENT_SAMPLES):
    raise DataError(f"{path}: segment of shape {data.shape}; expected ({n_channels}, "
                    f"{_SEGMENT_SAMPLES}) channels x samples (or its transpose)")
  if not np.all(np.isfinite(data)):
    raise DataError(f"{path}: segment holds NaN or infinite values")
  rows = montages.from_rows(np.asarray(data, dtype=np.float32), TEN_TWENTY, montage, path)
  return Signals(np.ascontiguousarray(rows), SFREQ, montage.channel_names)


def _read_array(path: Path) -> np.ndarray:
  """The numeric 2-D array stored in a segment file; DataError naming the file otherwise."""
  try:
    if path.suffix.lower() == ".npy":
      array = np.load(path, allow_pickle=False)
    elif path.suffix.lower() == ".mat":
      array = _mat_array(path)
    else:
      array = _text_array(path)
  except (OSError, ValueError, NotImplementedError) as error:
    raise DataError(f"{path}: unreadable segment file ({error})") from None
  if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
    raise DataError(f"{path}: expected a numeric 2-D array, got {array.dtype} {array.shape}")
  return array


def _text_array(path: Path) -> np.ndarray:
  """Comma- or whitespace-separated numbers, with at most one header line."""
  with path.open() as handle:
    first = handle.readline()
  delimiter = "," if "," in first else None
  try:
    return np.loadtxt(path, delimiter=delimiter, ndmin=2)
  except ValueError:
    return np.loadtxt(path, delimiter=delimiter, ndmin=2, skiprows=1)


def _mat_array(path: Path) -> np.ndarray:
  """The only 2-D numeric variable of a MATLAB (v4-v7.2) file."""
  variables = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
  arrays = [v for v in variables.values()
            if isinstance(v, np.ndarray) and v.ndim == 2 and np.issubdtype(v.dtype, np.number)]
  if len(arrays) != 1:
    raise DataError(f"{path}: expected one 2-D numeric variable, found variables "
                    f"{sorted(variables)}")
  return arrays[0]


# ----------------------------------------------------------------------------- layout (b)


def _scan_edfs(root: Path, paths: list[Path], montage: Montage) -> ScanResult:
  items, skipped = [], []
  for path in paths:
    relative = path.relative_to(root)
    annotation = _edf_annotation(path)
    if isinstance(annotation, str):
      skipped.append((str(path), annotation))
    else:
      items.append((_recording_id(relative), patient_of(relative), path, annotation))
  recordings, unusable = edf_recordings(items, montage)
  return ScanResult(recordings, skipped + unusable)


def _edf_annotation(path: Path) -> Annotation | str:
  """Class events from an EDF+ file's annotations, or the reason the file is skipped."""
  try:
    entries = edf.read_annotations(path)
  except DataError as error:
    return str(error)
  events, named = [], False
  for onset, duration, text in entries:
    label = class_of(text)
    if label is None and _SEIZURE_WORDS.search(text.lower()):
      label = text.strip()
    if label is None:
      continue
    named = True
    if label == CLASS_NAMES[0]:
      continue
    if duration <= 0:
      return f"annotation {text!r} at {onset:g} s has no duration; expected onset and duration"
    events.append(Event(float(onset), float(onset) + float(duration), label))
  if not named:
    texts = sorted({t for _, _, t in entries})[:10]
    return f"no annotation names a class (found {texts or 'no annotations'})"
  return Annotation(tuple(sorted(events, key=lambda e: (e.start_s, e.label))))
