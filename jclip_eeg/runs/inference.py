"""Inference of a model held as (GraphDef, weights): class probabilities, class-text features, fingerprints.

`weights` is the tuple of `nnx.State`s a model was split into (the training
state's `(params, rest)`: trainable parameters, then everything else —
frozen parameters, BatchNorm statistics, RNG state, tokenised class text).
Nothing here needs an optimiser or a step count, so the training loop's
validation and every reader of a finished run (evaluate, ECAM, detection,
export) predict through the same `Predictor`.

Data parallel as in training: a batch is split over the mesh's "data" axis,
the weights are replicated, and the probabilities come back replicated.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import tqdm
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from jclip_eeg import sharding
from jclip_eeg.data import loader
from jclip_eeg.data.store import EpochStore
from jclip_eeg.errors import DataError
from jclip_eeg.metrics import evaluation_report
from jclip_eeg.models.clip import forward, prediction_logits

Weights = tuple[nnx.State, ...]


def merge(graphdef: nnx.GraphDef, weights: Weights) -> nnx.Module:
  """The model with `weights`, in eval mode (dropout off, BatchNorm running statistics)."""
  model = nnx.merge(graphdef, *weights)
  model.eval()
  return model


@functools.partial(jax.jit, static_argnames=("graphdef", "mode", "mesh"))
def _probabilities(weights: Weights, x: jax.Array, text_features: jax.Array, *, graphdef: nnx.GraphDef,
                   mode: str, mesh: Mesh) -> jax.Array:
  return jax.lax.with_sharding_constraint(_softmax(weights, x, text_features, graphdef, mode),
                                          sharding.replicated(mesh))


def _softmax(weights: Weights, x: jax.Array, text_features: jax.Array, graphdef: nnx.GraphDef,
             mode: str) -> jax.Array:
  logits = prediction_logits(forward(merge(graphdef, weights), x, text_features), mode)
  return jax.nn.softmax(logits, axis=-1)


@dataclasses.dataclass(frozen=True)
class Predictor:
  """Eval-mode class probabilities of one model: `predictor(x)` -> (B, n_classes) float32, replicated.

  Attributes:
    graphdef, weights: the model.
    text_features: (n_classes, E) class-text features it predicts with (a
      teacher's own, or for a student its teacher's frozen U_T); no text tower runs.
    mode: config.model.prediction ("clip" | "head" | "mean").
    mesh: x (B, C, T) is split over its "data" axis (B a multiple of its devices).
  """
  graphdef: nnx.GraphDef
  weights: Weights
  text_features: jax.Array
  mode: str
  mesh: Mesh

  def __call__(self, x: np.ndarray | jax.Array) -> jax.Array:
    """x: (B, C, T) float32 z-scored windows, this process's part of the batch (numpy) or a global array."""
    if not isinstance(x, jax.Array):
      x = sharding.shard_batch({"x": x}, self.mesh)["x"]
    return _probabilities(self.weights, x, self.text_features, graphdef=self.graphdef, mode=self.mode,
                          mesh=self.mesh)

  def lower(self, x: jax.Array) -> Any:
    """`jax.jit(...).lower` of the call on a global x, for XLA's cost analysis (FLOPs)."""
    return _probabilities.lower(self.weights, x, self.text_features, graphdef=self.graphdef, mode=self.mode,
                                mesh=self.mesh)

  def unjitted(self, x: jax.Array) -> jax.Array:
    """The same function to trace into a larger program (jax.export); weights and features become constants."""
    return _softmax(self.weights, x, self.text_features, self.graphdef, self.mode)


@functools.partial(jax.jit, static_argnames=("graphdef", "mesh"))
def class_text_features(weights: Weights, *, graphdef: nnx.GraphDef, mesh: Mesh) -> jax.Array:
  """U (n_classes, E) float32: a teacher's class-text features in eval mode, replicated.

  One text-tower pass over the class sentences; a student reuses its
  teacher's U frozen (it never runs BERT).
  """
  return jax.lax.with_sharding_constraint(merge(graphdef, weights).encode_text(), sharding.replicated(mesh))


def predict_rows(predictor: Predictor, store: str, rows: np.ndarray, *, batch_size: int,
                 progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
  """(y (n,) int, probabilities (n, n_classes)) of the store windows `rows`, in eval mode.

  Every process reads its share of each batch; labels are gathered in the
  order `sharding.shard_batch` lays the global batch out. `progress` shows a bar.
  """
  probs, labels, valid = [], [], []
  batches = loader.eval_batches(store, rows, batch_size=batch_size)
  for batch in tqdm.tqdm(batches, total=-(-len(rows) // batch_size), desc="predict", unit="batch",
                         disable=not (progress and jax.process_index() == 0)):
    probs.append(predictor(batch["x"]))
    labels.append(batch["y"])
    valid.append(batch["valid"])
  probs = np.concatenate([np.asarray(p) for p in probs])
  keep = _global_order(np.stack(valid))
  return _global_order(np.stack(labels))[keep], probs[keep]


def _global_order(local: np.ndarray) -> np.ndarray:
  """(n_batches, b) per-process batch entries -> (n_batches * processes * b,) in global batch order."""
  if jax.process_count() == 1:
    return local.reshape(-1)
  gathered = multihost_utils.process_allgather(local)  # (processes, n_batches, b)
  return np.swapaxes(gathered, 0, 1).reshape(-1)


def evaluate_rows(predictor: Predictor, store: str, rows: np.ndarray, class_names: tuple[str, ...], *,
                  batch_size: int, progress: bool = False) -> dict[str, Any]:
  """`metrics.evaluation_report` (the whole fold, and the paper's protocol under `paper`) of the windows `rows`, plus
  `loss` (mean CE of the predicted probabilities).

  Raises DataError for non-finite probabilities, naming the store rows whose windows hold NaN / inf, or else
  the rows whose probabilities are not finite.
  """
  y, probs = predict_rows(predictor, store, rows, batch_size=batch_size, progress=progress)
  nonfinite_rows = np.asarray(rows)[~np.isfinite(probs).all(axis=1)]
  if nonfinite_rows.size:
    EpochStore(store).check_finite(nonfinite_rows)
    raise DataError(f"{store}: the model's probabilities are NaN or inf for rows {nonfinite_rows[:10]} "
                    "(finite windows): its weights are damaged or it diverged")
  report = evaluation_report(y, probs, class_names)
  report["loss"] = float(-np.mean(np.log(np.maximum(probs[np.arange(len(y)), y], 1e-12))))
  return report


def fingerprint(weights: Weights) -> str:
  """sha256 (hex) of every variable's path, dtype, shape and bytes: the identity of a trained model."""
  digest = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_leaves_with_path(weights):
    if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
      leaf = jax.random.key_data(leaf)
    array = np.asarray(jax.device_get(leaf))
    digest.update(f"{jax.tree_util.keystr(path)}|{array.dtype}|{array.shape}|".encode())
    digest.update(np.ascontiguousarray(array).tobytes())
  return digest.hexdigest()
