"""The teacher-logit cache on a real store and a tiny teacher: exact windows, parity, resume after a kill, invalidation."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest
from steps_helpers import N_CHANNELS, N_TIMES, build, fast_compile, tiny_config, write_tiny_bert

from jclip_eeg import jsonio, sharding
from jclip_eeg.data import loader
from jclip_eeg.data.store import StoreWriter
from jclip_eeg.errors import DataError
from jclip_eeg.models import trainable_filter
from jclip_eeg.runs import inference
from jclip_eeg.runs.stage import FinishedStage
from jclip_eeg.train import steps, teacher_cache

N_WINDOWS, TRAIN_BATCH, EVAL_BATCH, N_STEPS = 240, 8, 16, 9


@pytest.fixture(scope="module", autouse=True)
def _fast_compile():
  with fast_compile():
    yield


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
  """N_WINDOWS (4, 64) windows, one in ten a seizure: the background is mostly never drawn in N_STEPS steps."""
  path = tmp_path_factory.mktemp("cache") / "store"
  rng = np.random.default_rng(0)
  writer = StoreWriter(path, n_windows=N_WINDOWS, n_channels=N_CHANNELS, n_times=N_TIMES)
  y = (np.arange(N_WINDOWS) % 10 == 3).astype(np.int32)
  writer.append(rng.normal(size=(N_WINDOWS, N_CHANNELS, N_TIMES)).astype(np.float32), y, 0,
                np.arange(N_WINDOWS, dtype=np.float64))
  writer.commit(class_names=("normal", "seizure"), channel_names=tuple(f"c{i}" for i in range(N_CHANNELS)),
                sfreq=float(N_TIMES), recordings=[{"id": "r", "patient": "p", "source": "made-up"}])
  return path


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> FinishedStage:
  """A tiny teacher as a finished stage would give it (weights on the mesh, frozen features, fingerprint)."""
  config = tiny_config("teacher", write_tiny_bert(tmp_path_factory.mktemp("bert")))
  mesh = sharding.make_mesh()
  model = build(config)
  graphdef, state = steps.create_train_state(model, steps.make_optimizer(config), trainable_filter(config.model),
                                             mesh=mesh)
  weights = (state.params, state.rest)
  features = inference.class_text_features(weights, graphdef=graphdef, mesh=mesh)
  return FinishedStage(Path("teacher"), config, {"fingerprint": inference.fingerprint(weights)}, graphdef, weights,
                       features, mesh)


@pytest.fixture(scope="module")
def rows(store) -> np.ndarray:
  return loader.drawn_rows(store, batch_size=TRAIN_BATCH, seed=0, n_steps=N_STEPS)


def compute(stage_dir: Path, teacher: FinishedStage, store: Path, rows: np.ndarray, teacher_result=None):
  if teacher_result is not None:
    teacher = FinishedStage(teacher.directory, teacher.config, teacher_result, teacher.graphdef, teacher.weights,
                            teacher.text_features, teacher.mesh)
  return teacher_cache.load_or_compute(stage_dir, teacher, store, rows, mode=teacher.config.model.prediction,
                                       batch_size=EVAL_BATCH, mesh=teacher.mesh)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, teacher, store, rows):
  stage_dir = tmp_path_factory.mktemp("reference")
  logits, summary = compute(stage_dir, teacher, store, rows)
  return stage_dir, logits, summary


def test_cache_holds_exactly_the_drawn_windows_with_the_online_logits(reference, teacher, store, rows):
  """Every training batch's cached logits equal the teacher's logits computed on that batch (the online step)."""
  stage_dir, logits, summary = reference
  assert summary["windows"] == summary["computed_this_run"] == len(rows)
  assert len(rows) < N_STEPS * TRAIN_BATCH  # seizure windows are redrawn every epoch, computed once
  assert sorted(p.name for p in stage_dir.iterdir()) == [teacher_cache.RECORD, teacher_cache.LOGITS]
  np.testing.assert_array_equal(np.load(stage_dir / teacher_cache.LOGITS), logits.logits)
  mode, mesh = teacher.config.model.prediction, teacher.mesh
  online = jax.jit(steps.teacher_logits, static_argnums=(0, 4))
  batches = loader.train_batches(store, batch_size=TRAIN_BATCH, seed=0)
  for _ in range(N_STEPS):
    batch = logits.attach(next(batches))
    x = sharding.shard_batch(batch, mesh)["x"]
    want = online(teacher.graphdef, teacher.weights, teacher.text_features, x, mode)
    # The cache's eval batches (16) and a train batch (8) are matmuls of other shapes, whose float32
    # summation order XLA's CPU kernels choose per shape and CPU: measured up to 2.7e-6 apart on a 2-core
    # AMD EPYC (within 1e-6 on an Intel Xeon); a window given another window's logits is off by ~0.1-1.
    np.testing.assert_allclose(batch["teacher_logits"], want, rtol=1e-5, atol=1e-5)
  assert logits.logits.shape == (len(rows), 2) and np.all(np.isfinite(logits.logits))


def test_a_complete_cache_is_read_back_not_recomputed(reference, teacher, store, rows):
  stage_dir, want, _ = reference
  again, summary = compute(stage_dir, teacher, store, rows)
  assert summary["computed_this_run"] == 0
  np.testing.assert_array_equal(again.logits, want.logits)


class _Killed(BaseException):
  """Stands for kill -9: nothing after it runs, and what reached the disk stays as it is."""


def test_a_killed_computation_resumes_to_the_same_cache(tmp_path, reference, teacher, store, rows, monkeypatch):
  real_write = teacher_cache._Writer.write
  calls = []

  def write_then_die(writer, start, values):
    if len(calls) == 2:
      raise _Killed
    calls.append(start)
    real_write(writer, start, values)

  monkeypatch.setattr(teacher_cache._Writer, "write", write_then_die)
  with pytest.raises(_Killed):
    compute(tmp_path, teacher, store, rows)
  monkeypatch.undo()
  assert not (tmp_path / teacher_cache.LOGITS).exists()  # nothing that looks complete
  assert jsonio.read_json(tmp_path / teacher_cache.RECORD)["rows_done"] == 2 * EVAL_BATCH
  partial = np.lib.format.open_memmap(tmp_path / teacher_cache.PARTIAL, mode="r+")
  partial[2 * EVAL_BATCH:] = np.nan  # rows past rows_done are never trusted
  partial.flush()
  del partial
  logits, summary = compute(tmp_path, teacher, store, rows)
  assert summary["computed_this_run"] == len(rows) - 2 * EVAL_BATCH
  np.testing.assert_array_equal(logits.logits, reference[1].logits)
  np.testing.assert_array_equal(np.load(tmp_path / teacher_cache.LOGITS), reference[1].logits)
  assert not (tmp_path / teacher_cache.PARTIAL).exists()


def test_another_teacher_or_other_windows_are_recomputed(tmp_path, reference, teacher, store, rows):
  compute(tmp_path, teacher, store, rows)
  _, summary = compute(tmp_path, teacher, store, rows, teacher_result={"fingerprint": "0" * 64})
  assert summary["computed_this_run"] == len(rows)
  fewer = rows[:-3]
  logits, summary = compute(tmp_path, teacher, store, fewer)
  assert summary["computed_this_run"] == len(fewer)
  np.testing.assert_allclose(logits.logits, reference[1].logits[:-3], rtol=1e-6, atol=1e-6)


def test_a_window_not_drawn_is_a_clear_error(reference, rows):
  missing = np.setdiff1d(np.arange(N_WINDOWS), rows)[:2]
  with pytest.raises(DataError, match=r"store rows \[.*\] are not in it"):
    reference[1].lookup(np.concatenate([rows[:3], missing]))


def test_the_global_array_order_of_an_eval_batch():
  """shard_batch stacks each process's batch[p::P]: two processes hold 0, 2, 4 and 1, 3, 5."""
  np.testing.assert_array_equal(teacher_cache._array_order(6, 2), [0, 2, 4, 1, 3, 5])
  np.testing.assert_array_equal(teacher_cache._array_order(4, 1), [0, 1, 2, 3])
