"""Evaluate a finished stage of a workdir on its own split, another store, or a raw dataset folder.

  report = evaluate_workdir("runs/demo", stage="student", split="test")

The model is the stage's best validation checkpoint (`runs.stage.load`: the
one the training loop scored on the test fold). Predictions go through the
same `runs.inference.evaluate_rows` as in training, so evaluating the run's
test fold reproduces the `test` report in `<stage>/result.json` exactly.

Data (`store` / `raw`, `split`):
  * neither: the run's own store; `split` "test" (default) / "val" / "all".
  * `store`: another prepared store with the same classes and window shape;
    "test" / "val" recompute the run's fold settings on it (meaningful for the
    training store at a new path), "all" (the default) scores every window.
  * `raw` + `dataset`: a raw dataset folder, prepared once with the run's
    preprocessing and label rule into `cache` (default
    `<workdir>/eval_stores/<dataset>-<hash of the folder>`), then as `store`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from jclip_eeg.data import datasets
from jclip_eeg.data.prepare import prepare_store
from jclip_eeg.errors import ConfigError
from jclip_eeg.runs import inference, split as split_lib, stage as stage_lib

SPLITS = ("test", "val", "all")


def default_stage(workdir: str | Path) -> str:
  """"student" when the workdir holds a finished student, else "teacher"."""
  return "student" if stage_lib.is_finished(Path(workdir) / "student") else "teacher"


def stage_dir(workdir: str | Path, role: str) -> Path:
  """`<workdir>/<role>`; ConfigError for an unknown role or a stage that was never trained there."""
  if role not in stage_lib.STAGES:
    raise ConfigError(f"stage {role!r}: expected one of {stage_lib.STAGES}")
  directory = Path(workdir) / role
  if not (directory / stage_lib.CONFIG).is_file():
    raise ConfigError(f"{directory / stage_lib.CONFIG}: missing; no {role} stage trained by scripts/train.py "
                      f"in {workdir}")
  return directory


def raw_cache_dir(workdir: str | Path, raw: str | Path, dataset: str) -> Path:
  """`<workdir>/eval_stores/<dataset>-<10 hex of the raw folder's absolute path>`."""
  digest = hashlib.sha1(str(Path(raw).resolve()).encode()).hexdigest()[:10]
  return Path(workdir) / "eval_stores" / f"{dataset}-{digest}"


def prepare_raw(data: ml_collections.ConfigDict, raw: str | Path, dataset: str, out: str | Path) -> Path:
  """Prepares raw folder `raw` of `dataset` into store `out` (reused when complete) with the run's label rule.

  The run's reader options (`data.options`) apply when `dataset` is the run's dataset; its montage always (the
  model reads its own channels from any dataset's files).
  """
  options = datasets.options_of(data)
  if dataset != data.dataset:
    options = {key: value for key, value in options.items() if key == "montage"}
  prepare_store(dataset, raw, out, options=options, label_rule=data.label_rule,
                progress=jax.process_index() == 0)
  return Path(out)


def rows_to_score(data: ml_collections.ConfigDict, split: str) -> np.ndarray:
  """The windows of `data.store` to score: the run's fold part ("test" / "val") or every window ("all").

  The store's classes and window shape are checked against `data` (DataError naming both when they differ).
  """
  if split not in SPLITS:
    raise ConfigError(f"split {split!r}: expected one of {SPLITS}")
  if split == "all":
    return np.arange(len(split_lib.open_store(data).y), dtype=np.int64)
  fold = split_lib.load_split(data)
  return fold.test if split == "test" else fold.val


def evaluate_workdir(workdir: str | Path, *, stage: str | None = None, store: str | Path | None = None,
                     split: str | None = None, progress: bool = False) -> dict[str, Any]:
  """`classification_report` (+ `loss`) of a finished stage on the chosen windows (module docstring).

  Args:
    workdir: the training run's workdir.
    stage: "teacher" / "student"; default `default_stage(workdir)`.
    store: a prepared store to score instead of the run's own.
    split: "test" / "val" / "all"; default "test" for the run's store, "all" for another.
    progress: show a progress bar while predicting.
  Returns:
    The report plus `workdir`, `stage`, `store`, `split`, `checkpoint_step`.
  """
  stage = stage or default_stage(workdir)
  split = split or ("test" if store is None else "all")
  finished = stage_lib.load(stage_dir(workdir, stage))
  data = finished.config.data
  if store is not None:
    data = ml_collections.ConfigDict(data.to_dict())
    data.update(dict(store=str(store), prepare=False))  # never generate data into a path the user named
  rows = rows_to_score(data, split)
  report = inference.evaluate_rows(finished.predictor(), str(data.store), rows, tuple(data.class_names),
                                   batch_size=finished.config.train.eval_batch_size, progress=progress)
  return {"workdir": str(workdir), "stage": stage, "store": str(data.store), "split": split,
          "checkpoint_step": finished.result["best_step"]} | report
