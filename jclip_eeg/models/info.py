"""Parameter counts and XLA forward FLOPs of a config's model (scripts/model_info.py prints them as JSON).

Counts: `eeg_encoder` is the Conformer (conv stem, transformer blocks, EEG
prompts, embedding head); `text_encoder` is BERT-LP (BERT and its prompts)
without the projection to the embedding space, `text_encoder_with_projection`
adds it; `total` is every parameter; `trainable` follows
config.model.text.trainable. A student has no text tower: it reuses the
teacher's frozen class-text features, so its text counts and FLOPs are null,
as they are for a teacher with config.model.text.enabled=False.

FLOPs are XLA's cost analysis of the compiled forward pass in eval mode: the
EEG tower (encode_eeg) at `batch` windows divided by the batch, and the text
tower (encode_text over all class sentences) once, as run once per training step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from jclip_eeg.flops import xla_flops
from jclip_eeg.models.clip import CLIPModel, build_model, count_params, trainable_filter
from jclip_eeg.models.params import Prompt


def method_flops(model: nnx.Module, method: str, *args: jax.ShapeDtypeStruct) -> float:
  """XLA FLOPs of `model.<method>(*args)` compiled with the model state as an input."""
  graphdef, state = nnx.split(model)
  return xla_flops(lambda s, *a: getattr(nnx.merge(graphdef, s), method)(*a), state, *args)


def model_info(config: ml_collections.ConfigDict, batch: int,
               tick: Callable[[], Any] = lambda: None) -> dict[str, Any]:
  """The JSON-ready report for `config` (module docstring); `tick()` is called after each slow part."""
  model = build_model(config, rngs=nnx.Rngs(0))
  model.eval()
  tick()
  has_text = isinstance(model, CLIPModel) and model.text is not None
  text = count_params(model.text) if has_text else None
  text_with_projection = text + count_params(model.text_proj) if has_text else None
  total = count_params(model)
  trainable = trainable_filter(config.model)
  text_trainable = nnx.All(trainable, nnx.PathContains("text"))
  n_channels, n_times = config.data.n_channels, config.data.n_times
  eeg = jax.ShapeDtypeStruct((batch, n_channels, n_times), jnp.float32)
  eeg_flops = method_flops(model, "encode_eeg", eeg) / batch
  tick()
  text_flops = method_flops(model, "encode_text") if has_text else None
  tick()
  return {
      "dataset": config.data.dataset,
      "role": config.model.role,
      "input_shape": [n_channels, n_times],
      "n_classes": len(config.data.class_names),
      "compute_dtype": config.model.compute_dtype,
      "params": {
          "eeg_encoder": count_params(model.eeg),
          "eeg_prompts": count_params(model.eeg, Prompt),
          "text_encoder": text,
          "text_encoder_with_projection": text_with_projection,
          "total": total,
          "total_mib_float32": round(total * 4 / 2**20, 2),
      },
      "trainable": {
          "text_encoder": count_params(model, text_trainable) if has_text else None,
          "total": count_params(model, trainable),
      },
      "flops": {
          "eeg_tower_per_sample": eeg_flops,
          "eeg_batch": batch,
          "text_tower_per_step": text_flops,
          "text_sentences": int(model.input_ids.shape[0]) if has_text else None,
      },
  }
