"""Demo: synthetic CHB-MIT-layout EEG -> teacher -> distilled student -> report, in minutes on a CPU.

  python scripts/train.py --config configs/demo.py [--workdir runs/demo] [--config.train.batch_size=32]

If config.data.store does not exist, synthetic EDFs (12 patients, 2 x 4 min
each, `jclip_eeg.data.synthetic`: per-patient seizure foci, amplitudes and
morphologies, large artefacts) are generated into config.data.root and
prepared with the real CHB-MIT reader and preprocessing. The split is
patient-wise: 2 held-out test patients, 3 validation patients (model
selection), 7 training patients (foci differ between patients, so the models
need several to generalise). The models are tiny but real: a 2-layer
Conformer teacher with the pretrained MiniLM text tower (frozen except its
learnable prompts), then a 1-layer student distilled from it. The learning
rate is 1e-3, not the paper's 1e-5, so a few epochs suffice. The student
stage reads config.student.{model, train, optimizer}.
"""

from __future__ import annotations

import ml_collections

from jclip_eeg import config_lib

_EEG = dict(n_filters=32, d_model=32, n_heads=4, ffn_mult=2, n_prompts=2, head_hidden=64, dropout=0.2)
_EMBED_DIM = 32


def _train(role: str, epochs: int) -> ml_collections.ConfigDict:
  train = config_lib.train_config(role)
  train.update(dict(epochs=epochs, batch_size=64, eval_batch_size=512, log_every_steps=5))
  return train


def _student_model(text: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  model = config_lib.model_config("student")
  model.update(dict(embed_dim=_EMBED_DIM, teacher_embed_dim=_EMBED_DIM, text=text))
  model.eeg.update(dict(_EEG, n_layers=1))
  return model


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg:
    raise ValueError(f"configs/demo.py takes no argument, got {arg!r}")
  config = config_lib.get_config("synthetic", "teacher")
  with config.unlocked():
    config.workdir = "runs/demo"
    config.data.update(dict(
        store="data/demo", root="data/raw/demo", prepare=True, val_balanced=False,
        synthetic=ml_collections.ConfigDict(dict(  # jclip_eeg.data.synthetic.generate arguments
            n_patients=12, recordings_per_patient=2, duration_s=240, seizures_per_recording=(1, 2),
            seizure_duration_s=(20, 40), seed=0))))
    config.data.split.update(dict(by="patient", k=6, val_fraction=0.25))
    config.model.embed_dim = _EMBED_DIM
    config.model.eeg.update(dict(_EEG, n_layers=2))
    config.model.text.update(dict(checkpoint="minilm", prompt_mode="learnable", n_context=4, deep_prompts=False,
                                  trainable="prompts", max_length=32, dropout=0.0))
    config.train = _train("teacher", epochs=12)
    config.optimizer = config_lib.optimizer_config(learning_rate=1e-3)
    config.student = ml_collections.ConfigDict(dict(
        teacher_workdir="", model=_student_model(config.model.text), train=_train("student", epochs=8),
        optimizer=config_lib.optimizer_config(learning_rate=1e-3)))
  return config
