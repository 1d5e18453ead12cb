"""The frozen teacher's logits of every window a student stage will draw, computed once before its first step.

Distillation (Algorithm 2) needs y_T, the teacher's `config.model.prediction`
logits of each training window. The teacher is frozen and runs in eval mode,
so y_T of a window never changes: the online student step recomputes it on
every draw (one teacher forward per window per epoch); the cache computes it
once. The loader's order is fixed by the seed, so the windows the whole stage
will draw are known before step 1 (`loader.drawn_rows`) and only those are
computed (with a balanced draw from a large background, most background
windows are drawn once or never), in large eval batches split over every
device. The cached student step (`steps.make_cached_student_step`) then reads
y_T from the batch: `TeacherLogits.attach` adds it by the batch's store rows.

Files, next to the stage's checkpoints:
  teacher_logits.json         what the logits are of (`identity`: the teacher's fingerprint, the prediction
                              mode, the store, the number of rows and a sha256 of them) and `rows_done`
  teacher_logits.partial.npy  (n_rows, n_classes) float32 while being written; rows [0, rows_done) are final
  teacher_logits.npy          the same table, complete: it appears, by a rename, only once every row is in
Rows are (sorted distinct store rows) in order. A batch's logits are flushed
to the file before `rows_done` moves past them (an atomic JSON write), so a
run killed at any point resumes at its last whole batch, and computes the
remaining batches exactly as an uninterrupted run would have. A cache of
another teacher, mode, store or set of rows is discarded and recomputed.
Every process computes the logits (they come back replicated); the main
process writes the files.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
import tqdm
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from jclip_eeg import jsonio, sharding
from jclip_eeg.data import loader
from jclip_eeg.errors import DataError
from jclip_eeg.runs.stage import FinishedStage
from jclip_eeg.train import steps

_log = logging.getLogger(__name__)

LOGITS, PARTIAL, RECORD = "teacher_logits.npy", "teacher_logits.partial.npy", "teacher_logits.json"


@dataclasses.dataclass(frozen=True)
class TeacherLogits:
  """The teacher's logits of a set of store rows.

  Attributes:
    rows: (n,) sorted distinct int64 store rows.
    logits: (n, n_classes) float32, row i the logits of store row rows[i].
  """
  rows: np.ndarray
  logits: np.ndarray

  def lookup(self, index: np.ndarray) -> np.ndarray:
    """(b, n_classes) float32 logits of the store rows `index` (b,); DataError for a row not cached."""
    index = np.asarray(index)
    positions = np.minimum(np.searchsorted(self.rows, index), max(len(self.rows) - 1, 0))
    missing = self.rows[positions] != index if len(self.rows) else np.ones(index.shape, bool)
    if missing.any():
      raise DataError(f"teacher-logit cache: store rows {index[missing][:5].tolist()} are not in it (it holds the "
                      f"{len(self.rows)} windows the stage draws); was the split or the seed changed?")
    return self.logits[positions]

  def attach(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A loader batch plus `teacher_logits` (b, n_classes) float32 of its windows (by its `index`)."""
    return dict(batch, teacher_logits=self.lookup(batch["index"]))


def identity(*, fingerprint: str, mode: str, store: str | os.PathLike, rows: np.ndarray,
             n_classes: int) -> dict[str, Any]:
  """What a cache's logits are of: a cache with another identity is recomputed."""
  rows = np.ascontiguousarray(rows, np.int64)
  return {"teacher_fingerprint": fingerprint, "prediction": mode, "store": os.path.abspath(store),
          "n_rows": int(len(rows)), "rows_sha256": hashlib.sha256(rows.tobytes()).hexdigest(),
          "n_classes": int(n_classes)}


@functools.partial(jax.jit, static_argnames=("graphdef", "mode", "mesh"))
def batch_logits(weights: tuple[nnx.State, ...], x: jax.Array, features: jax.Array, *, graphdef: nnx.GraphDef,
                 mode: str, mesh: Mesh) -> jax.Array:
  """The teacher's (B, n_classes) float32 `mode` logits of x (B, C, T) split over the mesh, replicated."""
  return jax.lax.with_sharding_constraint(steps.teacher_logits(graphdef, weights, features, x, mode),
                                          sharding.replicated(mesh))


def load_or_compute(stage_dir: Path, teacher: FinishedStage, store: str | os.PathLike, rows: np.ndarray, *,
                    mode: str, batch_size: int, mesh: Mesh,
                    progress: bool = False) -> tuple[TeacherLogits, dict[str, Any]]:
  """The teacher's logits of the store `rows`: read from `stage_dir`, or computed (and resumed) there.

  Args:
    stage_dir: the student stage directory (the files of the module docstring go there).
    teacher: the finished teacher stage (its weights on `mesh`, class-text features, fingerprint).
    store: the EpochStore the rows index.
    rows: (n,) sorted distinct int64 store rows (`loader.drawn_rows`).
    mode: config.model.prediction, the logits distilled.
    batch_size: global eval batch size (a multiple of the mesh's devices).
    progress: show a progress bar (main process).
  Returns:
    (the logits, {"windows": n, "computed_this_run": windows computed now, "seconds_this_run"}).
  """
  started = time.perf_counter()
  rows = np.asarray(rows, np.int64)
  n_classes = int(teacher.text_features.shape[0])
  wanted = identity(fingerprint=teacher.result["fingerprint"], mode=mode, store=store, rows=rows,
                    n_classes=n_classes)
  files = _Files(Path(stage_dir))
  done, table = files.resume(wanted)
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices("teacher-logit cache: resume point read")
  writer = files.writer(wanted, done) if jax.process_index() == 0 else None
  batches = loader.eval_batches(store, rows[done:], batch_size=batch_size) if done < len(rows) else []
  order = _array_order(batch_size, jax.process_count())
  with tqdm.tqdm(total=len(rows), initial=done, desc="teacher logits", unit="window",
                 disable=not (progress and jax.process_index() == 0)) as bar:
    pending = None  # the previous batch's (start, logits on the device): fetched after the next is dispatched
    for k, batch in enumerate(batches):
      x = sharding.shard_batch({"x": batch["x"]}, mesh)["x"]
      logits = batch_logits(teacher.weights, x, teacher.text_features, graphdef=teacher.graphdef, mode=mode,
                            mesh=mesh)
      if pending is not None:
        _store_batch(table, writer, *pending, order, bar)
      pending = (done + k * batch_size, logits)
    if pending is not None:
      _store_batch(table, writer, *pending, order, bar)
  if writer is not None:
    writer.finish()
  summary = {"windows": len(rows), "computed_this_run": len(rows) - done,
             "seconds_this_run": round(time.perf_counter() - started, 2)}
  return TeacherLogits(rows, table), summary


def _array_order(batch_size: int, process_count: int) -> np.ndarray:
  """(batch_size,) position in an eval batch of each entry of the global array `sharding.shard_batch` makes:
  every process holds `batch[process_index::process_count]`, stacked in process order."""
  positions = np.arange(batch_size)
  return np.concatenate([positions[p::process_count] for p in range(process_count)])


def _store_batch(table: np.ndarray, writer: _Writer | None, start: int, logits: jax.Array, order: np.ndarray,
                 bar: tqdm.tqdm) -> None:
  """Puts one eval batch's logits (global array order) into rows [start, start + valid) of the table."""
  values = np.empty((len(order), table.shape[1]), np.float32)
  values[order] = np.asarray(jax.device_get(logits), np.float32)
  n = min(len(order), len(table) - start)  # the last batch is padded
  table[start:start + n] = values[:n]
  if writer is not None:
    writer.write(start, values[:n])
  bar.update(n)


class _Files:
  """The cache's files in a stage directory (module docstring)."""

  def __init__(self, stage_dir: Path):
    self.logits, self.partial, self.record = stage_dir / LOGITS, stage_dir / PARTIAL, stage_dir / RECORD

  def resume(self, wanted: dict[str, Any]) -> tuple[int, np.ndarray]:
    """(rows already done, the (n_rows, n_classes) table with them filled in) for a cache of `wanted`."""
    table = np.zeros((wanted["n_rows"], wanted["n_classes"]), np.float32)
    record = jsonio.read_json(self.record) if self.record.is_file() else None
    if record is None or record.get("identity") != wanted:
      if record is not None:
        _log.warning("%s: a teacher-logit cache of another teacher or set of windows; recomputing", self.record)
      return 0, table
    done = int(record["rows_done"])
    saved = self._saved(table.shape)
    if saved is None:
      return 0, table
    table[:done] = saved[:done]
    return done, table

  def _saved(self, shape: tuple[int, int]) -> np.ndarray | None:
    """The complete table if present, else the partial one, else None (also when unreadable or misshaped)."""
    for path in (self.logits, self.partial):
      if path.is_file():
        try:
          saved = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
          return None
        return saved if saved.shape == shape and saved.dtype == np.float32 else None
    return None

  def writer(self, wanted: dict[str, Any], done: int) -> _Writer:
    return _Writer(self, wanted, done)


class _Writer:
  """Streams logits into the partial file; renames it to the final name once every row is in."""

  def __init__(self, files: _Files, wanted: dict[str, Any], done: int):
    self.files, self.wanted, self.done = files, wanted, done
    shape = (wanted["n_rows"], wanted["n_classes"])
    if self.files.logits.is_file() and done == shape[0]:
      self.array = None  # complete already
      return
    if done == 0:
      for path in (self.files.logits, self.files.partial):
        path.unlink(missing_ok=True)
      self.array = np.lib.format.open_memmap(self.files.partial, mode="w+", dtype=np.float32, shape=shape)
      self._record()
    else:
      self.array = np.lib.format.open_memmap(self.files.partial, mode="r+")

  def _record(self) -> None:
    jsonio.write_json(self.files.record, {"identity": self.wanted, "rows_done": self.done})

  def write(self, start: int, values: np.ndarray) -> None:
    """Rows [start, start + len(values)), flushed to disk before `rows_done` says they are there."""
    if start != self.done:
      raise RuntimeError(f"teacher-logit cache: rows written out of order ({start}, expected {self.done})")
    self.array[start:start + len(values)] = values
    self.array.flush()
    self.done = start + len(values)
    self._record()

  def finish(self) -> None:
    if self.array is None:
      return
    if self.done != self.wanted["n_rows"]:
      raise RuntimeError(f"teacher-logit cache: {self.done} of {self.wanted['n_rows']} rows written")
    self.array.flush()
    del self.array
    os.replace(self.files.partial, self.files.logits)
