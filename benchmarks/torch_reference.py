"""A PyTorch reference of the DistilCLIP-EEG teacher and student, for parity tests and benchmarks.

Not part of the package. The modules mirror `jclip_eeg.models` one to one:
attribute names equal the NNX attribute names, so an NNX state path maps onto a
torch parameter name mechanically (`load_nnx_state`): "." joins the path, and
the NNX leaf names become torch's (`kernel`/`scale`/`embedding` -> `weight`,
BatchNorm `mean`/`var` -> `running_mean`/`running_var`), with Linear kernels
transposed and Conv kernels moved from (kh, kw, in, out) to (out, in, kh, kw).

Shapes: B batch, C EEG channels, T samples, S conv tokens, P prompts per layer,
d Conformer width, K class sentences, L text length, H BERT width, E embedding.
The EEG signal is laid out as an image (B, 1, C, T) (NCHW), the NNX model's
(B, C, T, 1) (NHWC). Both attentions call `F.scaled_dot_product_attention`, as
idiomatic PyTorch does (Hugging Face's BERT too), so the baseline gets PyTorch's
fused attention kernels where its backends take these shapes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

PROMPT_START = 1  # as jclip_eeg.models.bert: prompts go right after [CLS]


class ConvStem(nn.Module):
  """(B, C, T) -> (B, S, d): temporal conv, spatial conv, BatchNorm, ELU, avg-pool, dropout, 1x1 conv."""

  def __init__(self, n_channels: int, n_filters: int, temporal_kernel: int, pool_size: int, pool_stride: int,
               d_model: int, dropout: float):
    super().__init__()
    self.temporal = nn.Conv2d(1, n_filters, (1, temporal_kernel))
    self.spatial = nn.Conv2d(n_filters, n_filters, (n_channels, 1))
    self.norm = nn.BatchNorm2d(n_filters, momentum=0.1, eps=1e-5)
    self.pool = nn.AvgPool2d((1, pool_size), (1, pool_stride))
    self.dropout = nn.Dropout(dropout)
    self.project = nn.Conv2d(n_filters, d_model, (1, 1))

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    h = self.pool(F.elu(self.norm(self.spatial(self.temporal(x[:, None])))))  # (B, F, 1, S)
    return self.project(self.dropout(h))[:, :, 0].transpose(1, 2)


class SelfAttention(nn.Module):
  """Fused-QKV multi-head self-attention, (B, N, d) -> (B, N, d)."""

  def __init__(self, d_model: int, n_heads: int):
    super().__init__()
    self.n_heads = n_heads
    self.qkv = nn.Linear(d_model, 3 * d_model)
    self.out = nn.Linear(d_model, d_model)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    b, n, d = x.shape
    q, k, v = self.qkv(x).reshape(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
    return self.out(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d))


class TransformerBlock(nn.Module):
  """Pre-LN block with exact GELU, as `jclip_eeg.models.conformer.TransformerBlock`."""

  def __init__(self, d_model: int, n_heads: int, ffn_mult: int, dropout: float):
    super().__init__()
    self.attn_norm = nn.LayerNorm(d_model, eps=1e-6)  # flax's LayerNorm default epsilon
    self.attn = SelfAttention(d_model, n_heads)
    self.attn_dropout = nn.Dropout(dropout)
    self.ffn_norm = nn.LayerNorm(d_model, eps=1e-6)
    self.ffn_in = nn.Linear(d_model, ffn_mult * d_model)
    self.ffn_dropout = nn.Dropout(dropout)
    self.ffn_out = nn.Linear(ffn_mult * d_model, d_model)
    self.out_dropout = nn.Dropout(dropout)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    x = x + self.attn_dropout(self.attn(self.attn_norm(x)))
    return x + self.out_dropout(self.ffn_out(self.ffn_dropout(F.gelu(self.ffn_in(self.ffn_norm(x))))))


class EmbeddingHead(nn.Module):
  """(B, S, d) -> flatten -> hidden -> ELU -> dropout -> (B, E)."""

  def __init__(self, in_features: int, hidden: int, embed_dim: int, dropout: float):
    super().__init__()
    self.hidden = nn.Linear(in_features, hidden)
    self.dropout = nn.Dropout(dropout)
    self.out = nn.Linear(hidden, embed_dim)

  def forward(self, tokens: torch.Tensor) -> torch.Tensor:
    return self.out(self.dropout(F.elu(self.hidden(tokens.flatten(1)))))


class Conformer(nn.Module):
  """EEG Conformer with VPT-deep prompts; arguments as `jclip_eeg.models.conformer.Conformer`.

  Whatever `attention` says, the twin's attention is F.scaled_dot_product_attention (PyTorch's fused path,
  the strongest eager baseline): the argument only mirrors the JAX model's config.
  """

  def __init__(self, n_channels: int, n_times: int, *, embed_dim: int, n_filters: int, temporal_kernel: int,
               pool_size: int, pool_stride: int, d_model: int, n_layers: int, n_heads: int, ffn_mult: int,
               dropout: float, n_prompts: int, head_hidden: int, attention: str = "einsum"):
    del attention
    super().__init__()
    self.embed_dim = embed_dim
    self.n_prompts = n_prompts
    self.stem = ConvStem(n_channels, n_filters, temporal_kernel, pool_size, pool_stride, d_model, dropout)
    self.prompts = nn.Parameter(torch.randn(n_layers, n_prompts, d_model) * 0.02) if n_prompts else None
    self.blocks = nn.ModuleList(TransformerBlock(d_model, n_heads, ffn_mult, dropout) for _ in range(n_layers))
    self.final_norm = nn.LayerNorm(d_model, eps=1e-6)
    n_seq = (n_times - temporal_kernel + 1 - pool_size) // pool_stride + 1
    self.head = EmbeddingHead(n_seq * d_model, head_hidden, embed_dim, dropout)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    """(B, C, T) -> (B, E)."""
    tokens = self.stem(x)
    for layer, block in enumerate(self.blocks):
      if self.prompts is not None:
        prompts = self.prompts[layer].expand(tokens.shape[0], -1, -1)
        tokens = torch.cat([prompts, tokens], dim=1)
      tokens = block(tokens)[:, self.n_prompts:]
    return self.head(self.final_norm(tokens))


def _insert_prompts(h: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
  """(K, L, H) with positions [1, 1 + M) replaced by prompts (M, H)."""
  m = prompts.shape[0]
  return torch.cat([h[:, :PROMPT_START], prompts.expand(h.shape[0], -1, -1), h[:, PROMPT_START + m:]], dim=1)


class BertEmbeddings(nn.Module):

  def __init__(self, cfg):
    super().__init__()
    self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
    self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
    self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
    self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)  # pylint: disable=invalid-name
    self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

  def forward(self, input_ids: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
    words = self.word_embeddings(input_ids)
    if context is not None:
      words = _insert_prompts(words, context)
    positions = self.position_embeddings(torch.arange(input_ids.shape[1], device=input_ids.device))[None]
    h = words + positions + self.token_type_embeddings(torch.zeros_like(input_ids))
    return self.dropout(self.LayerNorm(h))


class BertSelfAttention(nn.Module):

  def __init__(self, cfg):
    super().__init__()
    self.num_heads = cfg.num_attention_heads
    self.query, self.key, self.value = (nn.Linear(cfg.hidden_size, cfg.hidden_size) for _ in range(3))
    self.dropout_p = cfg.attention_probs_dropout_prob

  def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    k_, length, d = h.shape
    q, k, v = (proj(h).reshape(k_, length, self.num_heads, -1).transpose(1, 2)
               for proj in (self.query, self.key, self.value))
    context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :].bool(),
                                             dropout_p=self.dropout_p if self.training else 0.0)
    return context.transpose(1, 2).reshape(k_, length, d)


class BertResidualOutput(nn.Module):

  def __init__(self, din: int, cfg):
    super().__init__()
    self.dense = nn.Linear(din, cfg.hidden_size)
    self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)  # pylint: disable=invalid-name
    self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

  def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class BertAttention(nn.Module):

  def __init__(self, cfg):
    super().__init__()
    self.self = BertSelfAttention(cfg)
    self.output = BertResidualOutput(cfg.hidden_size, cfg)

  def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return self.output(self.self(h, mask), h)


class BertIntermediate(nn.Module):

  def __init__(self, cfg):
    super().__init__()
    if cfg.hidden_act != "gelu":
      raise ValueError(f"torch reference supports hidden_act='gelu' only, got {cfg.hidden_act!r}")
    self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)

  def forward(self, h: torch.Tensor) -> torch.Tensor:
    return F.gelu(self.dense(h))


class BertLayer(nn.Module):

  def __init__(self, cfg):
    super().__init__()
    self.attention = BertAttention(cfg)
    self.intermediate = BertIntermediate(cfg)
    self.output = BertResidualOutput(cfg.intermediate_size, cfg)

  def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    a = self.attention(h, mask)
    return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):

  def __init__(self, cfg):
    super().__init__()
    self.layer = nn.ModuleList(BertLayer(cfg) for _ in range(cfg.num_hidden_layers))


class BertModel(nn.Module):
  """Post-LN BERT without pooler; `cfg` is a `jclip_eeg.models.bert.BertConfig`."""

  def __init__(self, cfg):
    super().__init__()
    self.embeddings = BertEmbeddings(cfg)
    self.encoder = BertEncoder(cfg)

  def forward(self, input_ids: torch.Tensor, mask: torch.Tensor, context: torch.Tensor | None,
              deep_context: torch.Tensor | None) -> torch.Tensor:
    """(K, L) ids and mask -> (K, L, H) last hidden states."""
    h = self.embeddings(input_ids, context)
    for i, layer in enumerate(self.encoder.layer):
      if deep_context is not None and i > 0:
        h = _insert_prompts(h, deep_context[i - 1])
      h = layer(h, mask)
    return h


class TextEncoder(nn.Module):
  """BERT-LP: CoOp context + deep prompts, mean or [CLS] pooling -> (K, H)."""

  def __init__(self, cfg, *, n_context: int, deep_prompts: bool, pooling: str):
    super().__init__()
    self.pooling = pooling
    self.bert = BertModel(cfg)
    self.context = nn.Parameter(torch.zeros(n_context, cfg.hidden_size)) if n_context else None
    deep_layers = cfg.num_hidden_layers - 1
    use_deep = n_context and deep_prompts and deep_layers > 0
    self.deep_context = nn.Parameter(torch.zeros(deep_layers, n_context, cfg.hidden_size)) if use_deep else None

  def forward(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    h = self.bert(input_ids, mask, self.context, self.deep_context)
    if self.pooling == "cls":
      return h[:, 0]
    weights = mask[..., None].to(h.dtype)
    return (h * weights).sum(1) / weights.sum(1)


class ClipHead(nn.Module):
  """log sigma (capped exp) and the linear classifier; returns the outputs dict of `jclip_eeg.models.clip`."""

  def __init__(self, embed_dim: int, n_classes: int, logit_scale_max: float):
    super().__init__()
    self.log_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    self.logit_scale_max = logit_scale_max
    self.classifier = nn.Linear(embed_dim, n_classes)

  def forward(self, f_eeg: torch.Tensor, text_features: torch.Tensor) -> dict[str, torch.Tensor]:
    v = l2_normalize(f_eeg)
    scale = torch.clamp(self.log_scale.exp(), max=self.logit_scale_max)
    return dict(clip_logits=scale * v @ text_features.T, head_logits=self.classifier(f_eeg),
                eeg_features=v, text_features=text_features, logit_scale=scale)


def l2_normalize(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
  return x / x.norm(dim=-1, keepdim=True).clamp_min(eps)


class CLIPModel(nn.Module):
  """Teacher; the tokenised class sentences are buffers copied from the NNX model by `load_nnx_state`."""

  def __init__(self, eeg: Conformer, text: TextEncoder, hidden_size: int, n_classes: int, n_sentences: int,
               max_length: int, logit_scale_max: float):
    super().__init__()
    self.eeg = eeg
    self.text = text
    self.text_proj = nn.Linear(hidden_size, eeg.embed_dim)
    self.register_buffer("input_ids", torch.zeros(n_sentences, max_length, dtype=torch.long))
    self.register_buffer("attention_mask", torch.zeros(n_sentences, max_length, dtype=torch.long))
    self.register_buffer("class_weights", torch.zeros(n_classes, n_sentences))
    self.clip_head = ClipHead(eeg.embed_dim, n_classes, logit_scale_max)

  def encode_text(self) -> torch.Tensor:
    sentences = l2_normalize(self.text_proj(self.text(self.input_ids, self.attention_mask)))
    return l2_normalize(self.class_weights @ sentences)

  def forward(self, x: torch.Tensor, text_features: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """x (B, C, T); `text_features` (n_classes, E) skips the text tower (frozen teacher)."""
    return self.clip_head(self.eeg(x), self.encode_text() if text_features is None else text_features)


class StudentModel(nn.Module):

  def __init__(self, eeg: Conformer, n_classes: int, teacher_embed_dim: int, logit_scale_max: float):
    super().__init__()
    self.eeg = eeg
    self.proj = nn.Linear(eeg.embed_dim, teacher_embed_dim)
    self.clip_head = ClipHead(teacher_embed_dim, n_classes, logit_scale_max)

  def forward(self, x: torch.Tensor, text_features: torch.Tensor) -> dict[str, torch.Tensor]:
    return self.clip_head(self.proj(self.eeg(x)), text_features)


def build_model(config, n_sentences: int) -> CLIPModel | StudentModel:
  """The torch twin of `jclip_eeg.models.build_model(config)` (random weights: load them with `load_nnx_state`).

  `n_sentences` is K, the number of tokenised class sentences (teacher only).
  """
  from jclip_eeg.models import bert as jbert  # pylint: disable=import-outside-toplevel
  from jclip_eeg.models import bert_weights  # pylint: disable=import-outside-toplevel
  model_cfg, data_cfg = config.model, config.data
  eeg = Conformer(data_cfg.n_channels, data_cfg.n_times, embed_dim=model_cfg.embed_dim, **model_cfg.eeg)
  n_classes = len(data_cfg.class_names)
  if model_cfg.role == "student":
    return StudentModel(eeg, n_classes, model_cfg.teacher_embed_dim, model_cfg.logit_scale_max)
  text_cfg = model_cfg.text
  folder = bert_weights.resolve_checkpoint(text_cfg.checkpoint)
  bert_cfg = jbert.ARCHS[text_cfg.arch] if folder is None else jbert.BertConfig.from_json(folder / "config.json")
  n_context = text_cfg.n_context if text_cfg.prompt_mode == "learnable" else 0
  text = TextEncoder(bert_cfg, n_context=n_context, deep_prompts=text_cfg.deep_prompts, pooling=text_cfg.pooling)
  return CLIPModel(eeg, text, bert_cfg.hidden_size, n_classes, n_sentences, text_cfg.max_length,
                   model_cfg.logit_scale_max)


_LEAF_NAMES = {"kernel": "weight", "scale": "weight", "embedding": "weight", "mean": "running_mean",
               "var": "running_var"}


def torch_name(path: tuple) -> str:
  """NNX state path -> torch state_dict key, e.g. ('eeg', 'blocks', 0, 'attn', 'qkv', 'kernel')."""
  *scope, leaf = (str(p) for p in path)
  return ".".join(scope + [_LEAF_NAMES.get(leaf, leaf)])


def torch_layout(array: np.ndarray, leaf: str) -> np.ndarray:
  """An NNX array in torch's layout: Linear kernels transposed, Conv kernels (kh, kw, in, out) -> (out, in, kh, kw)."""
  if leaf == "kernel":
    return array.T if array.ndim == 2 else array.transpose(3, 2, 0, 1)
  return array


def load_nnx_state(torch_model: nn.Module, flat_state: Mapping[tuple, np.ndarray]) -> list[str]:
  """Copies NNX arrays into `torch_model`; returns the NNX paths not used (RNG state, BatchNorm counters).

  Args:
    flat_state: {NNX path tuple: numpy array}, e.g. from `nnx_arrays(model)`.
  Raises:
    KeyError: a torch parameter or buffer has no NNX counterpart.
    ValueError: a shape differs.
  """
  targets = dict(torch_model.state_dict())
  unused, loaded = [], set()
  for path, array in flat_state.items():
    name = torch_name(path)
    if name not in targets:
      unused.append("/".join(map(str, path)))
      continue
    value = torch.from_numpy(np.array(torch_layout(np.asarray(array), str(path[-1])), order="C"))
    if tuple(value.shape) != tuple(targets[name].shape):
      raise ValueError(f"{name}: NNX shape {tuple(value.shape)} != torch shape {tuple(targets[name].shape)}")
    targets[name].copy_(value.to(targets[name].dtype))
    loaded.add(name)
  missing = [n for n in targets if n not in loaded and not n.endswith("num_batches_tracked")]
  if missing:
    raise KeyError(f"torch tensors without an NNX value: {missing}")
  return unused


def nnx_arrays(model) -> dict[tuple, np.ndarray]:
  """{path: numpy array} of every array variable of an NNX model (key arrays excluded)."""
  import jax  # pylint: disable=import-outside-toplevel
  from flax import nnx  # pylint: disable=import-outside-toplevel
  flat = nnx.to_flat_state(nnx.state(model))
  return {path: np.asarray(var[...]) for path, var in flat
          if not jax.dtypes.issubdtype(var[...].dtype, jax.dtypes.prng_key)}


# ---- losses: paper Algorithms 1 and 2, as jclip_eeg.train.losses (no padding mask) ----

def text_to_eeg_cross_entropy(text_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
  """(C, B) logits; mean over present classes of CE against uniform targets over that class's windows."""
  onehot = labels[None, :] == torch.arange(text_logits.shape[0], device=labels.device)[:, None]
  counts = onehot.sum(1)
  log_probs = torch.log_softmax(text_logits, dim=1)
  per_class = -(torch.where(onehot, log_probs, 0.0).sum(1) / counts.clamp_min(1))
  present = counts > 0
  return torch.where(present, per_class, 0.0).sum() / present.sum().clamp_min(1)


def clip_loss(out: Mapping[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
  logits = out["logit_scale"] * out["eeg_features"] @ out["text_features"].T
  return 0.5 * (F.cross_entropy(logits, labels) + text_to_eeg_cross_entropy(logits.T, labels))


def prediction_logits(out: Mapping[str, torch.Tensor], mode: str) -> torch.Tensor:
  return dict(clip=out["clip_logits"], head=out["head_logits"],
              mean=0.5 * (out["clip_logits"] + out["head_logits"]))[mode]


def teacher_loss(out: Mapping[str, torch.Tensor], labels: torch.Tensor, alpha: float) -> torch.Tensor:
  return alpha * clip_loss(out, labels) + (1 - alpha) * F.cross_entropy(out["head_logits"], labels)


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                      alpha: float, temperature: float) -> torch.Tensor:
  t = temperature
  kl = F.kl_div(torch.log_softmax(student_logits / t, -1), torch.log_softmax(teacher_logits.detach() / t, -1),
                reduction="batchmean", log_target=True)
  return alpha * F.cross_entropy(student_logits, labels) + (1 - alpha) * t * t * kl
