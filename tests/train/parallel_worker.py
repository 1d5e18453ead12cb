"""Subprocess side of the data-parallel tests (they need their own XLA_FLAGS / jax.distributed).

  python parallel_worker.py devices BERT_DIR OUT.npz
      On 8 simulated CPU devices: one teacher step on a 1-device mesh and on
      the 8-device mesh, from the same state and global batch, with SGD(lr=1)
      so the parameter change is minus the gradient; saves gradients,
      non-trainable variables and metrics.
  python parallel_worker.py process BERT_DIR OUT.npz PORT I
      Process I of 2 trains the teacher N_STEPS AdamW steps (eps 1e-3), feeding
      its contiguous half of every global batch; process 0 then trains the
      single-process reference on its own device with the whole batches.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from steps_helpers import BATCH, build, separable_batch, tiny_config

from jclip_eeg import sharding
from jclip_eeg.errors import ConfigError
from jclip_eeg.models import trainable_filter
from jclip_eeg.train import steps

N_STEPS = 3


def _flat(prefix: str, tree) -> dict[str, np.ndarray]:
  """{prefix/path: float array} of the float leaves of a (replicated) pytree."""
  leaves = jax.tree_util.tree_leaves_with_path(tree)
  return {f"{prefix}/{jax.tree_util.keystr(path)}": np.asarray(leaf) for path, leaf in leaves
          if jnp.issubdtype(leaf.dtype, jnp.floating)}


def _one_step(config: ml_collections.ConfigDict, mesh) -> dict[str, np.ndarray]:
  """Builds the teacher (seed 0) on `mesh`, takes one SGD(1.0) step on the global batch, returns results."""
  tx = optax.sgd(1.0)
  graphdef, state = steps.create_train_state(build(config), tx, trainable_filter(config.model), mesh=mesh)
  step = steps.make_teacher_step(graphdef, tx, config, mesh)
  before = _flat("grads", state.params)
  state, metrics = step(state, sharding.shard_batch(separable_batch(), mesh))
  grads = {key: before[key] - value for key, value in _flat("grads", state.params).items()}
  return {**grads, **_flat("rest", state.rest), **_flat("metrics", metrics)}


def devices(bert_dir: str, out: str) -> None:
  assert jax.device_count() == 8, jax.devices()
  config = tiny_config("teacher", Path(bert_dir))
  results = {}
  for name, mesh in (("one", sharding.make_mesh(jax.devices()[:1])), ("eight", sharding.make_mesh())):
    results.update({f"{name}:{key}": value for key, value in _one_step(config, mesh).items()})
  mesh = sharding.make_mesh()
  config.train.batch_size = 12
  errors = []
  for attempt in (lambda: steps.make_teacher_step(None, None, config, mesh),
                  lambda: sharding.shard_batch(separable_batch(12), mesh)):
    try:
      attempt()
    except ConfigError as e:
      errors.append(str(e))
  np.savez(out, errors=np.array(errors), **results)


def _train(config: ml_collections.ConfigDict, mesh, share: slice) -> dict[str, np.ndarray]:
  """N_STEPS teacher steps on `mesh`, this process feeding rows `share` of every global batch."""
  tx = steps.make_optimizer(config)
  graphdef, state = steps.create_train_state(build(config), tx, trainable_filter(config.model), mesh=mesh)
  step = steps.make_teacher_step(graphdef, tx, config, mesh)
  losses = []
  for k in range(N_STEPS):
    local = {key: value[share] for key, value in separable_batch(seed=k).items()}
    state, metrics = step(state, sharding.shard_batch(local, mesh))
    losses.append(metrics["loss"])
  return dict(losses=np.asarray(jax.device_get(losses)), **_flat("params", state.params),
              **_flat("rest", state.rest))


def process(bert_dir: str, out: str, port: str, process_id: str) -> None:
  i = int(process_id)
  config = tiny_config("teacher", Path(bert_dir))
  with config.unlocked():
    # Adam turns float-noise gradients of parameters whose true gradient is 0 (attention key
    # biases) into +-lr steps; a larger eps keeps the comparison about the data-parallel sums.
    config.optimizer.eps = 1e-3
    config.distributed = ml_collections.ConfigDict(dict(
        enabled=True, coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=i))
  sharding.initialize_distributed(config)
  assert jax.process_count() == 2 and jax.process_index() == i
  results = _train(config, sharding.make_mesh(), slice(i * BATCH // 2, (i + 1) * BATCH // 2))
  if i == 0:
    # The single-process reference: the same steps on this process's own device, whole batches
    # (saves starting a third interpreter; a 1-device program does not depend on jax.distributed).
    reference = _train(config, sharding.make_mesh(jax.local_devices()), slice(None))
    results.update({f"reference:{key}": value for key, value in reference.items()})
  np.savez(out, **results)


if __name__ == "__main__":
  {"devices": devices, "process": process}[sys.argv[1]](*sys.argv[2:])
