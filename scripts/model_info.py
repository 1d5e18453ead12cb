"""Parameter counts and XLA forward FLOPs of a config's model, printed as JSON.

  python scripts/model_info.py --config configs/chbmit_teacher.py [--config.model.eeg.n_layers=4 ...]

Counts: `eeg_encoder` is the Conformer (conv stem, transformer blocks, EEG
prompts, embedding head); `text_encoder` is BERT-LP (BERT and its prompts)
without the projection to the embedding space, `text_encoder_with_projection`
adds it; `total` is every parameter; `trainable` follows
config.model.text.trainable. A student has no text tower: it reuses the
teacher's frozen class-text features, so its text counts and FLOPs are null,
as they are for a teacher with config.model.text.enabled=False.

FLOPs are XLA's cost analysis of the compiled forward pass in eval mode: the
EEG tower (encode_eeg) at --batch windows divided by the batch, and the text
tower (encode_text over all class sentences) once, as run once per training step.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import ml_collections
from absl import app, flags
from flax import nnx
from ml_collections import config_flags

from jclip_eeg.models import CLIPModel, Prompt, build_model, count_params, trainable_filter

_CONFIG = config_flags.DEFINE_config_file("config", None, "Model config file (configs/<dataset>_<role>.py).",
                                          lock_config=True)
_BATCH = flags.DEFINE_integer("batch", 8, "EEG windows per compiled forward pass for the FLOP count.")
flags.mark_flags_as_required(["config"])


def xla_flops(fn, *args) -> float:
  """FLOPs of jit(fn)(*args) from XLA's cost analysis of the compiled program."""
  cost = jax.jit(fn).lower(*args).compile().cost_analysis()
  if isinstance(cost, (list, tuple)):  # older jax returns one dict per device program
    cost = cost[0]
  return float(cost["flops"])


def method_flops(model: nnx.Module, method: str, *args: jax.ShapeDtypeStruct) -> float:
  """XLA FLOPs of `model.<method>(*args)` compiled with the model state as an input."""
  graphdef, state = nnx.split(model)
  return xla_flops(lambda s, *a: getattr(nnx.merge(graphdef, s), method)(*a), state, *args)


def model_info(config: ml_collections.ConfigDict, batch: int) -> dict:
  """The JSON-ready report for `config` (see module docstring)."""
  model = build_model(config, rngs=nnx.Rngs(0))
  model.eval()
  has_text = isinstance(model, CLIPModel) and model.text is not None
  text = count_params(model.text) if has_text else None
  text_with_projection = text + count_params(model.text_proj) if has_text else None
  total = count_params(model)
  trainable = trainable_filter(config.model)
  text_trainable = nnx.All(trainable, nnx.PathContains("text"))
  n_channels, n_times = config.data.n_channels, config.data.n_times
  eeg = jax.ShapeDtypeStruct((batch, n_channels, n_times), jnp.float32)
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
          "eeg_tower_per_sample": method_flops(model, "encode_eeg", eeg) / batch,
          "eeg_batch": batch,
          "text_tower_per_step": method_flops(model, "encode_text") if has_text else None,
          "text_sentences": int(model.input_ids.shape[0]) if has_text else None,
      },
  }


def main(argv: list[str]) -> None:
  del argv
  print(json.dumps(model_info(_CONFIG.value, _BATCH.value), indent=2))


if __name__ == "__main__":
  app.run(main)
