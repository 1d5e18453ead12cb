"""Evaluate a trained stage of a workdir on a store, a raw dataset folder, or the run's own split.

  report = evaluate_workdir("runs/demo", stage="student", split="test")

The model is the stage's best validation checkpoint (the one the training
loop scored on the test fold), rebuilt from `<workdir>/<stage>/config.json`;
a student takes its frozen class-text features from its teacher's best
checkpoint, as in training. Predictions go through the loop's own
`loop.evaluate`, so evaluating the run's test fold reproduces the
`test` report in `<stage>/result.json` exactly.

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

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from jclip_eeg.data.prepare import prepare_store
from jclip_eeg.errors import ConfigError
from jclip_eeg.train import loop, sharding, steps

SPLITS = ("test", "val", "all")


@dataclasses.dataclass(frozen=True)
class Stage:
  """A finished training stage at its best validation checkpoint, ready to predict.

  Attributes:
    role: "teacher" or "student".
    config: the stage's config (`<stage>/config.json`).
    result: its `result.json` (best_step, test report, ...).
    state: the TrainState restored at `result["best_step"]`.
    predict_fn: `predict_fn(state, x (B, C, T))` -> (B, n_classes) probabilities.
  """
  role: str
  config: ml_collections.ConfigDict
  result: dict[str, Any]
  state: steps.TrainState
  predict_fn: steps.BoundStep


def default_stage(workdir: str | Path) -> str:
  """"student" when the workdir holds a finished student, else "teacher"."""
  return "student" if (Path(workdir) / "student" / "result.json").is_file() else "teacher"


def load_stage_config(workdir: str | Path, role: str) -> ml_collections.ConfigDict:
  """The config of stage `role` of `workdir` (`<workdir>/<role>/config.json`)."""
  if role not in loop.STAGES:
    raise ConfigError(f"stage {role!r}: expected one of {loop.STAGES}")
  path = Path(workdir) / role / "config.json"
  if not path.is_file():
    raise ConfigError(f"{path}: missing; no {role} stage trained by scripts/train.py in {workdir}")
  return ml_collections.ConfigDict(json.loads(path.read_text()))


def load_stage(workdir: str | Path, role: str, mesh: jax.sharding.Mesh) -> Stage:
  """The best checkpoint of stage `role` ("teacher" | "student") of `workdir`.

  Raises:
    ConfigError: unknown role, or the stage (or a student's teacher) is not finished.
  """
  load_stage_config(workdir, role)  # a clear error for an unknown or untrained stage
  stage = loop.load_stage(Path(workdir) / role, mesh)
  predict_fn = steps.make_predict_fn(stage.graphdef, stage.config, mesh, stage.text_features)
  return Stage(role, stage.config, stage.result, stage.state, predict_fn)


def raw_cache_dir(workdir: str | Path, raw: str | Path, dataset: str) -> Path:
  """`<workdir>/eval_stores/<dataset>-<10 hex of the raw folder's absolute path>`."""
  digest = hashlib.sha1(str(Path(raw).resolve()).encode()).hexdigest()[:10]
  return Path(workdir) / "eval_stores" / f"{dataset}-{digest}"


def prepare_raw(data: ml_collections.ConfigDict, raw: str | Path, dataset: str, out: str | Path) -> Path:
  """Prepares raw folder `raw` of `dataset` into store `out` (reused when complete) with the run's label rule.

  The run's reader options (`data.options`) apply when `dataset` is the run's dataset.
  """
  options = dict(data.get("options") or {}) if dataset == data.dataset else {}
  prepare_store(dataset, raw, out, options=options, label_rule=data.label_rule,
                progress=loop.is_main_process())
  return Path(out)


def rows_of(data: ml_collections.ConfigDict, split: str) -> loop.DataSplit:
  """The windows of `data.store` to score: the run's fold part ("test" / "val") or every window ("all").

  The returned split's `test` holds the rows; the store's classes and window
  shape are checked against `data` (DataError naming both when they differ).
  """
  if split not in SPLITS:
    raise ConfigError(f"split {split!r}: expected one of {SPLITS}")
  if split != "all":
    fold = loop.load_split(data)
    return dataclasses.replace(fold, test=fold.test if split == "test" else fold.val)
  store = loop.open_store(data)
  empty = np.zeros(0, np.int64)
  rows = np.arange(len(store.y), dtype=np.int64)
  return loop.DataSplit(str(data.store), store.class_names, empty, empty, rows,
                        {"store": str(data.store), "split": "all"})


def evaluate_workdir(workdir: str | Path, *, stage: str | None = None, store: str | Path | None = None,
                     split: str | None = None) -> dict[str, Any]:
  """`classification_report` (+ `loss`) of a finished stage on the chosen windows (module docstring).

  Args:
    workdir: the training run's workdir.
    stage: "teacher" / "student"; default `default_stage(workdir)`.
    store: a prepared store to score instead of the run's own.
    split: "test" / "val" / "all"; default "test" for the run's store, "all" for another.
  Returns:
    The report plus `workdir`, `stage`, `store`, `split`, `checkpoint_step`.
  """
  stage = stage or default_stage(workdir)
  split = split or ("test" if store is None else "all")
  mesh = sharding.make_mesh()
  loaded = load_stage(workdir, stage, mesh)
  data = loaded.config.data
  if store is not None:
    data = ml_collections.ConfigDict(data.to_dict())
    data.update(dict(store=str(store), prepare=False))  # never generate data into a path the user named
  part = rows_of(data, split)
  report = loop.evaluate(loaded.predict_fn, loaded.state, part, part.test, loaded.config, mesh)
  return {"workdir": str(workdir), "stage": stage, "store": str(data.store), "split": split,
          "checkpoint_step": loaded.result["best_step"]} | report
