"""Tiny models, configs, batches and stores shared by the tests.

The text tower is a real BERT-LP (our BertModel + the MiniLM tokenizer) with a
tiny architecture, saved as a local HF-style checkpoint folder, so
`build_model(config)` runs its real loading path in milliseconds.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from jclip_eeg import config_lib
from jclip_eeg.data.store import StoreWriter
from jclip_eeg.models import build_model
from jclip_eeg.models.bert import BertConfig, BertModel
from jclip_eeg.models.bert_weights import copy_tokenizer, minilm_dir, save_flax_msgpack

N_CHANNELS, N_TIMES, BATCH = 4, 64, 8
HERE = Path(__file__).resolve().parent  # tests/
WORKER = HERE / "train" / "parallel_worker.py"


@contextlib.contextmanager
def fast_compile():
  """Skips most XLA optimisation: the tiny test models run in microseconds, compiling them takes seconds."""
  # jax.config has no public getter for flags; restore the default, which JAX reads from this variable.
  previous = os.environ.get("JAX_DISABLE_MOST_OPTIMIZATIONS", "").lower() in ("1", "true", "yes", "on")
  jax.config.update("jax_disable_most_optimizations", True)
  try:
    yield
  finally:
    jax.config.update("jax_disable_most_optimizations", previous)


def worker_env(xla_flags: str = "") -> dict[str, str]:
  """Environment for a `parallel_worker.py` subprocess: CPU only, fast compiles, the repo and helpers importable."""
  path = os.pathsep.join(filter(None, [str(HERE.parent), str(HERE), os.environ.get("PYTHONPATH")]))
  return dict(os.environ, JAX_PLATFORMS="cpu", JAX_DISABLE_MOST_OPTIMIZATIONS="1", XLA_FLAGS=xla_flags,
              PYTHONPATH=path)


def assert_trees_close(got: dict[str, np.ndarray], want: dict[str, np.ndarray], rtol: float) -> None:
  """Same keys; the whole tree within rtol in L2 norm, each array within 10 * rtol of its own norm.

  Per-array bounds are looser because float32 sums in another order (partial
  sums per device, then an all-reduce) move a few heavily cancelling sums,
  such as BatchNorm bias gradients, by ~1e-5 of their value.
  """
  assert sorted(got) == sorted(want)
  squares = {key: (float(np.sum((got[key] - ref) ** 2)), float(np.sum(ref ** 2))) for key, ref in want.items()}
  for key, (error, norm) in squares.items():
    assert error <= (10 * rtol) ** 2 * max(norm, 1.0), (key, got[key], want[key])
  error, norm = map(sum, zip(*squares.values()))
  assert np.sqrt(error) <= rtol * np.sqrt(norm), (np.sqrt(error), np.sqrt(norm))


_TINY_BERT = dict(model_type="bert", vocab_size=30522, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=32, hidden_act="gelu", max_position_embeddings=32, type_vocab_size=2,
                  layer_norm_eps=1e-12)


def write_tiny_bert(folder: Path) -> Path:
  """A 2-layer, 16-wide BERT checkpoint folder (config.json, flax_model.msgpack, MiniLM tokenizer)."""
  folder.mkdir(parents=True, exist_ok=True)
  (folder / "config.json").write_text(json.dumps(_TINY_BERT))
  bert = BertModel(BertConfig.from_dict(_TINY_BERT), add_pooler=False, rngs=nnx.Rngs(7))
  save_flax_msgpack(bert, folder / "flax_model.msgpack")
  return copy_tokenizer(minilm_dir(), folder)


def tiny_config(role: str, bert_dir: Path, *, trainable: str = "prompts",
                compute_dtype: str = "float32") -> ml_collections.ConfigDict:
  """A teacher/student config for 4 x 64 windows with a 1-layer, 20-wide Conformer."""
  config = config_lib.get_config("synthetic", role)
  with config.unlocked():
    config.data.n_channels, config.data.n_times = N_CHANNELS, N_TIMES
    config.model.eeg.update(dict(n_filters=4, temporal_kernel=9, pool_size=16, pool_stride=8, d_model=20,
                                 n_layers=1, n_heads=2, ffn_mult=2, n_prompts=2, head_hidden=16, dropout=0.1))
    config.model.embed_dim = 8
    config.model.compute_dtype = compute_dtype
    config.model.text.update(dict(checkpoint=str(bert_dir), n_context=2, max_length=32, trainable=trainable,
                                  dropout=0.1))
    if role == "student":
      config.model.teacher_embed_dim = 8
    config.train = ml_collections.ConfigDict(dict(alpha=0.5, temperature=2.0, batch_size=BATCH))
    config.optimizer = ml_collections.ConfigDict(dict(learning_rate=3e-3, b1=0.9, b2=0.999, weight_decay=1e-4))
  return config


def build(config: ml_collections.ConfigDict) -> nnx.Module:
  """The model of `config`, always from seed 0 (runs to compare start from the same weights)."""
  return build_model(config, rngs=nnx.Rngs(0))


def separable_batch(n: int = BATCH, seed: int = 0) -> dict[str, np.ndarray]:
  """Half background noise, half with a 6 Hz rhythm on channels 0-1 (a linearly separable toy task)."""
  rng = np.random.default_rng(seed)
  y = np.arange(n, dtype=np.int32) % 2
  t = np.arange(N_TIMES) / N_TIMES
  x = rng.normal(size=(n, N_CHANNELS, N_TIMES)).astype(np.float32)
  x[y == 1, :2] += 3.0 * np.sin(2 * np.pi * 6 * t).astype(np.float32)
  return dict(x=x, y=y, valid=np.ones(n, bool))


class TinyState(flax.struct.PyTreeNode):
  """A stand-in for the training state in checkpoint and loop tests: a step, an array and an RNG key."""
  step: jax.Array
  w: jax.Array
  key: jax.Array


def tiny_state(step: int, seed: int = 0) -> TinyState:
  return TinyState(jnp.int32(step), jnp.arange(3.0) * seed, jax.random.key(seed))


def write_tiny_store(path: Path, patients: int = 4, per_patient: int = 24, no_seizure: tuple[int, ...] = ()) -> Path:
  """A tiny 2-class store: `per_patient` (2, 8) windows per patient (one recording each), a quarter seizure."""
  n = patients * per_patient
  writer = StoreWriter(path, n_windows=n, n_channels=2, n_times=8)
  rng = np.random.default_rng(0)
  for p in range(patients):
    y = (np.arange(per_patient) % 4 == 0).astype(np.int32) * (p not in no_seizure)
    writer.append(rng.normal(size=(per_patient, 2, 8)).astype(np.float32), y, p,
                  np.arange(per_patient, dtype=np.float64))
  recordings = [{"id": f"p{p}_r1", "patient": f"p{p}", "source": "made-up"} for p in range(patients)]
  writer.commit(class_names=("normal", "seizure"), channel_names=("a", "b"), sfreq=8.0, recordings=recordings)
  return path
