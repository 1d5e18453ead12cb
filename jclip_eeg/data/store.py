"""The pre-epoched store: 1-s windows as memory-mappable arrays plus per-window metadata.

Layout of a store directory (all arrays little-endian `.npy`, memory-mapped on read):

  store.json         metadata; written last, with "complete": true
  x.npy              (N, C, T) float32 (or float16) z-scored windows
  y.npy              (N,) int32 class index into `class_names`
  recording_index.npy (N,) int32 index into metadata["recordings"]
  start_s.npy        (N,) float64 window start, seconds from recording start

A store is written into a hidden staging directory beside its final path and
renamed into place only when every file is complete, so an interrupted writer
never leaves a directory that `EpochStore` accepts.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jclip_eeg.errors import DataError

FORMAT = "jclip-eeg-store"
VERSION = 1
_META = "store.json"


class EpochStore:
  """Read-only view of a complete store (the contract in DESIGN.md).

  Attributes:
    x: (N, C, T) memory-mapped windows.
    y: (N,) int32 labels.
    class_names, channel_names: tuples of str.
    sfreq: sampling rate in Hz.
    recording, patient: (N,) str arrays; `recording_index`, `patient_index`
      are the same as int32 codes into `recordings` / `patients`.
    start_s: (N,) float64 window start in seconds.
    metadata: the parsed store.json (report, skipped files, preprocessing).
  """

  def __init__(self, path: str | os.PathLike):
    self.path = Path(path)
    meta_path = self.path / _META
    if not self.path.is_dir():
      raise DataError(f"{self.path}: no such store directory; create it with scripts/prepare_data.py")
    if not meta_path.is_file():
      raise DataError(f"{self.path}: not a complete store ({_META} missing); "
                      "the preparation was interrupted or this is not a store: rerun scripts/prepare_data.py")
    self.metadata: dict[str, Any] = json.loads(meta_path.read_text())
    if self.metadata.get("format") != FORMAT or not self.metadata.get("complete"):
      raise DataError(f"{meta_path}: not a complete {FORMAT} store")
    if self.metadata.get("version") != VERSION:
      raise DataError(f"{meta_path}: store version {self.metadata.get('version')}, "
                      f"this code reads version {VERSION}; prepare it again")
    self.class_names: tuple[str, ...] = tuple(self.metadata["class_names"])
    self.channel_names: tuple[str, ...] = tuple(self.metadata["channel_names"])
    self.sfreq: float = float(self.metadata["sfreq"])
    self.recordings: tuple[str, ...] = tuple(r["id"] for r in self.metadata["recordings"])
    patients_of_recording = [r["patient"] for r in self.metadata["recordings"]]
    self.patients: tuple[str, ...] = tuple(sorted(set(patients_of_recording)))
    self._patient_of_recording = np.array(
        [self.patients.index(p) for p in patients_of_recording], dtype=np.int32)
    self.x = self._array("x")
    self.y = self._array("y")
    self.recording_index = self._array("recording_index")
    self.start_s = self._array("start_s")
    n = int(self.metadata["n_windows"])
    for name in ("x", "y", "recording_index", "start_s"):
      if getattr(self, name).shape[0] != n:
        raise DataError(f"{self.path / (name + '.npy')}: {getattr(self, name).shape[0]} rows, "
                        f"store.json says {n}")

  def check_finite(self, rows: np.ndarray | None = None, chunk: int = 4096) -> None:
    """DataError naming the store and the first rows among `rows` (default: all) whose windows hold NaN or inf.

    Reads the windows `chunk` rows at a time (a store can be larger than memory).
    """
    rows = np.arange(len(self)) if rows is None else np.sort(np.asarray(rows))
    bad = [part[~np.isfinite(self.x[part]).all(axis=(1, 2))] for part in
           (rows[i:i + chunk] for i in range(0, len(rows), chunk))]
    bad = np.concatenate(bad) if bad else np.zeros(0, np.int64)
    if bad.size:
      shown = ", ".join(map(str, bad[:10].tolist())) + (f", ... ({bad.size} in all)" if bad.size > 10 else "")
      raise DataError(f"{self.path / 'x.npy'}: windows of rows {shown} hold NaN or inf values; the store is "
                      "damaged or was not written by scripts/prepare_data.py: prepare it again (--overwrite)")

  def _array(self, name: str) -> np.ndarray:
    return np.load(self.path / f"{name}.npy", mmap_mode="r")

  def __len__(self) -> int:
    return int(self.y.shape[0])

  @property
  def patient_index(self) -> np.ndarray:
    return self._patient_of_recording[np.asarray(self.recording_index)]

  @property
  def recording(self) -> np.ndarray:
    return np.asarray(self.recordings, dtype=object)[np.asarray(self.recording_index)]

  @property
  def patient(self) -> np.ndarray:
    return np.asarray(self.patients, dtype=object)[self.patient_index]

  def __repr__(self) -> str:
    n, c, t = self.x.shape
    counts = np.bincount(np.asarray(self.y), minlength=len(self.class_names))
    per_class = ", ".join(f"{k}={v}" for k, v in zip(self.class_names, counts))
    return (f"EpochStore({str(self.path)!r}, windows={n}, channels={c}, samples={t}, "
            f"sfreq={self.sfreq:g}, recordings={len(self.recordings)}, "
            f"patients={len(self.patients)}, {per_class})")


class StoreWriter:
  """Streams windows into a staging directory; `commit()` renames it into place.

  Usage:
    writer = StoreWriter(out, n_windows=N, n_channels=C, n_times=T)
    writer.append(x_chunk, y_chunk, recording_index_chunk, start_s_chunk)  # repeatedly
    store = writer.commit(class_names=..., channel_names=..., sfreq=...,
                          recordings=[{"id": ..., "patient": ..., "source": ...}], **extra)
  """

  def __init__(self, out_dir: str | os.PathLike, *, n_windows: int, n_channels: int,
               n_times: int, dtype: str | np.dtype = np.float32):
    self.out_dir = Path(out_dir)
    self.out_dir.parent.mkdir(parents=True, exist_ok=True)
    self.staging = self.out_dir.parent / f".{self.out_dir.name}.staging-{uuid.uuid4().hex[:8]}"
    self.staging.mkdir()
    self.n_windows = n_windows
    open_memmap = np.lib.format.open_memmap
    self._x = open_memmap(self.staging / "x.npy", mode="w+", dtype=np.dtype(dtype),
                          shape=(n_windows, n_channels, n_times))
    self._y = np.empty(n_windows, np.int32)
    self._recording_index = np.empty(n_windows, np.int32)
    self._start_s = np.empty(n_windows, np.float64)
    self._filled = 0

  def append(self, x: np.ndarray, y: np.ndarray, recording_index: np.ndarray | int,
             start_s: np.ndarray) -> None:
    n = len(y)
    lo, hi = self._filled, self._filled + n
    if hi > self.n_windows:
      raise ValueError(f"StoreWriter: {hi} windows appended, {self.n_windows} declared")
    self._x[lo:hi] = x
    self._y[lo:hi] = y
    self._recording_index[lo:hi] = recording_index
    self._start_s[lo:hi] = start_s
    self._filled = hi

  def commit(self, *, class_names: Sequence[str], channel_names: Sequence[str], sfreq: float,
             recordings: Sequence[dict[str, Any]], overwrite: bool = False,
             **extra: Any) -> EpochStore:
    if self._filled != self.n_windows:
      raise ValueError(f"StoreWriter: {self._filled} windows appended, {self.n_windows} declared")
    self._x.flush()
    del self._x
    for name in ("y", "recording_index", "start_s"):
      np.save(self.staging / f"{name}.npy", getattr(self, f"_{name}"))
    metadata = dict(format=FORMAT, version=VERSION, complete=True, n_windows=self.n_windows,
                    class_names=list(class_names), channel_names=list(channel_names),
                    sfreq=float(sfreq), recordings=list(recordings), **extra)
    _write_json_atomic(self.staging / _META, metadata)
    if self.out_dir.exists():
      if not overwrite:
        raise FileExistsError(f"{self.out_dir} exists; pass overwrite=True to replace it")
      shutil.rmtree(self.out_dir)
    os.replace(self.staging, self.out_dir)
    return EpochStore(self.out_dir)

  def abort(self) -> None:
    shutil.rmtree(self.staging, ignore_errors=True)


def _write_json_atomic(path: Path, obj: Any) -> None:
  tmp = path.with_name(path.name + ".tmp")
  with open(tmp, "w") as f:
    json.dump(obj, f, indent=1)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)
