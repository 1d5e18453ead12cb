"""Cross-validation folds over a store: window-, recording- or patient-wise.

`make_folds(store, by=..., k=5)` returns k `Fold`s of int index arrays into the
store's windows. The k test parts partition the windows; each fold's
validation part (for model selection) is carved from its training folds,
never from the test fold.

* by="window": `StratifiedKFold` over windows, the paper's protocol (IV-C).
  Windows overlap inside seizures and neighbouring windows of one recording
  are strongly correlated, so near-copies of test windows sit in the training
  part: scores are optimistic. A warning says so.
* by="recording" / by="patient": `StratifiedGroupKFold` with the recordings /
  patients as groups (class proportions as even as the groups allow), and the
  validation part is again a grouped split of the training groups, so no group
  is in two of train/val/test. This is checked on every call (not with
  `assert`, which `python -O` strips).

`named_fold(store, by, test_groups)` is one fold whose test part is named:
the windows of the given recordings or patients (leave-one-patient-out is
one such fold per patient, `seizure_groups` lists the patients it can score);
validation is carved from the rest as above.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, StratifiedShuffleSplit

from jclip_eeg.data.store import EpochStore
from jclip_eeg.errors import ConfigError, DataError

SPLIT_BY = ("window", "recording", "patient")


@dataclasses.dataclass(frozen=True)
class Fold:
  """(n_train,), (n_val,), (n_test,) int64 window indices, each sorted."""
  train: np.ndarray
  val: np.ndarray
  test: np.ndarray


def make_folds(data: EpochStore | Mapping[str, np.ndarray], by: str = "window", k: int = 5,
               seed: int = 0, val_fraction: float = 0.15) -> list[Fold]:
  """k cross-validation folds (module docstring).

  Args:
    data: an `EpochStore`, or a mapping with "y" (N,) int labels and, for
      grouped splits, "recording" or "patient" (N,) group ids.
    by: "window", "recording" or "patient".
    k: number of folds (>= 2).
    seed: shuffling seed; the folds are a pure function of (data, by, k, seed,
      val_fraction).
    val_fraction: share of the training folds held out for validation
      (approximate for grouped splits: whole groups); 0 gives empty `val`.

  Raises:
    ConfigError: bad `by`, `k` or `val_fraction`.
    DataError: fewer groups than k (or than 2 left for validation), or a
      class without windows in some fold's training part.
  """
  check_settings(by, k, val_fraction)
  y, groups, classes = _arrays(data, by)
  if groups is None:
    warnings.warn("window-wise folds (the paper's protocol): overlapping and neighbouring "
                  "windows of the same recording fall on both sides of the split, so test "
                  "scores are optimistic; use by='patient' for an honest estimate",
                  stacklevel=2)
    outer = StratifiedKFold(k, shuffle=True, random_state=seed).split(y, y)
  else:
    n_groups = len(np.unique(groups))
    if n_groups < k:
      raise DataError(f"{by}-wise split: {n_groups} {by}s, fewer than k={k} folds")
    outer = StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(y, y, groups)
  folds = []
  for i, (rest, test) in enumerate(outer):
    folds.append(_fold(rest, test, y, groups, classes, val_fraction, seed, by, f"fold {i} of {k}"))
  check_folds(folds, len(y), groups)
  return folds


def check_settings(by: str, k: int, val_fraction: float) -> None:
  """ConfigError for `make_folds` settings that cannot cut folds, before any data is read."""
  if by not in SPLIT_BY:
    raise ConfigError(f"split by: {by!r}; expected one of {', '.join(SPLIT_BY)}")
  if k < 2:
    raise ConfigError(f"k: {k}; expected at least 2 folds")
  if not 0 <= val_fraction < 1:
    raise ConfigError(f"val_fraction: {val_fraction}; expected a fraction in [0, 1)")


def named_fold(store: EpochStore, by: str, test_groups: Sequence[str], *, seed: int = 0,
               val_fraction: float = 0.15) -> Fold:
  """The fold whose test part is the windows of the recordings / patients `test_groups` (module docstring).

  Raises:
    ConfigError: `by` is "window" (windows have no names) or no group is named.
    DataError: a named group is not in the store.
  """
  if by not in ("recording", "patient"):
    raise ConfigError(f"split.test_groups names recordings or patients; split.by={by!r} must be 'recording' "
                      "or 'patient'")
  if not test_groups:
    raise ConfigError("split.test_groups: empty; name at least one recording or patient")
  names = np.asarray(store.recording if by == "recording" else store.patient)
  known = sorted(set(names.tolist()))
  unknown = sorted(set(test_groups) - set(known))
  if unknown:
    raise DataError(f"{store.path}: split.test_groups names {by}(s) {unknown} that the store does not have; "
                    f"its {by}s: {', '.join(known[:30])}{' ...' if len(known) > 30 else ''}")
  y, groups, classes = _arrays(store, by)
  named = np.isin(names, list(test_groups))
  fold = _fold(np.flatnonzero(~named), np.flatnonzero(named), y, groups, classes, val_fraction, seed, by,
               f"test {by}s {', '.join(test_groups)}")
  _check_fold("named", fold, len(y), groups)
  return fold


def seizure_groups(store: EpochStore, by: str, background: int = 0) -> tuple[list[str], list[str]]:
  """(recordings / patients with at least one non-background window, those without): the groups a
  leave-one-out run can score, and the ones it must skip (a fold without seizures has no detection score)."""
  names = np.asarray(store.recording if by == "recording" else store.patient)
  y = np.asarray(store.y)
  scored = sorted(set(names[y != background].tolist()))
  return scored, sorted(set(names.tolist()) - set(scored))


def _fold(rest: np.ndarray, test: np.ndarray, y: np.ndarray, groups: np.ndarray | None,
          classes: Mapping[int, str], val_fraction: float, seed: int, by: str, name: str) -> Fold:
  """The fold with this test part: validation carved from `rest`, every class in its training part."""
  train, val = _carve_validation(rest, y, groups, val_fraction, seed, by)
  _require_classes(name, train, y, classes, by)
  return Fold(np.sort(train), np.sort(val), np.sort(test))


def check_folds(folds: Sequence[Fold], n: int, groups: np.ndarray | None = None) -> None:
  """Raises AssertionError unless the test parts partition range(n), each fold's
  parts partition range(n), and (with `groups`) no group is in two parts."""
  tests = np.sort(np.concatenate([f.test for f in folds]))
  if not np.array_equal(tests, np.arange(n)):
    raise AssertionError("test folds do not partition the windows")
  for i, fold in enumerate(folds):
    _check_fold(str(i), fold, n, groups)


def _check_fold(name: str, fold: Fold, n: int, groups: np.ndarray | None) -> None:
  parts = (fold.train, fold.val, fold.test)
  if not np.array_equal(np.sort(np.concatenate(parts)), np.arange(n)):
    raise AssertionError(f"fold {name}: train/val/test do not partition the windows")
  if groups is not None:
    sets = [set(np.unique(groups[p]).tolist()) for p in parts]
    if sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2]:
      raise AssertionError(f"fold {name}: a group is in two of train/val/test")


def _arrays(data: EpochStore | Mapping[str, np.ndarray],
            by: str) -> tuple[np.ndarray, np.ndarray | None, dict[int, str]]:
  """(labels, group ids or None, class code -> name) of the windows.

  A store's classes are all of its `class_names`; plain arrays have the labels they hold.
  """
  if isinstance(data, EpochStore):
    y = np.asarray(data.y)
    groups = {"window": None, "recording": data.recording_index, "patient": data.patient_index}[by]
    classes = dict(enumerate(data.class_names))
  else:
    y = np.asarray(data["y"])
    if by != "window" and by not in data:
      raise ConfigError(f"split by {by!r}: the data has no {by!r} array")
    groups = None if by == "window" else data[by]
    classes = {int(c): str(c) for c in np.unique(y)}
  if groups is not None:
    groups = np.asarray(groups)
    if groups.shape != y.shape:
      raise DataError(f"split by {by!r}: {groups.shape[0]} group ids for {y.shape[0]} windows")
  return y, groups, classes


def _carve_validation(rest: np.ndarray, y: np.ndarray, groups: np.ndarray | None,
                      val_fraction: float, seed: int, by: str) -> tuple[np.ndarray, np.ndarray]:
  """(train, val) indices out of the training folds `rest`."""
  if val_fraction == 0:
    return rest, rest[:0]
  if groups is None:
    splitter = StratifiedShuffleSplit(1, test_size=val_fraction, random_state=seed)
    train, val = next(splitter.split(rest, y[rest]))
    return rest[train], rest[val]
  n_groups = len(np.unique(groups[rest]))
  if n_groups < 2:
    raise DataError(f"{by}-wise split: only {n_groups} {by} left for training and validation")
  n_splits = min(max(2, round(1 / val_fraction)), n_groups)
  splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
  train, val = next(splitter.split(rest, y[rest], groups[rest]))
  return rest[train], rest[val]


def _require_classes(fold: str, train: np.ndarray, y: np.ndarray, classes: Mapping[int, str], by: str) -> None:
  present = set(np.unique(y[train]).tolist())
  missing = [name for code, name in classes.items() if code not in present]
  if missing:
    raise DataError(f"{by}-wise split, {fold}: no training window of class(es) "
                    f"{missing}; use fewer folds, another grouping, or drop the class")
