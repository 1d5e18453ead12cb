"""BERT encoder in Flax NNX whose parameter tree mirrors Hugging Face BERT.

Every parameter path maps mechanically onto a Hugging Face checkpoint key (see
`bert_weights.py`): attribute names are the PyTorch `BertModel` module names
(`embeddings.word_embeddings`, `encoder.layer.3.attention.self.query`,
`attention.output.LayerNorm`, `pooler.dense`, ...) and the leaf names are the
HF Flax ones (`kernel`, `bias`, `embedding`, `scale`), so a Flax
`flax_model.msgpack` path is our path joined by "/" and a PyTorch key is our path
joined by "." with `kernel`/`embedding`/`scale` renamed to `weight` (Linear
kernels transposed).

Parameters are always float32; `dtype` is the compute dtype of activations
(bfloat16 on GPU). Softmax and LayerNorm statistics run in float32.

Prompt hooks (used by BERT-LP): `context` replaces the word embeddings of the
M positions right after [CLS] (CoOp); `deep_context[i - 1]` replaces the hidden
states at those positions before layer i >= 1 (deep prompts). Position and
token-type embeddings of those positions are added as for any token.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from jclip_eeg.errors import ConfigError

# HF `hidden_act` names -> activation. "gelu" is the exact (erf) GELU.
_ACTIVATIONS = {
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "gelu_new": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "relu": jax.nn.relu,
}

# First prompt position: right after [CLS].
PROMPT_START = 1


@dataclasses.dataclass(frozen=True)
class BertConfig:
  """The subset of a Hugging Face `config.json` that defines a BERT encoder."""
  vocab_size: int = 30522
  hidden_size: int = 768
  num_hidden_layers: int = 12
  num_attention_heads: int = 12
  intermediate_size: int = 3072
  hidden_act: str = "gelu"
  hidden_dropout_prob: float = 0.1
  attention_probs_dropout_prob: float = 0.1
  max_position_embeddings: int = 512
  type_vocab_size: int = 2
  layer_norm_eps: float = 1e-12
  initializer_range: float = 0.02

  def __post_init__(self):
    if self.hidden_act not in _ACTIVATIONS:
      raise ConfigError(
          f"BERT hidden_act={self.hidden_act!r} is not supported; expected one of {sorted(_ACTIVATIONS)}")
    if self.hidden_size % self.num_attention_heads:
      raise ConfigError(
          f"BERT hidden_size={self.hidden_size} is not divisible by "
          f"num_attention_heads={self.num_attention_heads}")

  @property
  def head_dim(self) -> int:
    return self.hidden_size // self.num_attention_heads

  @classmethod
  def from_dict(cls, raw: dict[str, Any], source: str = "config") -> BertConfig:
    """Keeps the known fields of a HF config dict; rejects non-BERT variants."""
    if raw.get("model_type", "bert") != "bert":
      raise ConfigError(f"{source}: model_type={raw['model_type']!r}, expected 'bert'")
    if raw.get("position_embedding_type", "absolute") != "absolute":
      raise ConfigError(
          f"{source}: position_embedding_type={raw['position_embedding_type']!r}, only 'absolute' is supported")
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in raw.items() if k in names})

  @classmethod
  def from_json(cls, path: str | Path) -> BertConfig:
    """Reads a Hugging Face BERT `config.json`."""
    path = Path(path)
    try:
      raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
      raise ConfigError(f"{path}: cannot read a BERT config.json ({e})") from e
    return cls.from_dict(raw, source=str(path))


ARCHS = {
    "bert-base": BertConfig(),
    "minilm-l6": BertConfig(hidden_size=384, num_hidden_layers=6, intermediate_size=1536),
}


def insert_prompts(h: jax.Array, prompts: jax.Array) -> jax.Array:
  """Overwrites positions [PROMPT_START, PROMPT_START + M) of every sequence.

  Args:
    h: (B, L, H) embeddings or hidden states.
    prompts: (M, H) vectors shared by the batch.
  Returns:
    (B, L, H) in h's dtype.
  """
  m = prompts.shape[0]
  return h.at[:, PROMPT_START:PROMPT_START + m].set(prompts.astype(h.dtype)[None])


def _normal(cfg: BertConfig) -> nnx.Initializer:
  # initializer_range=0 (set when pretrained weights are loaded right after) gives the
  # same zeros without sampling, which is most of the build time on CPU.
  return nnx.initializers.normal(cfg.initializer_range) if cfg.initializer_range else nnx.initializers.zeros


def _dense(din: int, dout: int, cfg: BertConfig, dtype, rngs: nnx.Rngs) -> nnx.Linear:
  return nnx.Linear(din, dout, dtype=dtype, param_dtype=jnp.float32, kernel_init=_normal(cfg), rngs=rngs)


def _embed(n: int, cfg: BertConfig, dtype, rngs: nnx.Rngs) -> nnx.Embed:
  return nnx.Embed(n, cfg.hidden_size, dtype=dtype, param_dtype=jnp.float32, embedding_init=_normal(cfg),
                   rngs=rngs)


def _layer_norm(cfg: BertConfig, dtype, rngs: nnx.Rngs) -> nnx.LayerNorm:
  return nnx.LayerNorm(cfg.hidden_size, epsilon=cfg.layer_norm_eps, dtype=dtype,
                       param_dtype=jnp.float32, rngs=rngs)


class BertEmbeddings(nnx.Module):
  """Word + position + token-type embeddings, LayerNorm, dropout."""

  def __init__(self, cfg: BertConfig, *, dtype, rngs: nnx.Rngs):
    self.word_embeddings = _embed(cfg.vocab_size, cfg, dtype, rngs)
    self.position_embeddings = _embed(cfg.max_position_embeddings, cfg, dtype, rngs)
    self.token_type_embeddings = _embed(cfg.type_vocab_size, cfg, dtype, rngs)
    self.LayerNorm = _layer_norm(cfg, dtype, rngs)  # pylint: disable=invalid-name
    self.dropout = nnx.Dropout(cfg.hidden_dropout_prob, rngs=rngs)

  def __call__(self, input_ids: jax.Array, token_type_ids: jax.Array,
               context: jax.Array | None = None) -> jax.Array:
    """(B, L) int ids, (B, L) int types, optional (M, H) context -> (B, L, H)."""
    words = self.word_embeddings(input_ids)
    if context is not None:
      words = insert_prompts(words, context)
    positions = self.position_embeddings(jnp.arange(input_ids.shape[1]))[None]
    h = words + positions + self.token_type_embeddings(token_type_ids)
    return self.dropout(self.LayerNorm(h))


class BertSelfAttention(nnx.Module):
  """Multi-head scaled dot-product attention with separate q/k/v projections."""

  def __init__(self, cfg: BertConfig, *, dtype, rngs: nnx.Rngs):
    d = cfg.hidden_size
    self.num_heads = cfg.num_attention_heads
    self.query = _dense(d, d, cfg, dtype, rngs)
    self.key = _dense(d, d, cfg, dtype, rngs)
    self.value = _dense(d, d, cfg, dtype, rngs)
    self.dropout = nnx.Dropout(cfg.attention_probs_dropout_prob, rngs=rngs)

  def _heads(self, x: jax.Array) -> jax.Array:
    """(B, L, H) -> (B, heads, L, H / heads)."""
    b, length, d = x.shape
    return x.reshape(b, length, self.num_heads, d // self.num_heads).transpose(0, 2, 1, 3)

  def __call__(self, h: jax.Array, attention_mask: jax.Array) -> jax.Array:
    """(B, L, H) hidden states, (B, L) mask (1 = attend) -> (B, L, H) context."""
    q, k, v = (self._heads(proj(h)) for proj in (self.query, self.key, self.value))
    scores = jnp.einsum("bnqd,bnkd->bnqk", q, k).astype(jnp.float32) / jnp.sqrt(q.shape[-1])
    valid = attention_mask[:, None, None, :].astype(bool)
    scores = jnp.where(valid, scores, jnp.finfo(jnp.float32).min)
    probs = self.dropout(jax.nn.softmax(scores, axis=-1).astype(h.dtype))
    context = jnp.einsum("bnqk,bnkd->bnqd", probs, v)
    b, _, length, _ = context.shape
    return context.transpose(0, 2, 1, 3).reshape(b, length, -1)


class BertResidualOutput(nnx.Module):
  """Dense -> dropout -> LayerNorm(x + residual): HF `BertSelfOutput` and `BertOutput`."""

  def __init__(self, din: int, cfg: BertConfig, *, dtype, rngs: nnx.Rngs):
    self.dense = _dense(din, cfg.hidden_size, cfg, dtype, rngs)
    self.LayerNorm = _layer_norm(cfg, dtype, rngs)  # pylint: disable=invalid-name
    self.dropout = nnx.Dropout(cfg.hidden_dropout_prob, rngs=rngs)

  def __call__(self, x: jax.Array, residual: jax.Array) -> jax.Array:
    """(B, L, din), (B, L, H) -> (B, L, H)."""
    return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class BertAttention(nnx.Module):
  """Self-attention block (post-LN). `self` is the HF module name."""

  def __init__(self, cfg: BertConfig, *, dtype, rngs: nnx.Rngs):
    self.self = BertSelfAttention(cfg, dtype=dtype, rngs=rngs)
    self.output = BertResidualOutput(cfg.hidden_size, cfg, dtype=dtype, rngs=rngs)

  def __call__(self, h: jax.Array, attention_mask: jax.Array) -> jax.Array:
    """(B, L, H), (B, L) -> (B, L, H)."""
    return self.output(self.self(h, attention_mask), h)


class BertIntermediate(nnx.Module):
  """Feed-forward expansion H -> intermediate_size with the config's activation."""

  def __init__(self, cfg: BertConfig, *, dtype, rngs: nnx.Rngs):
    self.dense = _dense(cfg.hidden_size, cfg.intermediate_size, cfg, dtype, rngs)
    self.hidden_act = cfg.hidden_act

  def __call__(self, h: jax.Array) -> jax.Array:
    """(B, L, H) -> (B, L, intermediate_size)."""
    return _ACTIVATIONS[self.hidden_act](self.dense(h))


class BertLayer(nnx.Module):
  """One post-LN transformer layer: attention, then feed-forward."""

  def __init__(self, cfg: BertConfig, *, dtype, rngs: nnx.Rngs):
    self.attention = BertAttention(cfg, dtype=dtype, rngs=rngs)
    self.intermediate = BertIntermediate(cfg, dtype=dtype, rngs=rngs)
    self.output = BertResidualOutput(cfg.intermediate_size, cfg, dtype=dtype, rngs=rngs)

  def __call__(self, h: jax.Array, attention_mask: jax.Array) -> jax.Array:
    """(B, L, H), (B, L) -> (B, L, H)."""
    a = self.attention(h, attention_mask)
    return self.output(self.intermediate(a), a)


class BertEncoder(nnx.Module):
  """The stack of `num_hidden_layers` layers (`encoder.layer.N`)."""

  def __init__(self, cfg: BertConfig, *, dtype, rngs: nnx.Rngs):
    self.layer = nnx.List([BertLayer(cfg, dtype=dtype, rngs=rngs) for _ in range(cfg.num_hidden_layers)])

  def __call__(self, h: jax.Array, attention_mask: jax.Array,
               deep_context: jax.Array | None = None) -> jax.Array:
    """(B, L, H), (B, L), optional (num_layers - 1, M, H) deep prompts -> (B, L, H)."""
    for i, layer in enumerate(self.layer):
      if deep_context is not None and i > 0:
        h = insert_prompts(h, deep_context[i - 1])
      h = layer(h, attention_mask)
    return h


class BertPooler(nnx.Module):
  """tanh(dense(h[:, 0])): HF `pooler_output`."""

  def __init__(self, cfg: BertConfig, *, dtype, rngs: nnx.Rngs):
    self.dense = _dense(cfg.hidden_size, cfg.hidden_size, cfg, dtype, rngs)

  def __call__(self, h: jax.Array) -> jax.Array:
    """(B, L, H) -> (B, H)."""
    return jnp.tanh(self.dense(h[:, 0]))


class BertModel(nnx.Module):
  """HF-compatible BERT encoder.

  Attributes:
    config: the BertConfig it was built from.
    embeddings, encoder: as in HF `BertModel`.
    pooler: BertPooler, or None when built with `add_pooler=False` (a
      checkpoint's `pooler.*` tensors are then skipped by the loader).
  """

  def __init__(self, config: BertConfig, *, add_pooler: bool = True, dtype=jnp.float32,
               rngs: nnx.Rngs):
    self.config = config
    self.embeddings = BertEmbeddings(config, dtype=dtype, rngs=rngs)
    self.encoder = BertEncoder(config, dtype=dtype, rngs=rngs)
    self.pooler = BertPooler(config, dtype=dtype, rngs=rngs) if add_pooler else None

  def __call__(self, input_ids: jax.Array, attention_mask: jax.Array,
               token_type_ids: jax.Array | None = None, *,
               context: jax.Array | None = None,
               deep_context: jax.Array | None = None) -> jax.Array:
    """Last hidden states.

    Args:
      input_ids: (B, L) int token ids, L <= max_position_embeddings.
      attention_mask: (B, L) 1 for real tokens (prompts included), 0 for padding.
      token_type_ids: (B, L) int segment ids; zeros when None.
      context: optional (M, H) input prompts placed after [CLS].
      deep_context: optional (num_hidden_layers - 1, M, H) prompts for layers >= 1.
    Returns:
      (B, L, H) in the compute dtype.
    """
    if token_type_ids is None:
      token_type_ids = jnp.zeros_like(input_ids)
    h = self.embeddings(input_ids, token_type_ids, context)
    return self.encoder(h, attention_mask, deep_context)
