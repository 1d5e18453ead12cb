"""Data parallelism over every device of every process (DESIGN.md Performance principles).

One mesh axis, "data", spans all devices of all processes. Batches are split
along it, parameters and optimiser state are replicated, and `jax.jit` (GSPMD)
inserts the all-reduces, so losses and BatchNorm statistics see the GLOBAL
batch exactly as on one device.

The mesh axis is `AxisType.Auto`, not the Explicit default of `jax.make_mesh`:
the model code carries no sharding annotations (`v @ u.T` on batch-sharded
operands, prompt tokens broadcast to the batch and concatenated) and Explicit
axes would reject those ops; Auto lets the compiler propagate the batch sharding.

Multi-process: each process feeds its own part of the global batch (the
loader's `global_batch[process_index::process_count]`); `shard_batch` stacks
the parts in process order, so the global array is a fixed permutation of the
loader's global batch. The losses are permutation-invariant; dropout masks are
drawn per position of the global array.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import ml_collections
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from jclip_eeg.errors import ConfigError, DataError

DATA_AXIS = "data"
# The batch entries the steps read (`teacher_logits`: the cached student step's, `train/teacher_cache.py`);
# others (e.g. the loader's int64 `index`) stay on the host.
BATCH_KEYS = ("x", "y", "valid", "teacher_logits")


def initialize_distributed(config: ml_collections.ConfigDict) -> None:
  """Joins a multi-process run when `config.distributed.enabled`; call before any other JAX call.

  Fields of the optional `config.distributed` section: enabled (bool),
  coordinator_address ("host:port"; "" = detect from the cluster environment,
  e.g. SLURM / Open MPI), num_processes (0 = detect), process_id (-1 = detect).
  A config without the section, or with enabled=False, runs single-process.
  """
  dist = config.get("distributed")
  if dist is None or not dist.get("enabled", False) or jax.distributed.is_initialized():
    return
  # CPU processes need a collectives backend to all-reduce; GPU runs ignore this setting.
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  process_id = dist.get("process_id", -1)
  jax.distributed.initialize(coordinator_address=dist.get("coordinator_address") or None,
                             num_processes=dist.get("num_processes") or None,
                             process_id=None if process_id < 0 else process_id)


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A 1-D mesh, axis "data", over `devices` (default: every device of every process)."""
  devices = jax.devices() if devices is None else list(devices)
  return jax.make_mesh((len(devices),), (DATA_AXIS,), axis_types=(AxisType.Auto,), devices=devices)


def replicated(mesh: Mesh) -> NamedSharding:
  """Every device holds the whole array (parameters, optimiser state, metrics)."""
  return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
  """The leading (batch) axis is split over the "data" axis."""
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def check_batch_size(global_batch: int, mesh: Mesh, what: str = "config.train.batch_size") -> None:
  """Raises ConfigError unless `global_batch` is a positive multiple of the mesh's device count."""
  n_devices = mesh.devices.size
  if global_batch <= 0 or global_batch % n_devices:
    raise ConfigError(f"{what}={global_batch} must be a positive multiple of the {n_devices} devices "
                      f"({jax.process_count()} process(es)) the batch is split over")


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Places a pytree, identical on every process, fully replicated on `mesh` (RNG key arrays too).

  `jax.device_put` refuses shardings over other processes' devices, hence the
  multihost helper, which also works single-process.
  """
  return multihost_utils.host_local_array_to_global_array(tree, mesh, PartitionSpec())


def shard_batch(batch: Mapping[str, Any], mesh: Mesh) -> dict[str, jax.Array]:
  """This process's part of a batch -> global arrays split over the "data" axis.

  Args:
    batch: the loader's dict for this process; `x` (b, C, T) float32, and
      optionally `y` (b,) int32, `valid` (b,) bool and `teacher_logits` (b, n_classes) float32.
      Other keys are ignored.
    mesh: from `make_mesh`.
  Returns:
    {key: (b * P, ...) global jax.Array} for the keys of BATCH_KEYS present, P the
    number of processes whose devices the mesh spans.
  Raises:
    DataError: `x` is missing or the entries disagree on b.
    ConfigError: the global batch does not divide over the devices.
  """
  if "x" not in batch:
    raise DataError(f"batch has keys {sorted(batch)}, expected at least 'x' (and 'y', 'valid' to train)")
  local = {key: np.asarray(batch[key]) for key in BATCH_KEYS if key in batch}
  sizes = {key: value.shape[0] if value.ndim else None for key, value in local.items()}
  if len(set(sizes.values())) != 1:
    raise DataError(f"batch entries disagree on the batch size: {sizes}")
  n_processes = len({device.process_index for device in mesh.devices.flat})
  check_batch_size(sizes["x"] * n_processes, mesh, what="global batch size")
  sharding = batch_sharded(mesh)
  return {key: jax.make_array_from_process_local_data(sharding, value) for key, value in local.items()}
