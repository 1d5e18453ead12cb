"""Demo: synthetic CHB-MIT-layout EEG -> teacher -> distilled student -> report, in minutes on a CPU.

  python scripts/train.py --config configs/demo.py [--workdir runs/demo] [--config.train.batch_size=32]

If config.data.store does not exist, synthetic EDFs (6 patients, 2 x 10 min
each, `jclip_eeg.data.synthetic`) are generated into config.data.root and
prepared with the real CHB-MIT reader and preprocessing. The split is
patient-wise: 2 held-out test patients, 1 validation patient (model
selection), 3 training patients. The models are tiny but real: a 2-layer
Conformer teacher with the pretrained MiniLM text tower (frozen except its
learnable prompts), then a 1-layer student distilled from it. The learning
rate is 1e-3, not the paper's 1e-5, so a few epochs suffice.
"""

from __future__ import annotations

import ml_collections

from jclip_eeg import config_lib

_EEG = dict(n_filters=16, d_model=32, n_heads=4, ffn_mult=2, n_prompts=2, head_hidden=64, dropout=0.2)
_EMBED_DIM = 32


# TEMPORARY until config_lib gains these sections (models_done).
def _optimizer() -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, grad_clip_norm=0.0,
      schedule="constant", warmup_steps=0))


def _train(role: str, epochs: int) -> ml_collections.ConfigDict:
  train = ml_collections.ConfigDict(dict(
      seed=0, batch_size=64, eval_batch_size=512, epochs=epochs, alpha=0.5,
      log_every_steps=5, eval_every_steps=0, keep_checkpoints=3, progress=True, tensorboard=True))
  if role == "student":
    train.temperature = 1.0
  return train


def _data_run() -> dict:
  return dict(store="data/demo", root="data/raw/demo", options=ml_collections.ConfigDict(), prepare=True,
              label_rule="touch", balanced=True, val_balanced=False, worker_count=0, prefetch=2,
              split=ml_collections.ConfigDict(dict(by="patient", k=3, fold=0, val_fraction=0.25, seed=0)))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg:
    raise ValueError(f"configs/demo.py takes no argument, got {arg!r}")
  config = config_lib.get_config("synthetic", "teacher")
  with config.unlocked():
    config.workdir = "runs/demo"
    config.data.update(dict(
        _data_run(),
        synthetic=ml_collections.ConfigDict(dict(n_patients=6, recordings_per_patient=2, duration_s=600, seed=0))))
    config.model.embed_dim = _EMBED_DIM
    config.model.eeg.update(dict(_EEG, n_layers=2))
    config.model.text.update(dict(checkpoint="minilm", prompt_mode="learnable", n_context=4, deep_prompts=False,
                                  trainable="prompts", max_length=32, dropout=0.0))
    config.train = _train("teacher", epochs=8)
    config.optimizer = _optimizer()
    student_model = config_lib.model_config("student")
    student_model.embed_dim = _EMBED_DIM
    student_model.teacher_embed_dim = _EMBED_DIM
    student_model.eeg.update(dict(_EEG, n_layers=1))
    student_model.text = config.model.text
    config.student = ml_collections.ConfigDict(dict(
        teacher_workdir="", model=student_model, train=_train("student", epochs=6), optimizer=_optimizer()))
  return config
