"""The data of a run: its store (`config.data.store`) and the fold it trains, selects and tests on.

`load_split(config.data)` opens the store (preparing it only for the synthetic
demo data, `config.data.prepare`) and cuts fold `split.fold` of `split.k`, or,
when `split.test_groups` names recordings or patients, the fold that tests on
exactly those: train / val (model selection) / test (scored once, at the end). Both the
training loop and everything that reads a finished run back use it, so a run
is always scored on exactly the windows it was trained and tested on.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from jclip_eeg.data import datasets, loader, synthetic
from jclip_eeg.data.prepare import existing_store, prepare_store
from jclip_eeg.data.splits import check_settings as check_fold_settings, make_folds, named_fold
from jclip_eeg.data.store import EpochStore
from jclip_eeg.errors import ConfigError, DataError

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DataSplit:
  """The store and the windows of the chosen fold: train / val (model selection) / test (once, at the end).

  Attributes:
    store: path of the EpochStore.
    class_names: the store's classes.
    train, val, test: sorted int64 store rows.
    description: JSON-ready summary (split settings, windows per class, patients of each part).
  """
  store: str
  class_names: tuple[str, ...]
  train: np.ndarray
  val: np.ndarray
  test: np.ndarray
  description: dict[str, Any]


def prepare_command(data: ml_collections.ConfigDict) -> str:
  """The scripts/prepare_data.py command that prepares the store config.data names."""
  options = "".join(f" --option {key}={_option_text(value)}" for key, value in datasets.options_of(data).items())
  return f"python scripts/prepare_data.py --dataset {data.dataset} --root {data.root} --out {data.store}{options}"


def _option_text(value: Any) -> str:
  return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def missing_store_message(data: ml_collections.ConfigDict) -> str:
  """What to download and which command prepares the store named by config.data."""
  raw = "" if Path(data.root).is_dir() else (
      f"The raw data is not at config.data.root={data.root} either; download "
      f"{datasets.get(data.dataset).download} there (or set --config.data.root). ")
  return (f"config.data.store={data.store}: no prepared store. {raw}Prepare it with `{prepare_command(data)}`, "
          "or point --config.data.store at an existing store.")


def open_store(data: ml_collections.ConfigDict) -> EpochStore:
  """The store of config.data; prepared here only when `data.prepare` (the synthetic demo data).

  Raises:
    DataError: the store is missing (the message says how to get it) or does
      not match config.data's classes, window shape and channels (its montage).
  """
  store = existing_store(data.store)
  if store is None:
    if not data.get("prepare", False):
      raise DataError(missing_store_message(data))
    store = _prepare_synthetic(data)
  expected = (tuple(data.class_names), data.n_channels, data.n_times)
  found = (store.class_names, *store.x.shape[1:])
  if found != expected:
    raise DataError(f"{data.store}: store has classes {found[0]} and windows {found[1:]} (channels, samples); "
                    f"the config expects {expected[0]} and {expected[1:]}: prepare it for this config")
  _check_montage(store, data)
  return store


def _check_montage(store: EpochStore, data: ml_collections.ConfigDict) -> None:
  """DataError when a prepared store was read in another montage than config.data's (hand-made stores, which
  record no reader, pass)."""
  if "options" not in store.metadata:
    return
  prepared = datasets.get(store.metadata["dataset"], **store.metadata["options"]).montage
  wanted = datasets.get(data.dataset, **datasets.options_of(data)).montage
  if prepared != wanted:
    raise DataError(f"{data.store}: store prepared in montage {prepared}, but config.data.montage is {wanted}: "
                    f"prepare a store in {wanted} ({prepare_command(data)}) or set --config.data.store")


def _prepare_synthetic(data: ml_collections.ConfigDict) -> EpochStore:
  """Generates synthetic EDFs into data.root if it has none, then prepares data.store from them."""
  if data.dataset != "synthetic":
    raise ConfigError(f"config.data.prepare=True only works for the synthetic dataset, not {data.dataset!r}")
  root = Path(data.root)
  if not (root / synthetic.MANIFEST).is_file():
    _log.info("generating synthetic EEG (CHB-MIT layout) in %s", root)
    synthetic.generate(root, **dict(data.get("synthetic") or {}))
  return prepare_store("synthetic", root, data.store, options=datasets.options_of(data), label_rule=data.label_rule,
                       progress=jax.process_index() == 0)


def _check_parts(parts: Mapping[str, np.ndarray], y: np.ndarray, class_names: tuple[str, ...],
                 where: str) -> None:
  """DataError for an empty part or a validation/test part with one class; a warning for a missing class."""
  for name, rows in parts.items():
    if rows.size == 0:
      raise DataError(f"{where}: the {name} part is empty; use fewer folds or a larger val_fraction")
    present = set(np.unique(y[rows]).tolist())
    missing = [c for k, c in enumerate(class_names) if k not in present]
    if name != "train" and len(present) < 2:
      raise DataError(f"{where}: the {name} part holds only class {class_names[present.pop()]!r}, so "
                      "detection cannot be scored; use fewer folds or another split")
    if missing:
      warnings.warn(f"{where}: no {name} window of class(es) {missing}; its scores cover the other classes",
                    stacklevel=3)


def check_split_settings(split: ml_collections.ConfigDict) -> None:
  """ConfigError for split settings that cannot cut a fold (checked before anything is written)."""
  try:
    check_fold_settings(split.by, split.k, split.val_fraction)
  except ConfigError as error:
    raise ConfigError(f"config.data.split: {error}") from None
  if split.val_fraction <= 0:
    raise ConfigError(f"config.data.split.val_fraction={split.val_fraction}: model selection needs a "
                      "validation part (> 0)")
  if not split.get("test_groups") and not 0 <= split.fold < split.k:
    raise ConfigError(f"config.data.split.fold={split.fold} must be in [0, k={split.k})")


def load_split(data: ml_collections.ConfigDict) -> DataSplit:
  """Opens (or prepares) the store and cuts fold `data.split.fold` of `data.split.k` (or the named test groups).

  With `data.val_balanced` the validation part keeps every seizure window and
  an equally large fixed draw of background windows (cheap model selection on
  large sets); the test part is always the whole fold.
  """
  split = data.split
  check_split_settings(split)
  store = open_store(data)
  if split.get("test_groups"):
    fold = named_fold(store, split.by, tuple(split.test_groups), seed=split.seed, val_fraction=split.val_fraction)
    where = f"{data.store}, test {split.by}s {', '.join(split.test_groups)}"
  else:
    fold = make_folds(store, by=split.by, k=split.k, seed=split.seed, val_fraction=split.val_fraction)[split.fold]
    where = f"{data.store}, {split.by}-wise fold {split.fold} of {split.k}"
  y = np.asarray(store.y)
  val = fold.val
  if data.val_balanced and val.size:
    val = np.sort(loader.epoch_order(val, y[val], seed=split.seed, epoch=0, balanced=True))
  parts = {"train": fold.train, "val": val, "test": fold.test}
  _check_parts(parts, y, store.class_names, where)
  description = {"store": str(data.store), "dataset": data.dataset, "split": split.to_dict(),
                 "val_balanced": data.val_balanced}
  for name, rows in parts.items():
    counts = np.bincount(y[rows], minlength=len(store.class_names)).tolist()
    description[name] = {"windows": int(rows.size), "per_class": dict(zip(store.class_names, counts)),
                         "patients": sorted(set(store.patient[rows].tolist()))}
  return DataSplit(str(data.store), store.class_names, fold.train, val, fold.test, description)


def data_identity(data: ml_collections.ConfigDict) -> dict[str, Any]:
  """The config.data fields that decide which windows are train / val / test (JSON types)."""
  plain = json.loads(data.to_json())
  return {k: plain[k] for k in ("dataset", "store", "split", "class_names", "val_balanced")}
