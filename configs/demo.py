"""Demo: synthetic CHB-MIT-layout EEG -> teacher -> distilled student -> report, in minutes on a CPU.

  python scripts/train.py --config configs/demo.py [--workdir runs/demo] [--config.train.batch_size=32]
  python scripts/train.py --config configs/demo.py:banana18   # SzCORE's double banana (runs/demo_banana18)

If config.data.store does not exist, synthetic EDFs (12 patients, 2 x 4 min
each, `jclip_eeg.data.synthetic`: per-patient seizure foci, amplitudes and
morphologies, large artefacts) are generated into config.data.root and
prepared with the real CHB-MIT reader and preprocessing. The models are tiny
but real, and the learning rate is 1e-3, not the paper's 1e-5, so a few
epochs suffice; the student is distilled right after the teacher, in the
same workdir (config.student: its model, train and optimizer). The argument
names a montage (`banana18`, `average19`; `jclip_eeg.data.montages`): the same
synthetic EDFs, read in those channels, into store data/demo_<montage> and
workdir runs/demo_<montage>.
"""

from __future__ import annotations

import ml_collections

from jclip_eeg import config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = config_lib.get_config("synthetic", "teacher", arg)  # the argument can only name a montage
  name = "demo" if config.data.montage == "native" else f"demo_{config.data.montage}"
  with config.unlocked():
    config.workdir = f"runs/{name}"

    # Data: patient-wise, 6 folds: 2 held-out test patients, 3 validation patients (model selection), 7 to train
    # (the foci differ between patients, so the models need several to generalise).
    config.data.update(dict(
        store=f"data/{name}", root="data/raw/demo", prepare=True, val_balanced=False,
        synthetic=ml_collections.ConfigDict(dict(  # jclip_eeg.data.synthetic.generate arguments
            n_patients=12, recordings_per_patient=2, duration_s=240, seizures_per_recording=(1, 2),
            seizure_duration_s=(20, 40), seed=0))))
    config.data.split.update(dict(by="patient", k=6, val_fraction=0.25))

    # Teacher: a 2-layer, 32-wide Conformer; the pretrained MiniLM, frozen but for 4 learnable context vectors.
    config.model.embed_dim = 32
    config.model.eeg.update(dict(n_layers=2, n_filters=32, d_model=32, n_heads=4, ffn_mult=2, n_prompts=2,
                                 head_hidden=64, dropout=0.2))
    config.model.text.update(dict(checkpoint="minilm", prompt_mode="learnable", n_context=4, deep_prompts=False,
                                  trainable="prompts", max_length=32, dropout=0.0))
    config.train.update(dict(epochs=12, batch_size=64, eval_batch_size=512, log_every_steps=5))
    config.optimizer.learning_rate = 1e-3

    # Student: the paper's derivation (config_lib.paper_student) at demo size, 1 layer, for 8 epochs.
    student = config_lib.paper_student(config)
    student.model.eeg.n_layers = 1
    student.train.epochs = 8
    config.student = ml_collections.ConfigDict(dict(model=student.model, train=student.train,
                                                    optimizer=student.optimizer))
  return config
