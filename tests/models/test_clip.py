"""CLIP teacher and student: outputs, class-text averaging, logit scale, bf16, jit, class prompts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from jclip_eeg import config_lib
from jclip_eeg.errors import ConfigError
from jclip_eeg.models import (CLIPModel, StudentModel, build_model, class_prompts, count_params,
                              prediction_logits, trainable_filter)
from jclip_eeg.models import bert_weights
from jclip_eeg.models.bert import BertConfig
from jclip_eeg.models.conformer import Conformer
from jclip_eeg.models.text_encoder import TextEncoder

EEG = dict(embed_dim=8, n_filters=4, d_model=20, n_layers=2, n_heads=2, n_prompts=3, head_hidden=16)
TINY_BERT = BertConfig(hidden_size=12, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24,
                       max_position_embeddings=32)
SENTENCES = [["quiet mixed background", "low voltage alpha"], ["rhythmic evolving spikes"], ["flat line"]]


def _teacher(dtype=jnp.float32, seed: int = 0) -> CLIPModel:
  """A tiny teacher: the real BERT-LP tower (2 layers, H=12) with the MiniLM tokenizer."""
  rngs = nnx.Rngs(seed)
  eeg = Conformer(23, 256, **EEG, dtype=dtype, rngs=rngs)
  text = TextEncoder(TINY_BERT, tokenizer_dir=str(bert_weights.minilm_dir()), n_context=2, max_length=24,
                     dtype=dtype, rngs=rngs)
  return CLIPModel(eeg, text, SENTENCES, dtype=dtype, rngs=rngs)


def _numpy(tree):
  """Assert on host arrays: eager jnp ops would each compile a program."""
  return jax.tree.map(np.asarray, tree)


def _unit(x: np.ndarray) -> np.ndarray:
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _eeg(batch: int = 2) -> np.ndarray:
  return np.random.default_rng(0).normal(size=(batch, 23, 256)).astype(np.float32)


@pytest.fixture(scope="module")
def teacher_outputs():
  model = _teacher()
  model.eval()
  graphdef, state = nnx.split(model)
  forward = jax.jit(lambda state, x: nnx.merge(graphdef, state)(x))  # the split / jit / merge pattern
  return model, _numpy(forward(state, _eeg()))


def test_teacher_output_shapes_and_unit_norms(teacher_outputs):
  _, out = teacher_outputs
  assert out["clip_logits"].shape == out["head_logits"].shape == (2, 3)
  assert out["eeg_features"].shape == (2, 8) and out["text_features"].shape == (3, 8)
  np.testing.assert_allclose(np.linalg.norm(out["text_features"], axis=-1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(np.linalg.norm(out["eeg_features"], axis=-1), 1.0, rtol=1e-5)
  expected = out["logit_scale"] * out["eeg_features"] @ out["text_features"].T
  np.testing.assert_allclose(out["clip_logits"], expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out["logit_scale"], 1 / 0.07, rtol=1e-5)


def test_text_features_average_each_class_sentences(teacher_outputs):
  model, out = teacher_outputs
  sentences = nnx.jit(lambda m: m.text_proj(m.text(m.input_ids[...], m.attention_mask[...])))(model)
  s = _unit(np.asarray(sentences))  # (4 sentences, E)
  expected = _unit(np.stack([s[0] + s[1], s[2], s[3]]))
  np.testing.assert_allclose(out["text_features"], expected, rtol=1e-5, atol=1e-6)


def test_tokens_are_constants_not_parameters(teacher_outputs):
  model, _ = teacher_outputs
  params = nnx.state(model, nnx.Param)
  assert "input_ids" not in params and "class_weights" not in params
  assert model.input_ids[...].dtype == jnp.int32 and model.input_ids.shape == (4, 24)


def test_logit_scale_is_capped():
  model = _teacher()
  model.clip_head.log_scale[...] = jnp.log(1000.0)
  assert float(model.clip_head.logit_scale()) == pytest.approx(100.0)
  with pytest.raises(ConfigError, match="logit_scale_init"):
    CLIPModel(model.eeg, model.text, SENTENCES, logit_scale_init=200.0, rngs=nnx.Rngs(0))


def test_bfloat16_keeps_float32_params_and_tracks_float32_outputs(teacher_outputs):
  _, reference = teacher_outputs
  model = _teacher(dtype=jnp.bfloat16)  # same seed: same parameters
  model.eval()
  assert {p.dtype for p in jax.tree.leaves(nnx.state(model, nnx.Param))} == {jnp.dtype(jnp.float32)}
  out = _numpy(nnx.jit(lambda m, x: m(x))(model, _eeg()))
  for key in ("clip_logits", "head_logits", "text_features"):
    assert out[key].dtype == np.float32 and np.all(np.isfinite(out[key]))
  # bf16 keeps 8 mantissa bits (~0.4 % per op): logits within 5 % of their range,
  # unit features within 0.05.
  tol = 0.05 * np.abs(reference["clip_logits"]).max()
  np.testing.assert_allclose(out["clip_logits"], reference["clip_logits"], atol=tol)
  np.testing.assert_allclose(out["text_features"], reference["text_features"], atol=0.05)


def test_student_uses_given_text_features():
  rngs = nnx.Rngs(1)
  student = StudentModel(Conformer(23, 256, **EEG, rngs=rngs), 3, teacher_embed_dim=6, rngs=rngs)
  student.eval()
  u = _unit(np.random.default_rng(2).normal(size=(3, 6))).astype(np.float32)
  forward = nnx.jit(lambda m, x, u: m(x, u))
  out = _numpy(forward(student, _eeg(), u))
  assert out["clip_logits"].shape == (2, 3) and out["eeg_features"].shape == (2, 6)
  np.testing.assert_allclose(out["clip_logits"], out["logit_scale"] * out["eeg_features"] @ u.T, rtol=1e-5)
  with pytest.raises(ConfigError, match="teacher text features"):
    forward(student, _eeg(), u[:2])


def test_prediction_logits_modes(teacher_outputs):
  _, out = teacher_outputs
  np.testing.assert_allclose(prediction_logits(out, "mean"), (out["clip_logits"] + out["head_logits"]) / 2)
  assert prediction_logits(out, "head") is out["head_logits"]
  with pytest.raises(ConfigError, match="model.prediction"):
    prediction_logits(out, "max")


@pytest.mark.parametrize("trainable", ["all", "prompts", "none"])
def test_trainable_filter_freezes_the_text_tower(teacher_outputs, trainable):
  model, _ = teacher_outputs
  text_params = {"all": count_params(model.text), "prompts": 2 * 12 + 1 * 2 * 12, "none": 0}[trainable]
  cfg = ml_collections.ConfigDict(dict(text=dict(enabled=True, trainable=trainable, prompt_mode="learnable")))
  outside_text = count_params(model) - count_params(model.text)
  assert count_params(model, trainable_filter(cfg)) == outside_text + text_params


def test_teacher_without_text_tower_has_fixed_class_anchors():
  config = config_lib.get_config("chbmit", "teacher")
  with config.unlocked():
    config.model.eeg.update(d_model=20, n_heads=2, n_layers=1, head_hidden=16, n_filters=4)
    config.model.embed_dim = 6
    config.model.text.update(enabled=False, trainable="prompts", prompt_mode="none")  # text fields then unused
  model = build_model(config, rngs=nnx.Rngs(0))
  assert model.text is None and not hasattr(model, "text_proj")
  np.testing.assert_array_equal(np.asarray(model.encode_text()), np.eye(2, 6))
  assert count_params(model) == count_params(model.eeg) + 6 * 2 + 2 + 1  # + classifier and log sigma
  assert count_params(model, trainable_filter(config.model)) == count_params(model)
  config.model.embed_dim = 1
  with pytest.raises(ConfigError, match="smaller than the 2 classes"):
    build_model(config, rngs=nnx.Rngs(0))


def test_build_student_from_config():
  config = config_lib.get_config("aubmc", "student")
  with config.unlocked():
    config.model.eeg.update(d_model=20, n_heads=2, n_layers=1, head_hidden=16, n_filters=4)
    config.model.teacher_embed_dim = 6
  model = nnx.eval_shape(lambda: build_model(config, rngs=nnx.Rngs(0)))
  assert isinstance(model, StudentModel) and model.eeg.n_times == 500
  assert model.proj.out_features == 6 and model.clip_head.classifier.out_features == 4


def test_bad_compute_dtype_is_a_config_error():
  config = config_lib.get_config("chbmit", "student")
  config.model.compute_dtype = "float16"
  with pytest.raises(ConfigError, match="compute_dtype"):
    build_model(config, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("dataset,options", [
    ("chbmit", {}), ("synthetic", {}), ("tusz", {}), ("tusz", {"classes": "binary"}), ("neonatal", {}),
    ("aubmc", {}), ("siena", {}), ("bids", {})])
def test_every_dataset_class_has_sentences_that_do_not_name_it(dataset, options):
  names = config_lib.data_shape(dataset, **options)[2]
  for name, sentences in zip(names, class_prompts(dataset, names)):
    assert sentences
    for sentence in sentences:
      assert name.replace("_", " ") not in sentence.lower(), (name, sentence)


def test_missing_class_sentences_name_the_class():
  with pytest.raises(ConfigError, match="'myoclonic'"):
    class_prompts("tusz", ["bckg", "myoclonic"])
  with pytest.raises(ConfigError, match="known"):
    class_prompts("eegmmi", ["normal"])
