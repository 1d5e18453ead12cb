"""Grain input pipeline over the pre-epoched store (`EpochStore`).

One Grain element is one batch. A batch is read with a single fancy-index read
of its sorted store rows from the memory-mapped `x.npy` (then put back into the
sampled order), which is what makes the loader fast: per-window reads would pay
Python overhead 256 times per batch.

Training (`train_batches`) is an infinite sequence of epochs over a subset of
store windows (e.g. a fold's training indices). With `balanced=True` (the
paper's recipe, DESIGN.md "Preprocessing") an epoch is every non-background
window (class != 0) plus an equally large random draw, without replacement, of
background windows (all of them if there are fewer), shuffled; the draw and the
shuffle depend only on (seed, epoch), so batch k of the run is a pure function
of k. That makes the pipeline independent of the worker count and lets Grain's
`get_state()`/`set_state()` resume exactly, across epoch boundaries too.
It also makes the windows a run will draw known before its first step
(`drawn_rows`: what the student's teacher-logit cache computes, once each).

Evaluation (`eval_batches`) reads the given windows once, in the given order;
the last batch is padded to the batch size (repeating its last window) and
flagged by `valid`, so every batch has the same shape under `jax.jit`.

Multi-process data parallelism: every process computes the same global batch
of `batch_size` windows and keeps `global_batch[process_index::process_count]`,
so the union over processes is the global batch whatever the process count.

Each element is a dict of numpy arrays, with B = batch_size // process_count:
  x: (B, C, T) float32 windows (cast from the store's dtype), z-scored units.
  y: (B,) int32 class index into the store's `class_names`.
  index: (B,) int64 store row of each window.
  valid: (B,) bool, False for padding.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from typing import Any

import grain
import numpy as np
from absl import flags

from jclip_eeg.data.store import EpochStore
from jclip_eeg.errors import ConfigError, DataError

_BACKGROUND = 0


def train_batches(store_path: str | os.PathLike, indices: np.ndarray | None = None, *,
                  batch_size: int, seed: int, balanced: bool = True,
                  drop_remainder: bool = True, worker_count: int = 0, prefetch: int = 2,
                  process_index: int | None = None,
                  process_count: int | None = None) -> grain.DatasetIterator:
  """An infinite, checkpointable iterator of training batches (see module docstring).

  Args:
    store_path: directory of a complete `EpochStore`.
    indices: (n,) integer store rows to sample from; None means every window.
    batch_size: GLOBAL batch size (summed over processes).
    seed: non-negative int; the batch sequence is a pure function of it.
    balanced: per-epoch class-balanced draw; False gives plain shuffled epochs.
    drop_remainder: drop an epoch's last partial batch; otherwise pad it and
      mark the padding `valid=False`.
    worker_count: Grain worker processes (spawned: a script needs the
      `if __name__ == "__main__":` guard); 0 reads in this process with one
      read-ahead thread, which is the fastest choice when the store is in the
      page cache (benchmarks/bench_loader.py).
    prefetch: batches buffered ahead (per worker when worker_count > 0).
    process_index, process_count: this process's share of each global batch;
      default `jax.process_index()` / `jax.process_count()`.

  Returns:
    A `grain.DatasetIterator`; `get_state()`/`set_state()` resume exactly (a
    state is only valid for the same `worker_count`). With workers, batch
    arrays live in shared memory until freed (copy what you keep) and the
    iterator should be `close()`d when done.
  """
  source = _BatchSource(store_path, indices, batch_size=batch_size, seed=seed,
                        balanced=balanced, drop_remainder=drop_remainder,
                        process_index=process_index, process_count=process_count)
  return iter(_pipeline(source, worker_count=worker_count, prefetch=prefetch))


def eval_batches(store_path: str | os.PathLike, indices: np.ndarray | None = None, *,
                 batch_size: int, worker_count: int = 0, prefetch: int = 2,
                 process_index: int | None = None,
                 process_count: int | None = None) -> grain.IterDataset:
  """All given windows once, in order, in fixed-shape batches (see module docstring).

  Args: as `train_batches`. Returns a re-iterable `grain.IterDataset` of
  `ceil(n / batch_size)` batches; the padding of the last one has `valid=False`.
  """
  source = _BatchSource(store_path, indices, batch_size=batch_size, seed=None,
                        balanced=False, drop_remainder=False,
                        process_index=process_index, process_count=process_count)
  return _pipeline(source, worker_count=worker_count, prefetch=prefetch)


def steps_per_epoch(store_path: str | os.PathLike, indices: np.ndarray | None = None, *,
                    batch_size: int, balanced: bool = True,
                    drop_remainder: bool = True) -> int:
  """Number of training batches in one epoch of `train_batches` with these arguments."""
  source = _BatchSource(store_path, indices, batch_size=batch_size, seed=0,
                        balanced=balanced, drop_remainder=drop_remainder,
                        process_index=0, process_count=1)
  return source.steps_per_epoch


def drawn_rows(store_path: str | os.PathLike, indices: np.ndarray | None = None, *,
               batch_size: int, seed: int, n_steps: int, balanced: bool = True,
               drop_remainder: bool = True) -> np.ndarray:
  """The store rows that the first `n_steps` batches of `train_batches` (same arguments) hold, known
  before step 1 since the order depends only on the seed.

  Every epoch's draw up to step `n_steps`, over all processes: with a balanced
  draw from a large background, most background windows are drawn once or
  never. Returns (m,) sorted distinct int64 store rows; the batches hold
  `n_steps * batch_size` windows in all, each of them one of these.
  """
  if not isinstance(n_steps, (int, np.integer)) or n_steps < 0:
    raise ConfigError(f"n_steps: expected an int >= 0, got {n_steps!r}")
  source = _BatchSource(store_path, indices, batch_size=batch_size, seed=seed,
                        balanced=balanced, drop_remainder=drop_remainder,
                        process_index=0, process_count=1)
  return source.rows_of_steps(int(n_steps))


def epoch_order(indices: np.ndarray, labels: np.ndarray, *, seed: int, epoch: int,
                balanced: bool) -> np.ndarray:
  """The store rows of one training epoch, in the order they are batched.

  Args:
    indices: (n,) int64 store rows to draw from.
    labels: (n,) class of each of `indices`; class 0 is background.
    seed, epoch: the order is a pure function of these (and the inputs).
    balanced: keep every non-background row plus an equally large draw
      (without replacement) of background rows; otherwise all rows.

  Returns:
    (m,) int64 shuffled store rows, m = `epoch_size(labels, balanced)`.
  """
  rng = np.random.default_rng((seed, epoch))
  if balanced:
    is_event = labels != _BACKGROUND
    events, background = indices[is_event], indices[~is_event]
    drawn = rng.choice(background, size=min(len(events), len(background)), replace=False)
    indices = np.concatenate([events, drawn])
  return rng.permutation(indices)


def epoch_size(labels: np.ndarray, balanced: bool) -> int:
  """Windows in one epoch drawn from rows with these (n,) `labels`."""
  if not balanced:
    return len(labels)
  n_events = int(np.count_nonzero(labels != _BACKGROUND))
  return n_events + min(n_events, len(labels) - n_events)


def read_rows(x: np.ndarray, rows: np.ndarray, scratch: np.ndarray | None = None) -> np.ndarray:
  """(len(rows), C, T) float32 copy of `x[rows]`, read in ONE sorted fancy-index pass.

  Args:
    x: (N, C, T) store windows (memory-mapped).
    rows: (B,) int64 rows of `x`, any order, repeats allowed.
    scratch: optional (>= B, C, T) buffer of x.dtype that receives the sorted
      block. Reusing one matters: faulting in fresh pages for a temporary on
      every batch costs more than the copies themselves on virtual machines.

  Sorting turns random page faults on a memory-mapped file into a forward
  sweep; a gather afterwards restores the requested order.
  """
  order = np.argsort(rows, kind="stable")
  inverse = np.empty_like(order)
  inverse[order] = np.arange(len(rows))
  block = np.take(x, rows[order], axis=0, out=None if scratch is None else scratch[:len(rows)])
  return block[inverse].astype(np.float32, copy=False)


class _BatchSource:
  """Grain random-access source: element k = batch k (this process's share).

  `seed=None` is evaluation: one pass over `indices` in order. Otherwise it is
  training: infinitely many epochs from `epoch_order(..., seed, epoch)`.

  Holds only the store path and small arrays; the memory maps are opened on
  first access in whichever process reads (a pickled np.memmap would be sent
  as a full copy to every worker).
  """

  def __init__(self, store_path: str | os.PathLike, indices: np.ndarray | None, *,
               batch_size: int, seed: int | None, balanced: bool, drop_remainder: bool,
               process_index: int | None, process_count: int | None):
    self.store_path = os.fspath(store_path)
    self.batch_size = batch_size
    self.seed = seed
    self.balanced = balanced
    self.drop_remainder = drop_remainder
    self.process_index, self.process_count = _resolve_processes(process_index, process_count)
    store = self._store  # validates the store; the parent keeps it open
    self.indices = _check_indices(indices, len(store), self.store_path)
    _check_batch(batch_size, self.process_count)
    if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
      raise ConfigError(f"seed: expected a non-negative int, got {seed!r}")
    n = epoch_size(self._labels, balanced)
    if n == 0:
      raise DataError(f"{self.store_path}: the {len(self.indices)} given windows are all "
                      "background (class 0); a balanced epoch needs seizure windows "
                      "(use balanced=False or other indices)")
    if drop_remainder and batch_size > n:
      raise ConfigError(f"batch_size={batch_size} is larger than one epoch ({n} windows) "
                        "with drop_remainder=True: no batch could be formed")
    self.epoch_windows = n
    self.steps_per_epoch = n // batch_size if drop_remainder else -(-n // batch_size)

  def __getstate__(self) -> dict[str, Any]:
    lazy = ("_store", "_labels", "_x", "_y", "_epoch_rows", "_per_thread")
    return {k: v for k, v in self.__dict__.items() if k not in lazy}

  @functools.cached_property
  def _store(self) -> EpochStore:
    return EpochStore(self.store_path)

  @functools.cached_property
  def _x(self) -> np.ndarray:
    return self._store.x.view(np.ndarray)

  @functools.cached_property
  def _y(self) -> np.ndarray:
    return np.asarray(self._store.y, np.int32)

  @functools.cached_property
  def _labels(self) -> np.ndarray:
    return self._y[self.indices]

  def __len__(self) -> int:
    return self.steps_per_epoch if self.seed is None else sys.maxsize

  def __getitem__(self, step: int) -> dict[str, np.ndarray]:
    epoch, position = divmod(int(step), self.steps_per_epoch)
    rows = self._rows_of_epoch(epoch)[position * self.batch_size:(position + 1) * self.batch_size]
    valid = np.arange(self.batch_size) < len(rows)
    rows = np.pad(rows, (0, self.batch_size - len(rows)), mode="edge")
    mine = slice(self.process_index, None, self.process_count)
    rows, valid = rows[mine], valid[mine]
    return dict(x=read_rows(self._x, rows, self._scratch()), y=self._y[rows], index=rows,
                valid=valid)

  def rows_of_steps(self, n_steps: int) -> np.ndarray:
    """Sorted distinct store rows of global batches 0 .. n_steps - 1 (padding repeats a row already drawn)."""
    full_epochs, rest = divmod(n_steps, self.steps_per_epoch)
    per_epoch = self.steps_per_epoch * self.batch_size
    parts = [self._rows_of_epoch(epoch)[:per_epoch] for epoch in range(full_epochs)]
    if rest:
      parts.append(self._rows_of_epoch(full_epochs)[:rest * self.batch_size])
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)

  @functools.cached_property
  def _per_thread(self) -> threading.local:
    return threading.local()

  def _scratch(self) -> np.ndarray:
    """This thread's reusable (B, C, T) buffer for `read_rows`."""
    local = self._per_thread
    if not hasattr(local, "scratch"):
      shape = (self.batch_size // self.process_count,) + self._x.shape[1:]
      local.scratch = np.empty(shape, self._x.dtype)
    return local.scratch

  def _rows_of_epoch(self, epoch: int) -> np.ndarray:
    if self.seed is None:
      return self.indices
    cached = self.__dict__.get("_epoch_rows")
    if cached is None or cached[0] != epoch:
      rows = epoch_order(self.indices, self._labels, seed=self.seed, epoch=epoch,
                         balanced=self.balanced)
      self._epoch_rows = cached = (epoch, rows)
    return cached[1]

  def __repr__(self) -> str:
    return (f"_BatchSource({self.store_path!r}, windows={len(self.indices)}, "
            f"batch_size={self.batch_size}, process={self.process_index}/{self.process_count})")


def _pipeline(source: _BatchSource, *, worker_count: int, prefetch: int) -> grain.IterDataset:
  """Grain pipeline: the batch source read ahead by threads or worker processes."""
  if not isinstance(worker_count, int) or worker_count < 0:
    raise ConfigError(f"worker_count: expected an int >= 0, got {worker_count!r}")
  if not isinstance(prefetch, int) or prefetch < 1:
    raise ConfigError(f"prefetch: expected an int >= 1, got {prefetch!r}")
  # One reader thread per process: numpy releases the GIL while copying, so one
  # thread already overlaps reading with the training step; more threads mostly
  # compete for memory bandwidth (and each needs its own scratch buffer).
  ds = grain.MapDataset.source(source).to_iter_dataset(
      grain.ReadOptions(num_threads=1, prefetch_buffer_size=prefetch))
  if worker_count == 0:
    return ds
  _ensure_absl_flags_parsed()
  return ds.mp_prefetch(grain.MultiprocessingOptions(
      num_workers=worker_count, per_worker_buffer_size=prefetch))


def _ensure_absl_flags_parsed() -> None:
  """Grain reads its absl flags when starting workers; outside `absl.app.run` they are unparsed."""
  if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()


def _resolve_processes(process_index: int | None, process_count: int | None) -> tuple[int, int]:
  if process_index is None or process_count is None:
    import jax  # only here: Grain workers unpickle this module and must not pay for jax
    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
  if not 0 <= process_index < process_count:
    raise ConfigError(f"process_index={process_index}, process_count={process_count}: "
                      "expected 0 <= process_index < process_count")
  return int(process_index), int(process_count)


def _check_batch(batch_size: int, process_count: int) -> None:
  if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
    raise ConfigError(f"batch_size: expected a positive int, got {batch_size!r}")
  if batch_size % process_count:
    raise ConfigError(f"batch_size={batch_size} must be divisible by process_count="
                      f"{process_count} (each process gets batch_size // process_count windows)")


def _check_indices(indices: np.ndarray | None, n_windows: int, store_path: str) -> np.ndarray:
  """(n,) int64 store rows, validated against a store of `n_windows` rows."""
  if indices is None:
    return np.arange(n_windows, dtype=np.int64)
  indices = np.asarray(indices)
  if indices.ndim != 1 or not (indices.size == 0 or np.issubdtype(indices.dtype, np.integer)):
    raise DataError(f"indices for {store_path}: expected a 1-D array of integer store rows, "
                    f"got shape {indices.shape} dtype {indices.dtype}")
  if indices.size == 0:
    raise DataError(f"indices for {store_path}: empty; nothing to load")
  low, high = int(indices.min()), int(indices.max())
  if low < 0 or high >= n_windows:
    raise DataError(f"indices for {store_path}: rows must be in [0, {n_windows}), "
                    f"got min {low} max {high}")
  return indices.astype(np.int64)
