"""Losses against straightforward float64 NumPy re-statements of the paper's formulas."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jclip_eeg.train import losses


def _log_softmax(z: np.ndarray, axis: int) -> np.ndarray:
  z = z - z.max(axis=axis, keepdims=True)
  return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _reference_clip(v, u, scale, y):
  l_eeg = scale * v @ u.T
  ce_eeg = -np.mean(_log_softmax(l_eeg, 1)[np.arange(len(y)), y])
  l_txt = l_eeg.T
  terms = []
  for c in np.unique(y):
    members = y == c
    q = members / members.sum()
    terms.append(-(q * _log_softmax(l_txt[c], 0)).sum())
  return 0.5 * (ce_eeg + np.mean(terms))


def _unit(x):
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture
def batch():
  rng = np.random.default_rng(0)
  v = _unit(rng.normal(size=(12, 8)))
  u = _unit(rng.normal(size=(3, 8)))
  y = np.array([0, 0, 1, 2, 0, 1, 1, 0, 0, 2, 0, 1])
  return v, u, y


def test_clip_loss_matches_formula(batch):
  v, u, y = batch
  loss, logits = losses.clip_loss(jnp.asarray(v), jnp.asarray(u), 14.3, jnp.asarray(y))
  np.testing.assert_allclose(float(loss), _reference_clip(v, u, 14.3, y), rtol=1e-5)
  assert logits.shape == (12, 3)


def test_text_term_ignores_absent_classes(batch):
  v, u, y = batch
  y = np.where(y == 2, 0, y)  # class 2 absent: its row must not contribute
  loss, _ = losses.clip_loss(jnp.asarray(v), jnp.asarray(u), 5.0, jnp.asarray(y))
  np.testing.assert_allclose(float(loss), _reference_clip(v, u, 5.0, y), rtol=1e-5)


def test_padding_mask_equals_dropping_samples(batch):
  v, u, y = batch
  valid = np.arange(12) < 9
  masked, _ = losses.clip_loss(jnp.asarray(v), jnp.asarray(u), 7.0, jnp.asarray(y), jnp.asarray(valid))
  np.testing.assert_allclose(float(masked), _reference_clip(v[:9], u, 7.0, y[:9]), rtol=1e-5)


def test_teacher_loss_mixes_terms(batch):
  _, _, y = batch
  head = jnp.asarray(np.random.default_rng(1).normal(size=(12, 3)))
  ce = losses.cross_entropy(head, jnp.asarray(y))
  total = losses.teacher_loss(jnp.float32(2.0), head, jnp.asarray(y), alpha=0.25)
  np.testing.assert_allclose(float(total), 0.25 * 2.0 + 0.75 * float(ce), rtol=1e-6)


@pytest.mark.parametrize("t", [1.0, 3.0])
def test_distillation_loss_matches_formula(t):
  rng = np.random.default_rng(2)
  s, te = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
  y = np.array([0, 1, 2, 3, 0, 1])
  ce = -np.mean(_log_softmax(s, 1)[np.arange(6), y])
  p_t, log_p_s = np.exp(_log_softmax(te / t, 1)), _log_softmax(s / t, 1)
  kl = np.mean(np.sum(p_t * (np.log(p_t) - log_p_s), axis=1))
  expected = 0.3 * ce + 0.7 * t * t * kl
  got = losses.distillation_loss(jnp.asarray(s), jnp.asarray(te), jnp.asarray(y), alpha=0.3, temperature=t)
  np.testing.assert_allclose(float(got), expected, rtol=1e-5)


def test_distillation_gradient_does_not_reach_teacher():
  s, te = jnp.ones((2, 3)), jnp.arange(6.0).reshape(2, 3)
  grad_teacher = jax.grad(lambda a: losses.distillation_loss(s, a, jnp.array([0, 1]), alpha=0.5))(te)
  assert not np.any(np.asarray(grad_teacher))
  grad_student = jax.grad(lambda a: losses.distillation_loss(a, te, jnp.array([0, 1]), alpha=0.5))(s)
  assert np.any(np.asarray(grad_student))


def test_padded_gradients_are_finite(batch):
  v, u, y = batch
  valid = jnp.asarray(np.arange(12) < 7)
  grad = jax.grad(lambda a: losses.clip_loss(a, jnp.asarray(u), 3.0, jnp.asarray(y), valid)[0])(jnp.asarray(v))
  assert np.all(np.isfinite(np.asarray(grad)))
  assert not np.any(np.asarray(grad)[7:])
