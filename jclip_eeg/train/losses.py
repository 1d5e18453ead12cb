"""DistilCLIP-EEG losses (paper Algorithms 1 and 2; DESIGN.md Losses).

All functions take the GLOBAL batch: under `jax.jit` with a batch-sharded mesh
the reductions below run over every device's samples, so the contrastive term
sees the whole batch exactly as on one device. `valid` masks padded samples.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def _masked_mean(values: jax.Array, valid: jax.Array | None) -> jax.Array:
  if valid is None:
    return values.mean()
  w = valid.astype(values.dtype)
  return (values * w).sum() / jnp.maximum(w.sum(), 1.0)


def cross_entropy(logits: jax.Array, labels: jax.Array, valid: jax.Array | None = None) -> jax.Array:
  """Mean softmax cross-entropy. logits (B, C) float, labels (B,) int -> scalar."""
  losses = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels)
  return _masked_mean(losses, valid)


def text_to_eeg_cross_entropy(text_logits: jax.Array, labels: jax.Array,
                              valid: jax.Array | None = None) -> jax.Array:
  """CE of l_txt = sigma*U*V^T against the uniform distribution over each class's samples.

  Args:
    text_logits: (C, B) logits of every class prompt against every EEG window.
    labels: (B,) int class of each window.
    valid: optional (B,) bool; padded windows are neither targets nor candidates.
  Returns:
    Scalar: mean over the classes present in the batch of
    -sum_b q_cb log softmax_b(text_logits[c]), q_c uniform over windows of class c.
  """
  n_classes, batch = text_logits.shape
  valid = jnp.ones((batch,), bool) if valid is None else valid
  onehot = (labels[None, :] == jnp.arange(n_classes)[:, None]) & valid[None, :]  # (C, B)
  counts = onehot.sum(axis=1)
  targets = onehot / jnp.maximum(counts, 1)[:, None]
  # A large finite negative (not -inf) keeps 0 * log_prob finite for padded columns.
  logits = jnp.where(valid[None, :], text_logits.astype(jnp.float32), jnp.finfo(jnp.float32).min)
  log_probs = jax.nn.log_softmax(logits, axis=1)
  per_class = -jnp.sum(jnp.where(onehot, targets * log_probs, 0.0), axis=1)
  present = counts > 0
  return jnp.sum(jnp.where(present, per_class, 0.0)) / jnp.maximum(present.sum(), 1)


def clip_loss(eeg_embeddings: jax.Array, class_embeddings: jax.Array, logit_scale: jax.Array,
              labels: jax.Array, valid: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
  """L1 of Algorithm 1: the mean of the EEG->text and text->EEG cross-entropies.

  Args:
    eeg_embeddings: V, (B, E) L2-normalised EEG features.
    class_embeddings: U, (C, E) L2-normalised class-text features.
    logit_scale: sigma (already exponentiated and capped), scalar.
    labels: (B,) int.
  Returns:
    (L1, l_eeg) with l_eeg = sigma * V U^T, (B, C).
  """
  eeg_logits = logit_scale * eeg_embeddings @ class_embeddings.T
  loss = 0.5 * (cross_entropy(eeg_logits, labels, valid)
                + text_to_eeg_cross_entropy(eeg_logits.T, labels, valid))
  return loss, eeg_logits


def teacher_loss(clip_term: jax.Array, head_logits: jax.Array, labels: jax.Array, alpha: float,
                 valid: jax.Array | None = None) -> jax.Array:
  """Algorithm 1: L = alpha * L1 + (1 - alpha) * CE(head(f_eeg), y)."""
  return alpha * clip_term + (1.0 - alpha) * cross_entropy(head_logits, labels, valid)


def distillation_loss(student_logits: jax.Array, teacher_logits: jax.Array, labels: jax.Array,
                      alpha: float, temperature: float = 1.0,
                      valid: jax.Array | None = None) -> jax.Array:
  """Algorithm 2: alpha * CE(y_S, y) + (1 - alpha) * t^2 * KL(softmax(y_T/t) || softmax(y_S/t)).

  Args:
    student_logits, teacher_logits: (B, C); the teacher's are treated as constants.
    labels: (B,) int.
  Returns:
    Scalar loss; the KL is averaged over samples (batch-mean), as in the paper's eq. (2).
  """
  teacher_logits = jax.lax.stop_gradient(teacher_logits.astype(jnp.float32))
  t = temperature
  teacher_log_p = jax.nn.log_softmax(teacher_logits / t, axis=-1)
  student_log_p = jax.nn.log_softmax(student_logits.astype(jnp.float32) / t, axis=-1)
  kl = jnp.sum(jnp.exp(teacher_log_p) * (teacher_log_p - student_log_p), axis=-1)
  return (alpha * cross_entropy(student_logits, labels, valid)
          + (1.0 - alpha) * t * t * _masked_mean(kl, valid))
