"""Data parallelism: batch sharding, batch-size guard, and 8 simulated devices == 1 device."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jax
import ml_collections
import numpy as np
import pytest
from steps_helpers import WORKER, assert_trees_close, worker_env, write_tiny_bert

from jclip_eeg import sharding
from jclip_eeg.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory) -> Path:
  return write_tiny_bert(tmp_path_factory.mktemp("bert"))


@pytest.fixture(scope="module")
def mesh():
  return sharding.make_mesh()


def test_shard_batch_makes_global_arrays_of_model_inputs(mesh):
  batch = dict(x=np.ones((4, 3, 5), np.float32), y=np.arange(4, dtype=np.int32), valid=np.ones(4, bool),
               index=np.arange(4, dtype=np.int64))
  out = sharding.shard_batch(batch, mesh)
  assert sorted(out) == ["valid", "x", "y"]  # the host-side index stays behind
  assert out["x"].shape == (4 * jax.process_count(), 3, 5) and out["x"].dtype == np.float32
  assert out["x"].sharding.is_equivalent_to(sharding.batch_sharded(mesh), 3)
  np.testing.assert_array_equal(out["y"], batch["y"])


@pytest.mark.parametrize("batch, match", [
    (dict(y=np.zeros(4, np.int32)), "expected at least 'x'"),
    (dict(x=np.zeros((4, 2, 3), np.float32), y=np.zeros(3, np.int32)), "disagree on the batch size"),
])
def test_shard_batch_rejects_malformed_batches(mesh, batch, match):
  with pytest.raises(DataError, match=match):
    sharding.shard_batch(batch, mesh)


def test_check_batch_size_rejects_empty_batch(mesh):
  with pytest.raises(ConfigError, match="config.train.batch_size=0 must be a positive multiple"):
    sharding.check_batch_size(0, mesh)


def test_initialize_distributed_is_a_no_op_unless_enabled():
  sharding.initialize_distributed(ml_collections.ConfigDict())
  sharding.initialize_distributed(ml_collections.ConfigDict(dict(distributed=dict(enabled=False))))
  assert not jax.distributed.is_initialized() and jax.process_count() == 1


@pytest.fixture(scope="module")
def eight_device_run(bert_dir, tmp_path_factory) -> dict[str, np.ndarray]:
  out = tmp_path_factory.mktemp("devices") / "devices.npz"
  subprocess.run([sys.executable, str(WORKER), "devices", str(bert_dir), str(out)],
                 env=worker_env("--xla_force_host_platform_device_count=8"), check=True, timeout=300)
  with np.load(out) as results:
    return dict(results)


@pytest.mark.parametrize("kind", ["grads", "rest", "metrics"])
def test_eight_devices_match_one_device(eight_device_run, kind):
  """One teacher step, same global batch and RNG (dropout on): gradients, BatchNorm stats and metrics agree."""
  one, eight = ({key.split("/", 1)[1]: value for key, value in eight_device_run.items()
                 if key.startswith(f"{mesh}:{kind}/")} for mesh in ("one", "eight"))
  assert one, f"no {kind} saved"
  assert_trees_close(eight, one, rtol=1e-5)


def test_batch_not_divisible_by_devices_is_a_config_error(eight_device_run):
  errors = list(eight_device_run["errors"])
  assert len(errors) == 2, errors
  assert all("=12 must be a positive multiple of the 8 devices" in e for e in errors)
