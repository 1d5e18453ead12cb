"""Orbax checkpoints of a stage: exact resume (state, RNG, data position), what is kept, weights-only restore."""

from __future__ import annotations

import gc

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from steps_helpers import TinyState, tiny_state, write_tiny_store

from jclip_eeg.data import loader
from jclip_eeg.errors import DataError
from jclip_eeg.runs.checkpoints import Checkpoints


def test_checkpoint_restores_state_rng_and_data_position(tmp_path):
  store = write_tiny_store(tmp_path / "store")
  batches = loader.train_batches(store, batch_size=4, seed=1)
  for _ in range(3):
    next(batches)
  ckpt = Checkpoints(tmp_path / "ckpt")
  ckpt.save(tiny_state(3, seed=5), batches, {"f1_macro": 0.5})
  expected = [next(batches)["index"] for _ in range(10)]  # crosses an epoch boundary
  ckpt.close()

  fresh = loader.train_batches(store, batch_size=4, seed=1)
  reopened = Checkpoints(tmp_path / "ckpt")
  restored = reopened.restore(3, tiny_state(0), fresh)
  reopened.close()
  assert int(restored.step) == 3
  np.testing.assert_array_equal(restored.w, tiny_state(3, seed=5).w)
  np.testing.assert_array_equal(jax.random.key_data(restored.key), jax.random.key_data(jax.random.key(5)))
  for want in expected:
    np.testing.assert_array_equal(next(fresh)["index"], want)


def test_checkpoints_keep_latest_and_best(tmp_path):
  store = write_tiny_store(tmp_path / "store")
  batches = loader.train_batches(store, batch_size=4, seed=0)
  ckpt = Checkpoints(tmp_path / "ckpt", keep=2)
  for step, f1 in [(1, 0.5), (2, 0.9), (3, 0.2), (4, 0.9), (5, 0.1), (6, 0.3)]:
    ckpt.save(tiny_state(step), batches, {"f1_macro": f1})
  ckpt.wait()
  assert ckpt.best_step() == 4  # ties go to the later step
  assert ckpt.metrics(4) == {"f1_macro": 0.9}
  assert ckpt.latest_step() == 6
  assert sorted(int(p.name) for p in (tmp_path / "ckpt").iterdir() if p.name.isdigit()) == [4, 5, 6]
  ckpt.close()


# Orbax leaves the coroutines of the failed restore un-awaited; collect them here, not in a later test.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_checkpoint_of_another_model_is_a_clear_error(tmp_path):
  store = write_tiny_store(tmp_path / "store")
  ckpt = Checkpoints(tmp_path / "ckpt")
  ckpt.save(tiny_state(1), loader.train_batches(store, batch_size=4, seed=0), {"f1_macro": 0.5})
  ckpt.wait()
  other = TinyState(jnp.int32(0), jnp.zeros(7), jax.random.key(0))
  with pytest.raises(DataError, match="unreadable checkpoint .damaged, or of another model.config"):
    ckpt.restore(1, other)
  ckpt.close()
  gc.collect()


class _TrainState(flax.struct.PyTreeNode):
  step: jax.Array
  params: dict
  rest: dict
  opt_state: dict


def test_weights_restore_reads_params_and_rest_only(tmp_path):
  """Inference restores the weights without an optimiser state to rebuild (an Orbax partial restore)."""
  store = write_tiny_store(tmp_path / "store")
  params, rest = {"w": jnp.arange(4.0)}, {"bn": jnp.ones(3), "key": jax.random.key(7)}
  state = _TrainState(jnp.int32(5), params, rest, {"mu": jnp.full(4, 9.0), "nu": jnp.zeros(4)})
  ckpt = Checkpoints(tmp_path / "ckpt", async_save=False)
  ckpt.save(state, loader.train_batches(store, batch_size=4, seed=0), {"f1_macro": 0.5})
  template = ({"w": jnp.zeros(4)}, {"bn": jnp.zeros(3), "key": jax.random.key(0)})
  got_params, got_rest = ckpt.restore_weights(5, template)
  np.testing.assert_array_equal(got_params["w"], params["w"])
  np.testing.assert_array_equal(got_rest["bn"], rest["bn"])
  np.testing.assert_array_equal(jax.random.key_data(got_rest["key"]), jax.random.key_data(rest["key"]))
  with pytest.raises(DataError, match="no model weights of this config"):
    ckpt.restore_weights(5, ({"w": jnp.zeros(4), "extra": jnp.zeros(2)}, template[1]))
  ckpt.close()
  gc.collect()
