"""Tests of the Grain loader over small random stores (no dataset readers involved)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from jclip_eeg.data import loader
from jclip_eeg.data.store import EpochStore, StoreWriter
from jclip_eeg.errors import ConfigError, DataError

N_WINDOWS, N_CHANNELS, N_TIMES = 2000, 4, 32
N_EVENTS = 200  # 10 % seizure windows, split over classes 1 and 2
SINGLE = dict(process_index=0, process_count=1)


def write_store(path: Path, *, n_windows: int = N_WINDOWS, n_channels: int = N_CHANNELS,
                n_times: int = N_TIMES, dtype: str = "float32") -> EpochStore:
  rng = np.random.default_rng(0)
  y = np.zeros(n_windows, np.int32)
  events = rng.choice(n_windows, N_EVENTS, replace=False)
  y[events] = 1 + np.arange(N_EVENTS) % 2
  x = rng.standard_normal((n_windows, n_channels, n_times)).astype(dtype)
  writer = StoreWriter(path, n_windows=n_windows, n_channels=n_channels, n_times=n_times,
                       dtype=dtype)
  writer.append(x, y, np.arange(n_windows) * 4 // n_windows, np.arange(n_windows, dtype=float))
  return writer.commit(class_names=["bckg", "fnsz", "gnsz"],
                       channel_names=[f"c{i}" for i in range(n_channels)], sfreq=n_times,
                       recordings=[dict(id=f"r{i}", patient=f"p{i // 2}") for i in range(4)])


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> EpochStore:
  return write_store(tmp_path_factory.mktemp("loader") / "store")


def take(it, n: int) -> list[dict[str, np.ndarray]]:
  """n batches as plain numpy copies (worker batches live in shared memory)."""
  return [{k: np.array(v) for k, v in next(it).items()} for _ in range(n)]


def assert_same_batches(a: list[dict], b: list[dict]) -> None:
  assert len(a) == len(b)
  for batch_a, batch_b in zip(a, b):
    for key in ("x", "y", "index", "valid"):
      np.testing.assert_array_equal(batch_a[key], batch_b[key], err_msg=key)


def first_two_epochs(store: EpochStore, indices: np.ndarray, *, seed: int,
                     balanced: bool = True) -> list[np.ndarray]:
  """Valid store rows of the first two training epochs, one array per epoch."""
  kwargs = dict(batch_size=64, drop_remainder=False, balanced=balanced)
  steps = loader.steps_per_epoch(store.path, indices, **kwargs)
  it = loader.train_batches(store.path, indices, seed=seed, **kwargs, **SINGLE)
  epochs = []
  for _ in range(2):
    batches = take(it, steps)
    epochs.append(np.concatenate([b["index"][b["valid"]] for b in batches]))
  return epochs


def test_balanced_epoch_keeps_every_event_and_redraws_background(store):
  train = np.arange(0, N_WINDOWS, 2)  # a "fold": every other window
  y = np.asarray(store.y)
  events = train[y[train] != 0]
  first, second = first_two_epochs(store, train, seed=3)
  for rows in (first, second):
    assert len(np.unique(rows)) == len(rows) == 2 * len(events)
    assert set(rows) <= set(train)
    np.testing.assert_array_equal(np.sort(rows[y[rows] != 0]), np.sort(events))
    assert np.count_nonzero(y[rows] == 0) == len(events)
  assert set(first[y[first] == 0]) != set(second[y[second] == 0])
  assert not np.array_equal(np.sort(first), first)  # shuffled, not sorted
  again, _ = first_two_epochs(store, train, seed=3)
  other, _ = first_two_epochs(store, train, seed=4)
  np.testing.assert_array_equal(first, again)
  assert not np.array_equal(first, other)


@pytest.mark.parametrize("drop_remainder", [True, False])
def test_drawn_rows_are_exactly_the_windows_the_batches_hold(store, drop_remainder):
  """Known before step 1: the union of the first n batches' rows, over epoch boundaries and a partial epoch."""
  train = np.arange(0, N_WINDOWS, 2)
  kwargs = dict(batch_size=48, seed=5, drop_remainder=drop_remainder)
  per_epoch = loader.steps_per_epoch(store.path, train, batch_size=48, drop_remainder=drop_remainder)
  n_steps = 3 * per_epoch + 2
  batches = take(loader.train_batches(store.path, train, **kwargs, **SINGLE), n_steps)
  held = np.unique(np.concatenate([b["index"] for b in batches]))
  drawn = loader.drawn_rows(store.path, train, n_steps=n_steps, **kwargs)
  np.testing.assert_array_equal(drawn, held)
  assert drawn.dtype == np.int64
  # Every epoch redraws the events: fewer distinct rows than draws, yet more than the events alone.
  n_events = np.count_nonzero(np.asarray(store.y)[train] != 0)
  assert n_events < len(drawn) < n_steps * 48
  np.testing.assert_array_equal(loader.drawn_rows(store.path, train, n_steps=per_epoch, **kwargs),
                                np.unique(np.concatenate([b["index"] for b in batches[:per_epoch]])))
  assert len(loader.drawn_rows(store.path, train, n_steps=0, **kwargs)) == 0
  with pytest.raises(ConfigError, match="n_steps: expected an int >= 0"):
    loader.drawn_rows(store.path, train, n_steps=-1, **kwargs)


def test_balanced_epoch_takes_all_background_when_it_is_scarce():
  labels = np.array([1, 1, 2, 0, 1])
  rows = loader.epoch_order(np.arange(10, 15), labels, seed=0, epoch=0, balanced=True)
  np.testing.assert_array_equal(np.sort(rows), np.arange(10, 15))
  assert loader.epoch_size(labels, balanced=True) == 5


def test_plain_epochs_are_reshuffled_permutations(store):
  indices = np.arange(100, 900)
  first, second = first_two_epochs(store, indices, seed=0, balanced=False)
  for rows in (first, second):
    np.testing.assert_array_equal(np.sort(rows), indices)
  assert not np.array_equal(first, second)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_batch_contents_match_the_store(tmp_path, dtype):
  small = write_store(tmp_path / "s", n_windows=300, dtype=dtype)
  it = loader.train_batches(small.path, batch_size=16, seed=1, **SINGLE)
  for batch in take(it, 5):
    assert batch["x"].shape == (16, N_CHANNELS, N_TIMES) and batch["x"].dtype == np.float32
    assert batch["y"].dtype == np.int32 and batch["index"].dtype == np.int64
    assert batch["valid"].dtype == bool and batch["valid"].all()
    np.testing.assert_array_equal(batch["x"], np.asarray(small.x[batch["index"]], np.float32))
    np.testing.assert_array_equal(batch["y"], small.y[batch["index"]])


def test_read_rows_restores_requested_order(store):
  rows = np.array([1500, 3, 3, 700, 12])
  x = store.x.view(np.ndarray)
  expected = np.asarray(store.x[rows])
  np.testing.assert_array_equal(loader.read_rows(x, rows), expected)
  scratch = np.full((8, N_CHANNELS, N_TIMES), np.nan, np.float32)
  np.testing.assert_array_equal(loader.read_rows(x, rows, scratch), expected)


def test_eval_batches_cover_indices_in_order_with_padding(store):
  indices = np.arange(7, 7 + 130)[::-1]
  batches = list(loader.eval_batches(store.path, indices, batch_size=32, **SINGLE))
  assert len(batches) == 5
  assert all(b["x"].shape == (32, N_CHANNELS, N_TIMES) for b in batches)
  valid = np.concatenate([b["valid"] for b in batches])
  assert valid.sum() == 130 and valid[:130].all()
  rows = np.concatenate([b["index"] for b in batches])[valid]
  np.testing.assert_array_equal(rows, indices)
  np.testing.assert_array_equal(batches[-1]["x"][2], store.x[indices[-1]])  # padding


def test_steps_per_epoch(store):
  y = np.asarray(store.y)
  n_events = int(np.count_nonzero(y))
  assert loader.steps_per_epoch(store.path, batch_size=32) == 2 * n_events // 32
  assert loader.steps_per_epoch(store.path, batch_size=32, drop_remainder=False) == \
      -(-2 * n_events // 32)
  assert loader.steps_per_epoch(store.path, batch_size=32, balanced=False) == N_WINDOWS // 32


def test_source_pickles_without_the_arrays(tmp_path):
  big = write_store(tmp_path / "big", n_windows=2000, n_channels=8, n_times=256)
  assert big.x.nbytes > 10_000_000
  indices = np.arange(0, 2000, 4)
  ds = loader.eval_batches(big.path, indices, batch_size=50, **SINGLE)
  first = next(iter(ds))  # the memory maps are open now
  blob = pickle.dumps(ds)
  assert len(blob) < indices.nbytes + 10_000
  assert_same_batches([next(iter(pickle.loads(blob)))], [first])


@pytest.mark.parametrize("worker_count", [1, 2])
def test_same_batches_for_any_worker_count(store, worker_count):
  kwargs = dict(batch_size=96, seed=5, **SINGLE)
  steps = loader.steps_per_epoch(store.path, batch_size=96)
  expected = take(loader.train_batches(store.path, **kwargs), steps + 2)
  it = loader.train_batches(store.path, worker_count=worker_count, **kwargs)
  try:
    assert_same_batches(take(it, steps + 2), expected)
  finally:
    it.close()


@pytest.mark.parametrize("worker_count", [0, 2])
def test_restored_iterator_continues_exactly(store, worker_count):
  kwargs = dict(batch_size=64, seed=11, worker_count=worker_count, **SINGLE)
  k = loader.steps_per_epoch(store.path, batch_size=64) - 1  # resume right before an epoch ends
  reference = loader.train_batches(store.path, **kwargs)
  restored = loader.train_batches(store.path, **kwargs)
  try:
    take(reference, k)
    state = reference.get_state()
    expected = take(reference, 3)
    restored.set_state(state)
    assert_same_batches(take(restored, 3), expected)
  finally:
    reference.close()
    restored.close()


@pytest.mark.parametrize("make", ["train", "eval"])
def test_processes_split_the_global_batch(store, make):
  indices = np.arange(1000)
  def batches(**processes):
    if make == "eval":
      return take(iter(loader.eval_batches(store.path, indices, batch_size=64, **processes)), 3)
    return take(loader.train_batches(store.path, indices, batch_size=64, seed=2, **processes), 3)
  global_batches = batches(process_index=0, process_count=1)
  shares = [batches(process_index=p, process_count=2) for p in range(2)]
  for step, whole in enumerate(global_batches):
    mine = [share[step] for share in shares]
    assert all(len(m["index"]) == 32 for m in mine)
    assert not set(mine[0]["index"]) & set(mine[1]["index"])
    for p in range(2):
      for key in ("x", "y", "index", "valid"):
        np.testing.assert_array_equal(mine[p][key], whole[key][p::2], err_msg=key)


def test_default_process_split_comes_from_jax(store):
  batch = next(loader.train_batches(store.path, batch_size=8, seed=0))
  assert batch["x"].shape[0] == 8  # jax.process_count() == 1 in tests


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(indices=np.array([], np.int64)), DataError, "empty"),
    (dict(indices=np.array([0, N_WINDOWS])), DataError, r"\[0, 2000\)"),
    (dict(indices=np.array([0.5, 1.0])), DataError, "integer"),
    (dict(batch_size=1000), ConfigError, "larger than one epoch"),
    (dict(batch_size=0), ConfigError, "batch_size"),
    (dict(batch_size=30, process_index=0, process_count=4), ConfigError, "divisible"),
    (dict(process_index=2, process_count=2), ConfigError, "process_index"),
    (dict(seed=-1), ConfigError, "seed"),
    (dict(worker_count=-1), ConfigError, "worker_count"),
])
def test_bad_arguments_raise_clear_errors(store, kwargs, error, match):
  args = dict(indices=None, batch_size=32, seed=0, **SINGLE) | kwargs
  with pytest.raises(error, match=match):
    loader.train_batches(store.path, **args)


def test_balanced_epoch_needs_non_background_windows(store):
  background = np.flatnonzero(np.asarray(store.y) == 0)[:50]
  with pytest.raises(DataError, match="all background"):
    loader.train_batches(store.path, background, batch_size=8, seed=0, **SINGLE)
  assert next(loader.train_batches(store.path, background, batch_size=8, seed=0, balanced=False,
                                   **SINGLE))["y"].sum() == 0


def test_missing_store_is_a_data_error(tmp_path):
  with pytest.raises(DataError, match="no such store"):
    loader.train_batches(tmp_path / "nope", batch_size=4, seed=0, **SINGLE)
