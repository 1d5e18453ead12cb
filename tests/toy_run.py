"""The toy teacher + student run the evaluation, cross-validation, ablation and export tests share.

`toy_config` is configs/demo.py shrunk to 4 synthetic patients x 2 one-minute
recordings, a 1-layer 8-wide Conformer and a 2-layer 16-wide BERT: with
XLA's cheap optimisation settings (the `fast_jax` fixture) a run takes seconds.
`learning_config` is the larger run that learns (about a minute): the checks
that need a model that detects seizures use it (tests/eval/test_learned_run.py,
tests/test_szcore.py).
"""

from __future__ import annotations

from pathlib import Path

import ml_collections
from steps_helpers import write_tiny_bert

from jclip_eeg import config_lib

REPO = Path(__file__).resolve().parents[1]
_EEG = dict(n_filters=4, temporal_kernel=9, pool_size=16, pool_stride=8, d_model=8, n_heads=2, ffn_mult=2,
            n_prompts=1, head_hidden=8, n_layers=1)


def load_config_file(name: str, arg: str | None = None) -> ml_collections.ConfigDict:
  """`get_config(arg)` of configs/<name>.py."""
  return config_lib.load_config_file(REPO / "configs" / f"{name}.py", arg)


def toy_config(tmp: Path, *, teacher_epochs: int = 2, student_epochs: int = 1,
               montage: str | None = None) -> ml_collections.ConfigDict:
  """configs/demo.py at toy size (`montage`: its argument, e.g. "banana18"); the synthetic data and the tiny BERT
  live under `tmp` (shared by runs), the store is `tmp/store` (`tmp/store_<montage>`)."""
  config = load_config_file("demo", montage)
  bert = tmp / "tiny_bert"
  if not bert.is_dir():
    write_tiny_bert(bert)
  with config.unlocked():
    store = "store" if montage is None else f"store_{montage}"
    config.data.update(dict(store=str(tmp / store), root=str(tmp / "raw")))
    config.data.synthetic.update(dict(n_patients=4, duration_s=60, seizures_per_recording=(1, 1),
                                      seizure_duration_s=(10, 14)))
    config.data.split.k = 2
    config.model.embed_dim = 8
    config.model.text.checkpoint = str(bert)
    config.model.text.n_context = 2
    config.student.model.update(dict(embed_dim=8, teacher_embed_dim=8))
    config.student.model.text = config.model.text
    for model in (config.model, config.student.model):
      model.eeg.update(_EEG)
    for train, epochs in ((config.train, teacher_epochs), (config.student.train, student_epochs)):
      train.update(dict(epochs=epochs, batch_size=16, eval_batch_size=64, log_every_steps=2, progress=False,
                        tensorboard=False))
  return config


# The learning run's generator settings beside the defaults (also for unseen recordings of the same data).
LEARNING_SYNTHETIC = dict(seizure_scale=2.0)


def learning_config(tmp: Path, montage: str | None = None) -> ml_collections.ConfigDict:
  """The evaluation tests' toy run with the demo's EEG encoders and embedding size, on more EEG: a run that learns.

  8 patients (4 to train, k = 4) of the demo's generator (per-patient foci, artefacts) with discharges twice
  as large (`LEARNING_SYNTHETIC`): 4 training patients at this size cannot learn the demo's full difficulty.
  Batch 32 and 12 + 6 epochs: with batch 64 and 8 + 4 epochs one training seed in four stayed near chance.
  """
  demo = load_config_file("demo")
  config = toy_config(tmp, teacher_epochs=12, student_epochs=6, montage=montage)
  with config.unlocked():
    config.data.synthetic.update(dict(LEARNING_SYNTHETIC, n_patients=8, recordings_per_patient=2, duration_s=120,
                                      seizures_per_recording=(1, 1), seizure_duration_s=(12, 20)))
    config.data.split.k = 4
    config.model.embed_dim = demo.model.embed_dim
    config.model.eeg.update(demo.model.eeg.to_dict())
    config.student.model.update(dict(embed_dim=demo.student.model.embed_dim, teacher_embed_dim=demo.model.embed_dim))
    config.student.model.eeg.update(demo.student.model.eeg.to_dict())
    for train in (config.train, config.student.train):
      train.update(dict(batch_size=32, eval_batch_size=demo.train.eval_batch_size))
  return config
