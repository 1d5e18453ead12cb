"""EEG Conformer encoder (Song et al. 2022) with deep learnable EEG prompts (EEG-LP).

Shapes: B batch, C EEG channels, T samples per window, S conv tokens,
P prompt tokens per layer, d = d_model, E = embed_dim.

Mixed precision: matmuls and convolutions run in `dtype` (float32 or bfloat16),
parameters stay float32, and the residual stream, normalisation layers and the
attention softmax run in float32.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from jclip_eeg.errors import ConfigError, DataError
from jclip_eeg.models.params import Prompt

# PyTorch's BatchNorm defaults (momentum 0.1 there == 0.9 here, eps 1e-5), as in
# the reference EEG Conformer, so the PyTorch baseline and ours match.
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5
_PROMPT_INIT_STD = 0.02


def n_tokens(n_times: int, temporal_kernel: int = 25, pool_size: int = 75, pool_stride: int = 15) -> int:
  """Number of tokens S the conv stem makes from T samples.

  A valid temporal conv leaves T - kernel + 1 samples, then average pooling:
  S = floor((T - (kernel - 1) - pool_size) / pool_stride) + 1 (11 for T=256, 27 for T=500).
  """
  conv_len = n_times - temporal_kernel + 1
  if conv_len < pool_size:
    raise ConfigError(
        f"model.eeg: a window of {n_times} samples is too short for temporal_kernel="
        f"{temporal_kernel} and pool_size={pool_size} (needs >= {temporal_kernel - 1 + pool_size})")
  return (conv_len - pool_size) // pool_stride + 1


class ConvStem(nnx.Module):
  """Shallow-ConvNet style patch embedding: (B, C, T) -> (B, S, d) tokens."""

  def __init__(self, n_channels: int, *, n_filters: int, temporal_kernel: int, pool_size: int,
               pool_stride: int, d_model: int, dropout: float, dtype: jnp.dtype, rngs: nnx.Rngs):
    # The signal is an image with H = channels, W = time and one input feature. The two convs hold
    # the parameters (shapes and initialisation of the reference model); `linear_part` applies them.
    self.temporal = nnx.Conv(1, n_filters, (1, temporal_kernel), padding="VALID", dtype=dtype, rngs=rngs)
    self.spatial = nnx.Conv(n_filters, n_filters, (n_channels, 1), padding="VALID", dtype=dtype, rngs=rngs)
    self.dtype = dtype
    self.norm = nnx.BatchNorm(n_filters, momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, dtype=jnp.float32,
                              rngs=rngs)
    self.pool_size = pool_size
    self.pool_stride = pool_stride
    self.dropout = nnx.Dropout(dropout, rngs=rngs)
    self.project = nnx.Conv(n_filters, d_model, (1, 1), dtype=dtype, rngs=rngs)

  def linear_part(self, x: jax.Array) -> jax.Array:
    """The temporal then the spatial conv: x (B, C, T) -> (B, T - k + 1, F) in the compute dtype.

    Both are linear with nothing between them, so together they are one 1-D conv over time with
    C input and F output features, kernel[j, c, g] = sum_f temporal[j, f] * spatial[c, f, g]
    (and the biases folded likewise). Same function and gradients as applying the two convs;
    it needs 2.6x fewer FLOPs, and XLA compiles it to one dense conv instead of a conv with a
    single input feature, 15x faster on CPU (benchmarks/NOTES.md, change 2).
    """
    temporal = self.temporal.kernel[...][0, :, 0]  # (k, F), from the (1, k, 1, F) kernel
    spatial = self.spatial.kernel[...][:, 0]  # (C, F, F), from the (C, 1, F, F) kernel
    kernel = jnp.einsum("jf,cfg->jcg", temporal, spatial)  # (k, C, F)
    bias = self.temporal.bias[...] @ spatial.sum(axis=0) + self.spatial.bias[...]  # (F,)
    h = jax.lax.conv_general_dilated(jnp.swapaxes(x, 1, 2).astype(self.dtype), kernel.astype(self.dtype),
                                     window_strides=(1,), padding="VALID",
                                     dimension_numbers=("NWC", "WIO", "NWC"))
    return h + bias.astype(self.dtype)

  def __call__(self, x: jax.Array) -> jax.Array:
    """x: (B, C, T) float EEG -> (B, S, d) float32 tokens."""
    h = self.linear_part(x)[:, None]  # (B, 1, T - k + 1, F)
    h = jax.nn.elu(self.norm(h))
    h = nnx.avg_pool(h, (1, self.pool_size), strides=(1, self.pool_stride))  # (B, 1, S, F)
    h = self.project(self.dropout(h))  # (B, 1, S, d)
    return h[:, 0].astype(jnp.float32)


# How the attention core runs (config.model.eeg.attention): "einsum" (default) spells it out as two einsums
# around a float32 softmax; "dot_product" calls jax.nn.dot_product_attention with XLA's implementation;
# "cudnn" with cuDNN's fused kernel (CUDA GPUs, bfloat16/float16 compute only). Same function, same parameters.
ATTENTIONS = ("einsum", "dot_product", "cudnn")
_CUDNN_HEAD_MULTIPLE = 8  # cuDNN's fused attention takes head dims that are multiples of 8 (520 / 10 = 52 is not)


def fused_attention(q: jax.Array, k: jax.Array, v: jax.Array, implementation: str,
                    head_multiple: int = 1) -> jax.Array:
  """softmax(q k^T / sqrt(c)) v by `jax.nn.dot_product_attention`: q, k, v (B, N, H, c) -> (B, N, H, c).

  `head_multiple` zero-pads the head dim c up to a multiple of it (what cuDNN needs): zero q / k columns
  add nothing to the logits and zero v columns are sliced off, so the result is unchanged.
  """
  c = q.shape[-1]
  pad = [(0, 0)] * (q.ndim - 1) + [(0, -c % head_multiple)]
  q, k, v = (jnp.pad(t, pad) for t in (q, k, v))
  out = jax.nn.dot_product_attention(q, k, v, scale=1.0 / math.sqrt(c), implementation=implementation)
  return out[..., :c]


class SelfAttention(nnx.Module):
  """Multi-head self-attention over (B, N, d) with a fused QKV projection; `attention`: see ATTENTIONS."""

  def __init__(self, d_model: int, n_heads: int, *, attention: str = "einsum", dtype: jnp.dtype, rngs: nnx.Rngs):
    if d_model % n_heads:
      raise ConfigError(f"model.eeg: d_model={d_model} is not divisible by n_heads={n_heads}")
    if attention not in ATTENTIONS:
      raise ConfigError(f"model.eeg.attention={attention!r}, expected one of {ATTENTIONS}")
    self.n_heads = n_heads
    self.attention = attention
    self.qkv = nnx.Linear(d_model, 3 * d_model, dtype=dtype, rngs=rngs)
    self.out = nnx.Linear(d_model, d_model, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    """x: (B, N, d) -> (B, N, d) in the compute dtype."""
    b, n, d = x.shape
    q, k, v = jnp.moveaxis(self.qkv(x).reshape(b, n, 3, self.n_heads, d // self.n_heads), 2, 0)
    if self.attention == "einsum":
      # Standard 1/sqrt(head_dim) scaling. The EEG-Conformer reference code divides
      # by sqrt(d_model) instead, which flattens the attention by sqrt(n_heads).
      logits = jnp.einsum("bqhc,bkhc->bhqk", q, k) / math.sqrt(d // self.n_heads)
      weights = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(v.dtype)
      context = jnp.einsum("bhqk,bkhc->bqhc", weights, v)
    elif self.attention == "cudnn":
      context = fused_attention(q, k, v, "cudnn", _CUDNN_HEAD_MULTIPLE)
    else:
      context = fused_attention(q, k, v, "xla")
    return self.out(context.reshape(b, n, d))


class TransformerBlock(nnx.Module):
  """Pre-LN block: x + Drop(MHSA(LN(x))), then x + Drop(FFN(LN(x))); (B, N, d) float32."""

  def __init__(self, d_model: int, n_heads: int, ffn_mult: int, dropout: float, *, attention: str = "einsum",
               dtype: jnp.dtype, rngs: nnx.Rngs):
    self.attn_norm = nnx.LayerNorm(d_model, dtype=jnp.float32, rngs=rngs)
    self.attn = SelfAttention(d_model, n_heads, attention=attention, dtype=dtype, rngs=rngs)
    self.attn_dropout = nnx.Dropout(dropout, rngs=rngs)
    self.ffn_norm = nnx.LayerNorm(d_model, dtype=jnp.float32, rngs=rngs)
    self.ffn_in = nnx.Linear(d_model, ffn_mult * d_model, dtype=dtype, rngs=rngs)
    self.ffn_dropout = nnx.Dropout(dropout, rngs=rngs)
    self.ffn_out = nnx.Linear(ffn_mult * d_model, d_model, dtype=dtype, rngs=rngs)
    self.out_dropout = nnx.Dropout(dropout, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    x = x + self.attn_dropout(self.attn(self.attn_norm(x)))
    # Exact (erf) GELU, as torch.nn.GELU in the reference implementation.
    h = self.ffn_dropout(jax.nn.gelu(self.ffn_in(self.ffn_norm(x)), approximate=False))
    return x + self.out_dropout(self.ffn_out(h))


class EmbeddingHead(nnx.Module):
  """flatten(S * d) -> hidden -> ELU -> Dropout -> E."""

  def __init__(self, in_features: int, hidden: int, embed_dim: int, dropout: float, *, dtype: jnp.dtype,
               rngs: nnx.Rngs):
    self.hidden = nnx.Linear(in_features, hidden, dtype=dtype, rngs=rngs)
    self.dropout = nnx.Dropout(dropout, rngs=rngs)
    self.out = nnx.Linear(hidden, embed_dim, dtype=dtype, rngs=rngs)

  def __call__(self, tokens: jax.Array) -> jax.Array:
    """tokens: (B, S, d) -> (B, E) float32."""
    h = jax.nn.elu(self.hidden(tokens.reshape(tokens.shape[0], -1)))
    return self.out(self.dropout(h)).astype(jnp.float32)


class Conformer(nnx.Module):
  """EEG Conformer: conv stem, L transformer blocks with deep prompts, embedding head.

  Deep prompts (VPT-deep): layer l sees its own P learnable tokens prepended to
  the S signal tokens; its prompt outputs are dropped and the next layer's
  prompts take their place. P = 0 creates no prompt parameters at all.
  """

  def __init__(self, n_channels: int, n_times: int, *, embed_dim: int = 512, n_filters: int = 40,
               temporal_kernel: int = 25, pool_size: int = 75, pool_stride: int = 15, d_model: int = 520,
               n_layers: int = 8, n_heads: int = 10, ffn_mult: int = 4, dropout: float = 0.3,
               n_prompts: int = 4, head_hidden: int = 768, attention: str = "einsum",
               dtype: jnp.dtype = jnp.float32, rngs: nnx.Rngs):
    if n_prompts < 0:
      raise ConfigError(f"model.eeg.n_prompts must be >= 0, got {n_prompts}")
    self.n_channels = n_channels
    self.n_times = n_times
    self.embed_dim = embed_dim
    self.n_prompts = n_prompts
    self.stem = ConvStem(n_channels, n_filters=n_filters, temporal_kernel=temporal_kernel,
                         pool_size=pool_size, pool_stride=pool_stride, d_model=d_model, dropout=dropout,
                         dtype=dtype, rngs=rngs)
    prompt_init = nnx.initializers.normal(_PROMPT_INIT_STD)
    self.prompts = Prompt(prompt_init(rngs.params(), (n_layers, n_prompts, d_model))) if n_prompts else None
    self.blocks = nnx.List([TransformerBlock(d_model, n_heads, ffn_mult, dropout, attention=attention, dtype=dtype,
                                             rngs=rngs) for _ in range(n_layers)])
    self.final_norm = nnx.LayerNorm(d_model, dtype=jnp.float32, rngs=rngs)
    n_seq = n_tokens(n_times, temporal_kernel, pool_size, pool_stride)
    self.head = EmbeddingHead(n_seq * d_model, head_hidden, embed_dim, dropout, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    """x: (B, C, T) EEG (z-scored, any float dtype) -> (B, E) float32 features."""
    if x.ndim != 3 or x.shape[1:] != (self.n_channels, self.n_times):
      raise DataError(f"EEG input has shape {tuple(x.shape)}, expected (batch, {self.n_channels} channels, "
                      f"{self.n_times} samples) as set by data.n_channels / data.n_times")
    tokens = self.stem(x)
    for layer, block in enumerate(self.blocks):
      tokens = block(self._prepend_prompts(tokens, layer))[:, self.n_prompts:]
    return self.head(self.final_norm(tokens))

  def _prepend_prompts(self, tokens: jax.Array, layer: int) -> jax.Array:
    """(B, S, d) -> (B, P + S, d) with this layer's prompt tokens first."""
    if self.prompts is None:
      return tokens
    prompts = jnp.broadcast_to(self.prompts[layer], (tokens.shape[0],) + self.prompts.shape[1:])
    return jnp.concatenate([prompts.astype(tokens.dtype), tokens], axis=1)


def build_conformer(eeg_cfg: ml_collections.ConfigDict, *, n_channels: int, n_times: int, embed_dim: int,
                    dtype: jnp.dtype = jnp.float32, rngs: nnx.Rngs) -> Conformer:
  """A Conformer from `config.model.eeg` and the data shape (C channels, T samples).

  `attention` may be absent (configs stored before it existed): "einsum". "cudnn" needs a CUDA GPU and
  bfloat16 compute (config.model.compute_dtype), else ConfigError.
  """
  attention = eeg_cfg.get("attention", "einsum")
  if attention == "cudnn" and (jax.default_backend() != "gpu" or dtype != jnp.bfloat16):
    raise ConfigError(f"model.eeg.attention='cudnn' needs a CUDA GPU and compute_dtype bfloat16 (here: "
                      f"{jax.default_backend()}, {jnp.dtype(dtype).name}); use 'einsum' or 'dot_product'")
  return Conformer(n_channels, n_times, embed_dim=embed_dim, n_filters=eeg_cfg.n_filters,
                   temporal_kernel=eeg_cfg.temporal_kernel, pool_size=eeg_cfg.pool_size,
                   pool_stride=eeg_cfg.pool_stride, d_model=eeg_cfg.d_model, n_layers=eeg_cfg.n_layers,
                   n_heads=eeg_cfg.n_heads, ffn_mult=eeg_cfg.ffn_mult, dropout=eeg_cfg.dropout,
                   n_prompts=eeg_cfg.n_prompts, head_hidden=eeg_cfg.head_hidden, attention=attention, dtype=dtype,
                   rngs=rngs)
