"""Finished stages of tiny untrained models, written the way the training loop leaves them (no training).

`stage_config(dataset, role, bert)` is a 1-layer, 8-wide Conformer with the tiny
BERT on `dataset`'s channels and 1/4-s windows; `write_stage(stage_dir, config)`
saves the freshly initialised model as the stage's best checkpoint with its
config.json, class-text features and result.json, so loading, export and
detection run their real code paths (tests/test_export.py, tests/test_szcore.py).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import grain
import jax
import ml_collections

from jclip_eeg import config_lib, sharding
from jclip_eeg.eval.events import PostProcessing
from jclip_eeg.runs import inference, stage as stage_lib
from jclip_eeg.runs.checkpoints import SELECTION_METRIC, Checkpoints
from jclip_eeg.train import loop

EEG = dict(n_filters=4, temporal_kernel=9, pool_size=16, pool_stride=8, d_model=8, n_heads=2, ffn_mult=2,
           n_prompts=1, head_hidden=8, n_layers=1)
N_TIMES = 64  # 1/4-s windows: the program's size and compile time scale with them


def stage_config(dataset: str, role: str, bert: Path) -> ml_collections.ConfigDict:
  """A `dataset` `role` config with a 1-layer, 8-wide Conformer and the tiny BERT."""
  config = config_lib.get_config(dataset, role)
  with config.unlocked():
    config.data.n_times = N_TIMES
    config.model.eeg.update(EEG)
    config.model.embed_dim = 8
    config.model.text.update(dict(checkpoint=str(bert), n_context=2, max_length=32))
    if role == "student":
      config.model.teacher_embed_dim = 8
      config.teacher_workdir = ""  # the teacher is the sibling stage directory
  return config


def write_stage(stage_dir: Path, config: ml_collections.ConfigDict, text_features: jax.Array | None = None,
                detection: PostProcessing = PostProcessing(min_duration_s=3.0)) -> jax.Array:
  """A finished stage as the loop leaves it, holding the freshly initialised model as its best checkpoint;
  returns the class-text features it predicts with (a teacher's own, or the given teacher's)."""
  mesh = sharding.make_mesh(jax.devices()[:1])
  built = loop.build(config, 1, mesh)
  checkpoints = Checkpoints(stage_dir / "checkpoints", async_save=False)
  checkpoints.save(built.state, iter(grain.MapDataset.range(1).to_iter_dataset()), {SELECTION_METRIC: 0.5})
  checkpoints.close()
  weights = (built.state.params, built.state.rest)
  if text_features is None:
    text_features = inference.class_text_features(weights, graphdef=built.graphdef, mesh=mesh)
  stage_lib.save_text_features(stage_dir, text_features)
  (stage_dir / "config.json").write_text(config.to_json())
  (stage_dir / "result.json").write_text(json.dumps(
      {"total_steps": 1, "best_step": 0, "fingerprint": inference.fingerprint(weights),
       "detection": dataclasses.asdict(detection)}))
  return text_features
