"""CHB-MIT teacher, the paper's recipe (IV-C): 8-layer Conformer EEG tower + BERT-LP text tower, CLIP loss + head CE.

23 bipolar channels x 256 samples (1 s at 256 Hz), classes normal / seizure.

  python scripts/prepare_data.py --dataset chbmit --root data/raw/chbmit --out data/chbmit
  python scripts/train.py --config configs/chbmit_teacher.py
  python scripts/train.py --config configs/chbmit_teacher.py --config.data.split.by=patient   # the honest split
"""

from __future__ import annotations

import ml_collections

from jclip_eeg import config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = config_lib.get_config("chbmit", "teacher", arg)  # every field present, locked against typos
  config.workdir = "runs/chbmit_teacher"

  # Data: 1-s windows; a window touching a seizure is seizure; every seizure window + as many background windows
  # redrawn each epoch. Split: the paper's window-wise stratified 5-fold (it leaks, README "Splits").
  config.data.update(dict(store="data/chbmit", root="data/raw/chbmit", label_rule="touch", balanced=True,
                          val_balanced=True))
  config.data.split.update(dict(by="window", k=5, fold=0, val_fraction=0.15))

  # EEG tower: Conformer, d_model 520, 10 heads, FFN 4x, 4 learnable prompt tokens per layer (EEG-LP).
  config.model.eeg.update(dict(n_layers=8, d_model=520, n_heads=10, ffn_mult=4, n_prompts=4, dropout=0.3))
  # Text tower: BERT-LP, 8 CoOp context vectors + deep prompts, fine-tuned. The paper used bert-base-uncased;
  # "minilm" is the offline MiniLM-L6 stand-in (set a local bert-base-uncased folder to match the paper).
  config.model.text.update(dict(checkpoint="minilm", prompt_mode="learnable", n_context=8, deep_prompts=True,
                                trainable="all", dropout=0.2))
  config.model.update(dict(embed_dim=512, prediction="mean"))

  # Training: Adam(W) lr 1e-5, betas (0.9, 0.999), batch 32, 400 epochs, L = 0.5 L_clip + 0.5 L_head.
  config.train.update(dict(epochs=400, batch_size=32, alpha=0.5))
  config.optimizer.update(dict(learning_rate=1e-5, b1=0.9, b2=0.999, weight_decay=1e-4))
  return config
