"""EEG Conformer: token count, shapes, parameter targets, deep prompts, modes, jit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jclip_eeg import config_lib
from jclip_eeg.errors import ConfigError, DataError
from jclip_eeg.models import Prompt, count_params
from jclip_eeg.models.conformer import Conformer, build_conformer, fused_attention, n_tokens

TINY = dict(embed_dim=8, n_filters=4, d_model=20, n_layers=2, n_heads=2, n_prompts=3, head_hidden=16)


def _tiny(n_channels: int = 23, n_times: int = 256, seed: int = 0, **overrides) -> Conformer:
  return Conformer(n_channels, n_times, **{**TINY, **overrides}, rngs=nnx.Rngs(seed))


# One compiled program per model structure and input shape: much cheaper than eager op-by-op.
_forward = nnx.jit(lambda model, x: model(x))


def _eeg(batch: int, n_channels: int, n_times: int, seed: int = 0) -> np.ndarray:
  return np.random.default_rng(seed).normal(size=(batch, n_channels, n_times)).astype(np.float32)


@pytest.mark.parametrize("n_times, expected", [(256, 11), (500, 27), (99, 1), (113, 1), (114, 2)])
def test_token_count_formula(n_times, expected):
  assert n_tokens(n_times) == expected == (n_times - 99) // 15 + 1


def test_too_short_window_is_a_config_error():
  with pytest.raises(ConfigError, match="too short"):
    n_tokens(98)


@pytest.mark.parametrize("n_channels, n_times", [(23, 256), (19, 500)])
def test_shapes_for_each_dataset_layout(n_channels, n_times):
  model = _tiny(n_channels, n_times)
  out = _forward(model, _eeg(2, n_channels, n_times))
  assert model.head.hidden.in_features == n_tokens(n_times) * TINY["d_model"]
  assert out.shape == (2, TINY["embed_dim"]) and out.dtype == jnp.float32
  assert np.all(np.isfinite(out))


def test_wrong_input_shape_names_the_expected_layout():
  with pytest.raises(DataError, match="expected .*23 channels, 256 samples"):
    _tiny()(_eeg(2, 4, 256))


def _encoder_params(role: str) -> int:
  config = config_lib.get_config("chbmit", role)
  abstract = nnx.eval_shape(lambda: build_conformer(
      config.model.eeg, n_channels=23, n_times=256, embed_dim=config.model.embed_dim, rngs=nnx.Rngs(0)))
  return count_params(abstract)


def test_parameter_targets_chbmit():
  teacher, student = _encoder_params("teacher"), _encoder_params("student")
  # Paper IV-C / Fig. 6: 30.8 M and 17.9 M EEG-encoder parameters (student = 58.1 %).
  assert abs(teacher / 30.8e6 - 1) < 0.03, teacher
  assert abs(student / 17.9e6 - 1) < 0.03, student
  assert abs(student / teacher - 0.581) < 0.01
  # Stem + 8 blocks + final LN + head, with 4 prompts of 520 per layer (see DESIGN.md).
  assert teacher == 30_876_896 and student == 17_862_336


def test_prompts_add_exactly_l_p_d_parameters():
  with_prompts, without = _tiny(), _tiny(n_prompts=0)
  assert count_params(with_prompts) - count_params(without) == 2 * 3 * 20
  assert count_params(with_prompts, Prompt) == 2 * 3 * 20
  assert count_params(without, Prompt) == 0 and without.prompts is None


def test_prompts_change_outputs():
  model = _tiny()
  model.eval()
  x = _eeg(2, 23, 256)
  before = _forward(model, x)
  model.prompts[...] = model.prompts[...] + 1.0
  assert not np.allclose(before, _forward(model, x), atol=1e-4)


def test_eval_is_deterministic_and_train_is_stochastic():
  model = _tiny()
  x = _eeg(2, 23, 256)
  model.train()
  assert not np.allclose(_forward(model, x), _forward(model, x))
  model.eval()
  np.testing.assert_array_equal(_forward(model, x), _forward(model, x))


def test_stem_linear_part_equals_the_two_convs_with_their_gradients():
  """One conv with the composed kernel == the temporal conv, then the spatial conv, as nnx layers."""
  stem = _tiny(n_filters=6).stem

  def two_convs(stem, x):  # (B, C, T) -> (B, T', F)
    return stem.spatial(stem.temporal(x[..., None]))[:, 0]

  def composed(stem, x):
    return stem.linear_part(x)

  x = jnp.asarray(_eeg(3, 23, 256))
  assert composed(stem, x).shape == two_convs(stem, x).shape == (3, 256 - 24, 6)
  np.testing.assert_allclose(composed(stem, x), two_convs(stem, x), rtol=1e-5, atol=1e-5)
  target = jnp.asarray(np.random.default_rng(1).normal(size=(3, 232, 6)), jnp.float32)
  grads = [nnx.grad(lambda stem, f=f: jnp.sum(f(stem, x) * target))(stem) for f in (composed, two_convs)]
  for part in ("temporal", "spatial"):
    for name in ("kernel", "bias"):
      got, want = (np.asarray(getattr(getattr(g, part), name)[...]) for g in grads)
      np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_train_mode_updates_batch_norm_statistics():
  stem = _tiny().stem
  mean_before = np.asarray(stem.norm.mean[...])
  stem.train()
  _forward(stem, _eeg(2, 23, 256))
  assert not np.allclose(mean_before, stem.norm.mean[...])
  stem.eval()
  mean_after = np.asarray(stem.norm.mean[...])
  _forward(stem, _eeg(2, 23, 256, seed=1))
  np.testing.assert_array_equal(mean_after, stem.norm.mean[...])


def test_dot_product_attention_equals_the_einsum_attention_with_its_gradients():
  """config.model.eeg.attention="dot_product" (jax.nn.dot_product_attention, XLA) computes the same function."""
  einsum, fused = _tiny(), _tiny(attention="dot_product")  # same seed: the same parameters
  for model in (einsum, fused):
    model.eval()
  x = jnp.asarray(_eeg(3, 23, 256))
  np.testing.assert_allclose(_forward(fused, x), _forward(einsum, x), rtol=1e-5, atol=1e-6)
  grads = [nnx.grad(lambda m: jnp.sum(m(x) ** 2))(m) for m in (einsum, fused)]
  for (path, want), (_, got) in zip(nnx.to_flat_state(nnx.state(grads[0])), nnx.to_flat_state(nnx.state(grads[1]))):
    np.testing.assert_allclose(got[...], want[...], rtol=1e-4, atol=1e-5 * np.abs(want[...]).max(), err_msg=str(path))


def test_fused_attention_pads_the_head_dim_without_changing_the_result():
  """cuDNN's kernel needs head dims in multiples of 8: the paper's 52 is padded to 56 and sliced back."""
  q, k, v = (jnp.asarray(np.random.default_rng(i).normal(size=(2, 15, 10, 52)), jnp.float32) for i in range(3))
  plain = fused_attention(q, k, v, "xla")
  padded = fused_attention(q, k, v, "xla", head_multiple=8)
  assert padded.shape == plain.shape == (2, 15, 10, 52)
  np.testing.assert_allclose(padded, plain, rtol=1e-5, atol=1e-6)
  logits = jnp.einsum("bqhc,bkhc->bhqk", q, k) / np.sqrt(52)
  want = jnp.einsum("bhqk,bkhc->bqhc", jax.nn.softmax(logits, axis=-1), v)
  np.testing.assert_allclose(plain, want, rtol=1e-5, atol=1e-6)


def test_unknown_or_unavailable_attention_is_a_config_error():
  with pytest.raises(ConfigError, match="model.eeg.attention='flash', expected one of"):
    _tiny(attention="flash")
  eeg = config_lib.get_config("chbmit", "teacher").model.eeg.copy_and_resolve_references()
  with eeg.unlocked():
    eeg.attention = "cudnn"
  with pytest.raises(ConfigError, match="attention='cudnn' needs a CUDA GPU and compute_dtype bfloat16"):
    build_conformer(eeg, n_channels=23, n_times=256, embed_dim=8, rngs=nnx.Rngs(0))
