"""DistilCLIP-EEG models: the CLIP teacher (EEG + text towers) and the distilled student.

Shapes: B batch, C EEG channels (input) or classes (logits, text features; the
docstrings say which), T samples, K class sentences, H text hidden size,
E shared embedding size.

Outputs of both models (a dict, all float32):
  clip_logits (B, n_classes) = sigma * V U^T, head_logits (B, n_classes),
  eeg_features V (B, E) L2-normalised, text_features U (n_classes, E)
  L2-normalised, logit_scale sigma (scalar) = min(exp(log sigma), max).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from jclip_eeg.errors import ConfigError
from jclip_eeg.models.class_prompts import class_prompts
from jclip_eeg.models.conformer import Conformer, build_conformer
from jclip_eeg.models.text_encoder import TextEncoder, build_text_encoder
from jclip_eeg.models.text_encoder import trainable_filter as text_trainable_filter

_COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
_PREDICTIONS = ("clip", "head", "mean")


class TextTokens(nnx.Variable):
  """Tokenised class sentences and their class-averaging weights, or fixed class anchors: constants."""


def compute_dtype(name: str) -> jnp.dtype:
  """`config.model.compute_dtype` ("float32" | "bfloat16") -> the activation dtype."""
  if name not in _COMPUTE_DTYPES:
    raise ConfigError(f"model.compute_dtype must be one of {sorted(_COMPUTE_DTYPES)}, got {name!r}")
  return _COMPUTE_DTYPES[name]


def l2_normalize(x: jax.Array, eps: float = 1e-6) -> jax.Array:
  """Unit vectors along the last axis, computed in float32."""
  x = x.astype(jnp.float32)
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), eps)


def class_average_matrix(class_sentences: Sequence[Sequence[str]]) -> np.ndarray:
  """(n_classes, K) float32 weights: row c averages the sentences of class c (flattened in order)."""
  counts = [len(sentences) for sentences in class_sentences]
  if not counts or min(counts) == 0:
    raise ConfigError(f"class prompts: every class needs at least one sentence, got counts {counts}")
  weights = np.zeros((len(counts), sum(counts)), np.float32)
  start = 0
  for c, count in enumerate(counts):
    weights[c, start:start + count] = 1.0 / count
    start += count
  return weights


class ClipHead(nnx.Module):
  """Learnable logit scale sigma (stored as log sigma) and the linear classifier on f_eeg."""

  def __init__(self, embed_dim: int, n_classes: int, *, logit_scale_init: float, logit_scale_max: float,
               dtype: jnp.dtype, rngs: nnx.Rngs):
    if not 0 < logit_scale_init <= logit_scale_max:
      raise ConfigError(f"model.logit_scale_init={logit_scale_init} must be in (0, logit_scale_max="
                        f"{logit_scale_max}]")
    self.log_scale = nnx.Param(jnp.asarray(math.log(logit_scale_init), jnp.float32))
    self.logit_scale_max = logit_scale_max
    self.classifier = nnx.Linear(embed_dim, n_classes, dtype=dtype, rngs=rngs)

  def logit_scale(self) -> jax.Array:
    """sigma = exp(log sigma) capped at logit_scale_max (no gradient while capped, as CLIP's clamp)."""
    return jnp.minimum(jnp.exp(self.log_scale[...]), self.logit_scale_max)

  def __call__(self, f_eeg: jax.Array, text_features: jax.Array) -> dict[str, jax.Array]:
    """f_eeg (B, E) unnormalised, text_features U (n_classes, E) unit-norm -> the outputs dict."""
    v = l2_normalize(f_eeg)
    scale = self.logit_scale()
    return dict(clip_logits=scale * v @ text_features.T,
                head_logits=self.classifier(f_eeg).astype(jnp.float32),
                eeg_features=v, text_features=text_features, logit_scale=scale)


class CLIPModel(nnx.Module):
  """Teacher: Conformer EEG tower, BERT-LP text tower over the class sentences, CLIP head.

  The class sentences are tokenised once here and kept as `TextTokens`
  constants; `encode_text()` runs the text tower on them (once per step).

  With `text=None` (config.model.text.enabled=False, the EEG-only ablations)
  there is no text tower and no projection: U is fixed, the first n_classes
  unit vectors of the shared space. The CLIP logits are then a classifier with
  fixed prototypes; the ablations train and predict with the head alone.
  """

  def __init__(self, eeg: Conformer, text: TextEncoder | None, class_sentences: Sequence[Sequence[str]], *,
               logit_scale_init: float = 1 / 0.07, logit_scale_max: float = 100.0,
               dtype: jnp.dtype = jnp.float32, rngs: nnx.Rngs):
    n_classes = len(class_sentences)
    self.eeg = eeg
    self.text = text
    if text is None:
      if n_classes > eeg.embed_dim:
        raise ConfigError(f"model.embed_dim={eeg.embed_dim} is smaller than the {n_classes} classes: no "
                          "orthogonal class anchors for a model without a text tower")
      self.class_anchors = TextTokens(jnp.eye(n_classes, eeg.embed_dim, dtype=jnp.float32))
    else:
      tokens = text.tokenize([sentence for sentences in class_sentences for sentence in sentences])
      self.text_proj = nnx.Linear(text.hidden_size, eeg.embed_dim, dtype=dtype, rngs=rngs)
      self.input_ids = TextTokens(jnp.asarray(tokens["input_ids"], jnp.int32))
      self.attention_mask = TextTokens(jnp.asarray(tokens["attention_mask"], jnp.int32))
      self.class_weights = TextTokens(jnp.asarray(class_average_matrix(class_sentences)))
    self.clip_head = ClipHead(eeg.embed_dim, n_classes, logit_scale_init=logit_scale_init,
                              logit_scale_max=logit_scale_max, dtype=dtype, rngs=rngs)

  def encode_eeg(self, x: jax.Array) -> jax.Array:
    """x: (B, C, T) EEG -> f_eeg (B, E) float32, unnormalised."""
    return self.eeg(x)

  def encode_text(self) -> jax.Array:
    """U (n_classes, E) float32: per class, the mean of its unit sentence embeddings, re-normalised.

    Without a text tower: the fixed class anchors (class docstring).
    """
    if self.text is None:
      return self.class_anchors[...]
    pooled = self.text(self.input_ids[...], self.attention_mask[...])  # (K, H)
    sentences = l2_normalize(self.text_proj(pooled))  # (K, E)
    return l2_normalize(self.class_weights[...] @ sentences)

  def __call__(self, x: jax.Array) -> dict[str, jax.Array]:
    """x: (B, C, T) EEG -> outputs dict (module docstring)."""
    return self.clip_head(self.encode_eeg(x), self.encode_text())


class StudentModel(nnx.Module):
  """Student: a smaller Conformer plus a projection into the teacher's embedding space.

  It never runs a text tower: the teacher's frozen class-text features U_T
  (n_classes, E_T) come in as an array. It has its own logit scale and classifier.
  """

  def __init__(self, eeg: Conformer, n_classes: int, *, teacher_embed_dim: int,
               logit_scale_init: float = 1 / 0.07, logit_scale_max: float = 100.0,
               dtype: jnp.dtype = jnp.float32, rngs: nnx.Rngs):
    self.eeg = eeg
    self.proj = nnx.Linear(eeg.embed_dim, teacher_embed_dim, dtype=dtype, rngs=rngs)
    self.clip_head = ClipHead(teacher_embed_dim, n_classes, logit_scale_init=logit_scale_init,
                              logit_scale_max=logit_scale_max, dtype=dtype, rngs=rngs)

  def encode_eeg(self, x: jax.Array) -> jax.Array:
    """x: (B, C, T) EEG -> f_eeg (B, E_T) float32 in the teacher's space, unnormalised."""
    return self.proj(self.eeg(x)).astype(jnp.float32)

  def __call__(self, x: jax.Array, text_features: jax.Array) -> dict[str, jax.Array]:
    """x: (B, C, T) EEG, text_features: the teacher's U_T (n_classes, E_T) -> outputs dict."""
    expected = (self.clip_head.classifier.out_features, self.proj.out_features)
    if tuple(text_features.shape) != expected:
      raise ConfigError(f"teacher text features have shape {tuple(text_features.shape)}, expected "
                        f"(n_classes, teacher_embed_dim) = {expected}: does the teacher match this config?")
    return self.clip_head(self.encode_eeg(x), text_features)


def build_model(config: ml_collections.ConfigDict, *, rngs: nnx.Rngs) -> CLIPModel | StudentModel:
  """The teacher or student (config.model.role) for config.data's shape and classes."""
  model_cfg, data_cfg = config.model, config.data
  dtype = compute_dtype(model_cfg.compute_dtype)
  eeg = build_conformer(model_cfg.eeg, n_channels=data_cfg.n_channels, n_times=data_cfg.n_times,
                        embed_dim=model_cfg.embed_dim, dtype=dtype, rngs=rngs)
  scale = dict(logit_scale_init=model_cfg.logit_scale_init, logit_scale_max=model_cfg.logit_scale_max)
  if model_cfg.role == "teacher":
    text = build_text_encoder(model_cfg.text, rngs=rngs, dtype=dtype) if model_cfg.text.enabled else None
    sentences = class_prompts(data_cfg.dataset, data_cfg.class_names)
    return CLIPModel(eeg, text, sentences, **scale, dtype=dtype, rngs=rngs)
  if model_cfg.role == "student":
    return StudentModel(eeg, len(data_cfg.class_names), teacher_embed_dim=model_cfg.teacher_embed_dim,
                        **scale, dtype=dtype, rngs=rngs)
  raise ConfigError(f"model.role must be 'teacher' or 'student', got {model_cfg.role!r}")


def forward(model: CLIPModel | StudentModel, x: jax.Array, text_features: jax.Array | None = None
            ) -> dict[str, jax.Array]:
  """The outputs dict of `model` on x (B, C, T); with `text_features` (n_classes, E) no text tower runs.

  A teacher given its (frozen) class-text features skips BERT; a student
  always needs them (its teacher's U_T).
  """
  if text_features is None:
    return model(x)
  if isinstance(model, StudentModel):
    return model(x, text_features)
  return model.clip_head(model.encode_eeg(x), text_features)


def prediction_logits(outputs: dict[str, jax.Array], mode: str) -> jax.Array:
  """The (B, n_classes) logits used for predictions and distillation (config.model.prediction).

  "clip": sigma V U^T; "head": the classifier; "mean": the average of the two logits.
  """
  if mode == "clip":
    return outputs["clip_logits"]
  if mode == "head":
    return outputs["head_logits"]
  if mode == "mean":
    return 0.5 * (outputs["clip_logits"] + outputs["head_logits"])
  raise ConfigError(f"model.prediction must be one of {_PREDICTIONS}, got {mode!r}")


def trainable_filter(model_cfg: ml_collections.ConfigDict) -> nnx.filterlib.Filter:
  """The parameters the optimiser updates, per config.model.text.trainable.

  Everything outside the text tower (EEG encoder and prompts, text projection,
  CLIP head), plus the text tower's part chosen by `trainable` (all | prompts | none).
  """
  outside_text = nnx.All(nnx.Param, nnx.Not(nnx.PathContains("text")))
  if not model_cfg.text.enabled:
    return outside_text
  return nnx.Any(outside_text, text_trainable_filter(model_cfg.text, scope="text"))


def count_params(module: nnx.Module, filter_: nnx.filterlib.Filter = nnx.Param) -> int:
  """Number of scalars in `module`'s variables matching `filter_`; works on eval_shape models too."""
  return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(nnx.state(module, filter_)))
