"""BERT-LP: tokenisation, prompt modes, pooling, trainable filters, jit and bf16.

These run on a tiny random BERT (`TINY`) so they compile in moments, or on
eval_shape encoders; test_bert.py checks the real MiniLM weights (PyTorch
parity, bf16 against fp32).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from jclip_eeg.errors import ConfigError
from jclip_eeg.models import bert_weights
from jclip_eeg.models.bert import ARCHS, BertConfig
from jclip_eeg.models.params import Prompt
from jclip_eeg.models.text_encoder import TextEncoder, build_text_encoder, trainable_filter

CLASSES = [
    "background activity without epileptiform discharges",
    "rhythmic evolving high-amplitude discharges across several channels",
    "generalised 3 Hz spike-and-wave complexes",
]
MINILM = ARCHS["minilm-l6"]
# initializer_range=0 builds zeros without sampling (slow to compile on CPU); `_randomise` fills them.
TINY = BertConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64,
                  max_position_embeddings=64, initializer_range=0.0)


def _cfg(**overrides) -> ml_collections.ConfigDict:
  cfg = dict(checkpoint="minilm", arch="bert-base", prompt_mode="learnable", n_context=8, deep_prompts=True,
             template="an EEG segment showing {}.", trainable="all", pooling="mean", max_length=64, dropout=0.2)
  return ml_collections.ConfigDict({**cfg, **overrides})


def _tokenizer_dir() -> str:
  return str(bert_weights.minilm_dir())


def _abstract(config: BertConfig = TINY, **kwargs) -> TextEncoder:
  """An eval_shape encoder: tokenises and counts parameters without building weights."""
  return nnx.eval_shape(lambda: TextEncoder(config, tokenizer_dir=_tokenizer_dir(), rngs=nnx.Rngs(0), **kwargs))


def _size(state) -> int:
  return sum(v.size for _, v in nnx.to_flat_state(state))


@nnx.jit
def _encode(encoder: TextEncoder, input_ids: jax.Array, attention_mask: jax.Array) -> jax.Array:
  return encoder(input_ids, attention_mask)


def _inputs(encoder: TextEncoder) -> tuple[jax.Array, jax.Array]:
  tokens = encoder.tokenize(CLASSES)
  return jnp.asarray(tokens["input_ids"]), jnp.asarray(tokens["attention_mask"])


def _features(encoder: TextEncoder) -> np.ndarray:
  return np.asarray(_encode(encoder, *_inputs(encoder)))


def _randomise(encoder: TextEncoder) -> None:
  """Random BERT weights drawn on the host (LayerNorm scales around 1)."""
  rng = np.random.default_rng(0)
  for path, var in nnx.to_flat_state(nnx.state(encoder.bert, nnx.Param)):
    var[...] = jnp.asarray(rng.normal(0.0, 0.3, var.shape) + (path[-1] == "scale"), jnp.float32)


def _tiny(**kwargs) -> TextEncoder:
  encoder = TextEncoder(TINY, tokenizer_dir=_tokenizer_dir(), n_context=4, rngs=nnx.Rngs(0), **kwargs)
  _randomise(encoder)
  encoder.eval()
  return encoder


@pytest.fixture(scope="module")
def tiny() -> TextEncoder:
  """Random tiny BERT-LP with learnable deep prompts, n_context=4."""
  return _tiny()


@pytest.fixture(scope="module")
def tokenizer():
  """transformers' tokenizer of the MiniLM folder: the reference for our `tokenizers`-based one."""
  transformers = pytest.importorskip("transformers")
  return transformers.AutoTokenizer.from_pretrained(_tokenizer_dir(), local_files_only=True)


def test_tokenize_none_matches_hf(tokenizer):
  ours = _abstract(prompt_mode="none").tokenize(CLASSES)
  ref = tokenizer(CLASSES, padding="max_length", max_length=64, return_tensors="np")
  assert ours["input_ids"].dtype == ours["attention_mask"].dtype == np.int32
  np.testing.assert_array_equal(ours["input_ids"], ref["input_ids"])
  np.testing.assert_array_equal(ours["attention_mask"], ref["attention_mask"])


def test_tokenize_learnable_reserves_prompt_positions():
  base = _abstract(prompt_mode="none").tokenize(CLASSES)
  ours = _abstract(n_context=8).tokenize(CLASSES)
  np.testing.assert_array_equal(ours["attention_mask"].sum(axis=1), base["attention_mask"].sum(axis=1) + 8)
  np.testing.assert_array_equal(ours["input_ids"][:, 0], base["input_ids"][:, 0])
  np.testing.assert_array_equal(ours["input_ids"][:, 9:], base["input_ids"][:, 1:-8])


def test_tokenize_handcrafted_uses_template(tokenizer):
  ours = _abstract(prompt_mode="handcrafted", template="EEG: {}!").tokenize(CLASSES)
  ref = tokenizer([f"EEG: {s}!" for s in CLASSES], padding="max_length", max_length=64, return_tensors="np")
  np.testing.assert_array_equal(ours["input_ids"], ref["input_ids"])


def test_too_long_sentence_is_rejected():
  with pytest.raises(ConfigError, match="max_length=64"):
    _abstract().tokenize(["spike " * 60])


@pytest.mark.parametrize("deep", [True, False])
def test_learnable_prompt_param_counts(deep):
  hidden, layers, m = MINILM.hidden_size, MINILM.num_hidden_layers, 4
  encoder = _abstract(MINILM, n_context=m, deep_prompts=deep)
  expected = m * hidden + (layers - 1) * m * hidden * deep
  assert _size(nnx.state(encoder, Prompt)) == expected
  bert_only = _size(nnx.state(_abstract(MINILM, prompt_mode="none"), nnx.Param))
  assert _size(nnx.state(encoder, nnx.Param)) == bert_only + expected


@pytest.mark.parametrize("mode", ["none", "handcrafted"])
def test_fixed_modes_have_no_prompts(mode):
  assert _size(nnx.state(_abstract(prompt_mode=mode), Prompt)) == 0


def test_modes_give_different_features(tiny):
  shared = nnx.state(tiny.bert, nnx.Param)
  encoders = [_tiny(prompt_mode="none"), _tiny(prompt_mode="handcrafted"), tiny]
  for encoder in encoders:
    nnx.update(encoder.bert, shared)
  outs = [_features(e) for e in encoders]
  for out in outs:
    assert out.shape == (3, 32) and out.dtype == np.float32 and np.isfinite(out).all()
  for i in range(len(outs)):
    for j in range(i):
      assert np.abs(outs[i] - outs[j]).max() > 1e-3, (i, j)


@nnx.jit
def _hidden(encoder: TextEncoder, ids: jax.Array, mask: jax.Array) -> jax.Array:
  """(K, L, H) last hidden states of a learnable-prompt encoder."""
  return encoder.bert(ids, mask, context=encoder.context[...], deep_context=encoder.deep_context[...])


def test_mean_pooling_is_masked_mean_with_prompts(tiny):
  ids, mask = _inputs(tiny)
  hidden = np.asarray(_hidden(tiny, ids, mask))
  expected = np.stack([hidden[k, :n].mean(axis=0) for k, n in enumerate(np.asarray(mask).sum(axis=1))])
  np.testing.assert_allclose(_features(tiny), expected, atol=1e-5)


def test_cls_pooling_takes_first_token(tiny):
  ids, mask = _inputs(tiny)
  cls = _tiny(pooling="cls")
  nnx.update(cls, nnx.state(tiny, nnx.Param))
  np.testing.assert_allclose(_features(cls), np.asarray(_hidden(tiny, ids, mask))[:, 0], atol=1e-5)


def test_every_prompt_gets_a_gradient(tiny):
  ids, mask = _inputs(tiny)

  @nnx.jit
  def grads(encoder):
    return nnx.grad(lambda e: jnp.sum(e(ids, mask) ** 2), argnums=nnx.DiffState(0, Prompt))(encoder)

  g = grads(tiny)
  assert np.abs(np.asarray(g["context"][...])).sum(axis=-1).min() > 0
  # One (n_context, hidden) slab per layer >= 1, the last one included.
  assert np.abs(np.asarray(g["deep_context"][...])).sum(axis=(1, 2)).min() > 0


def test_jit_matches_eager(tiny):
  ids, mask = _inputs(tiny)
  np.testing.assert_allclose(_features(tiny), np.asarray(tiny(ids, mask)), atol=1e-5)


def test_dropout_only_in_train_mode(tiny):
  ids, mask = _inputs(tiny)
  tiny.train()
  try:
    a, b = np.asarray(_encode(tiny, ids, mask)), np.asarray(_encode(tiny, ids, mask))
  finally:
    tiny.eval()
  assert np.abs(a - b).max() > 1e-3
  np.testing.assert_array_equal(_features(tiny), _features(tiny))


def test_trainable_filter_selects_text_params(tiny):
  prompts = _size(nnx.state(tiny, Prompt))
  assert prompts == 4 * 32 * 3
  assert _size(nnx.state(tiny, trainable_filter(_cfg(trainable="prompts")))) == prompts
  assert _size(nnx.state(tiny, trainable_filter(_cfg(trainable="all")))) == _size(nnx.state(tiny, nnx.Param))
  assert _size(nnx.state(tiny, trainable_filter(_cfg(trainable="none")))) == 0


def test_trainable_filter_scope_excludes_other_towers():
  class Model(nnx.Module):

    def __init__(self):
      self.text = _abstract(n_context=4)
      self.eeg_prompts = Prompt(jnp.zeros((4, 8)))

  model = Model()
  text_prompts = _size(nnx.state(model.text, Prompt))
  assert _size(nnx.state(model, trainable_filter(_cfg(trainable="prompts"), scope="text"))) == text_prompts
  assert _size(nnx.state(model, trainable_filter(_cfg(trainable="prompts")))) == text_prompts + 32


def test_bad_config_values_name_the_field():
  with pytest.raises(ConfigError, match="trainable='prompts' needs prompt_mode='learnable'"):
    trainable_filter(_cfg(trainable="prompts", prompt_mode="none"))
  with pytest.raises(ConfigError, match=r"config.model.text.pooling='max'"):
    _abstract(pooling="max")
  with pytest.raises(ConfigError, match="template"):
    _abstract(template="no placeholder")
  with pytest.raises(ConfigError, match=r"config.model.text.arch='bert-huge'"):
    build_text_encoder(_cfg(checkpoint="random", arch="bert-huge"), rngs=nnx.Rngs(0))
  cfg = _cfg()
  del cfg["dropout"]
  with pytest.raises(ConfigError, match=r"missing the fields \['dropout'\]"):
    build_text_encoder(cfg, rngs=nnx.Rngs(0))


def test_bf16_features_close_to_fp32(tiny):
  bf16 = _tiny(dtype=jnp.bfloat16)
  nnx.update(bf16, nnx.state(tiny, nnx.Param))
  ref, out = _features(tiny), _features(bf16)
  cosine = (ref * out).sum(-1) / np.linalg.norm(ref, axis=-1) / np.linalg.norm(out, axis=-1)
  assert cosine.min() > 0.999
  assert 0 < np.abs(out - ref).max() < 0.05 * np.abs(ref).max()
  assert {v.dtype for v in jax.tree.leaves(nnx.state(bf16, nnx.Param))} == {np.dtype(np.float32)}


def test_random_checkpoint_uses_arch_and_minilm_tokenizer():
  encoder = nnx.eval_shape(lambda: build_text_encoder(
      _cfg(checkpoint="random", arch="bert-base", prompt_mode="none"), rngs=nnx.Rngs(0)))
  assert encoder.hidden_size == 768 and encoder.bert.config.num_hidden_layers == 12
  assert encoder.bert.config.attention_probs_dropout_prob == encoder.bert.config.hidden_dropout_prob == 0.2
  assert encoder.tokenizer_dir == _tokenizer_dir()
  # bert-base-uncased BertModel (109,482,240) without its 768x768 pooler.
  assert _size(nnx.state(encoder, nnx.Param)) == 109_482_240 - 768 * 768 - 768


def test_random_checkpoint_takes_a_tokenizer_folder_without_the_minilm_package(tmp_path, monkeypatch):
  """The GPU host has no MiniLM package: a copied tokenizer folder gives the same token ids."""
  bert_weights.copy_tokenizer(bert_weights.minilm_dir(), tmp_path)
  reference = _abstract(ARCHS["bert-base"]).tokenize(["seizure", "non-seizure"])
  monkeypatch.setattr(bert_weights, "minilm_dir", lambda: None)
  with pytest.raises(ConfigError, match="set config.model.text.tokenizer"):
    build_text_encoder(_cfg(checkpoint="random"), rngs=nnx.Rngs(0))
  encoder = nnx.eval_shape(lambda: build_text_encoder(_cfg(checkpoint="random", tokenizer=str(tmp_path)),
                                                      rngs=nnx.Rngs(0)))
  assert encoder.tokenizer_dir == str(tmp_path)
  got = encoder.tokenize(["seizure", "non-seizure"])
  for key in reference:
    np.testing.assert_array_equal(got[key], reference[key])
  with pytest.raises(ConfigError, match="not a HF tokenizer folder"):
    build_text_encoder(_cfg(checkpoint="random", tokenizer=str(tmp_path / "missing")), rngs=nnx.Rngs(0))


def test_tokenizer_with_a_pretrained_checkpoint_is_an_error():
  with pytest.raises(ConfigError, match="tokenizer=.* is for checkpoint='random'"):
    build_text_encoder(_cfg(tokenizer=_tokenizer_dir()), rngs=nnx.Rngs(0))


def test_minilm_build_loads_the_checkpoint():
  encoder = build_text_encoder(_cfg(), rngs=nnx.Rngs(0))
  tensors = bert_weights.read_safetensors(bert_weights.minilm_dir() / bert_weights.SAFETENSORS)
  assert encoder.hidden_size == 384 and encoder.bert.pooler is None
  np.testing.assert_array_equal(np.asarray(encoder.bert.embeddings.word_embeddings.embedding[...]),
                                np.asarray(tensors["embeddings.word_embeddings.weight"]))
  np.testing.assert_array_equal(np.asarray(encoder.bert.encoder.layer[5].output.dense.kernel[...]),
                                np.asarray(tensors["encoder.layer.5.output.dense.weight"]).T)
  assert np.asarray(encoder.context[...]).std() == pytest.approx(0.02, rel=0.2)
