"""The training loop: the CLIP teacher (Algorithm 1), then the distilled student (Algorithm 2).

`train_and_evaluate(config, workdir)` runs the stages a config asks for:
  * config.model.role == "teacher": the teacher; if `config.student` has a
    `model` section (configs/demo.py), a student is distilled from it next,
    with config.student.{model, train, optimizer}.
  * config.model.role == "student": the student, distilled from the finished
    teacher in `config.student.teacher_workdir`.
Every stage runs the sections setup / data / model / checkpoint restore /
train / evaluate / report below, and leaves in the workdir:

  config.json                    the run config; a restart must use the same one
  <stage>/config.json            the stage's config (a student rebuilds its teacher from it)
  <stage>/checkpoints/           Orbax checkpoints (checkpoint.py)
  <stage>/metrics.jsonl          training metrics at log steps, validation metrics at eval steps
  <stage>/result.json            the finished stage: parameter counts, best step, validation and test reports
  report.json                    all stages + the data split; training_curves.png, confusion_matrices.png

Model selection uses the validation part of the training folds only: a
checkpoint is saved at every evaluation with its validation macro F1, and the
best one is evaluated ONCE on the test fold when the stage ends. Restarting
the same command after a crash or `kill -9` resumes from the latest
checkpoint (state, RNG and data position), so it ends exactly as an
uninterrupted run would; finished stages are not run again.

Step metrics stay on the device and are fetched only at log steps (every
`train.log_every_steps`, and at every evaluation step), which is also when a
non-finite loss is detected: the run stops with `TrainingDiverged` before the
next checkpoint, so the last checkpoint on disk is a good one.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm
from flax import nnx
from jax.experimental import multihost_utils

from jclip_eeg.data import loader, synthetic
from jclip_eeg.data.prepare import existing_store, prepare_store
from jclip_eeg.data.splits import make_folds
from jclip_eeg.data.store import EpochStore
from jclip_eeg.errors import ConfigError, DataError, TrainingDiverged
from jclip_eeg.eval.metrics import classification_report
from jclip_eeg.models.clip import build_model, count_params, trainable_filter
from jclip_eeg.train import reporting, sharding, steps
from jclip_eeg.train.checkpoint import Checkpoints

_log = logging.getLogger(__name__)

STAGES = ("teacher", "student")
# Where each dataset comes from, for the error raised when its store is missing.
DOWNLOADS = {
    "chbmit": "CHB-MIT from PhysioNet, https://physionet.org/content/chbmit/1.0.0/ "
              "(wget -r -N -c -np https://physionet.org/files/chbmit/1.0.0/)",
    "tusz": "TUH EEG Seizure Corpus v2.0.x (free registration), "
            "https://isip.piconepress.com/projects/nedc/html/tuh_eeg/ (its edf/ folder)",
    "neonatal": "the Helsinki neonatal EEG set from Zenodo, https://zenodo.org/records/2547147 "
                "(or https://zenodo.org/records/4940267)",
    "aubmc": "the AUBMC set from Mendeley Data, https://doi.org/10.17632/5pc2j46cbc",
    "synthetic": "nothing to download: prepare_data.py generates it",
}
# config.data.options entry -> scripts/prepare_data.py flag.
_PREPARE_FLAGS = {"consensus": "--consensus", "classes": "--tusz-classes", "splits": "--tusz-splits",
                  "layout": "--aubmc-layout"}
_VAL_METRICS = ("f1_macro", "f1_weighted", "accuracy")
# Config fields a restart may change: they do not change what is computed.
_RESUME_FREE = ("workdir", "data.root", "progress", "tensorboard", "prefetch")


def is_main_process() -> bool:
  return jax.process_index() == 0


# ============================================================================= setup


def stage_configs(config: ml_collections.ConfigDict) -> list[tuple[str, ml_collections.ConfigDict]]:
  """(role, config) of each stage to run, in order (module docstring)."""
  role = config.model.role
  if role not in STAGES:
    raise ConfigError(f"config.model.role={role!r}, expected one of {STAGES}")
  stages = [(role, config)]
  then = config.get("student")
  if role == "teacher" and then is not None and "model" in then:
    student = ml_collections.ConfigDict(config.to_dict())
    for section in ("model", "train", "optimizer"):
      student[section] = then[section]
    student.student = ml_collections.ConfigDict({"teacher_workdir": then.get("teacher_workdir", "")})
    student.lock()
    stages.append(("student", student))
  elif role == "student" and (then is None or "teacher_workdir" not in then):
    raise ConfigError("a student config needs config.student.teacher_workdir (the finished teacher's workdir)")
  return stages


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


def _as_json(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The config as plain JSON types (tuples become lists), as it is stored in the workdir."""
  return json.loads(config.to_json())


def _claim_workdir(config: ml_collections.ConfigDict, path: Path) -> None:
  """Writes config.json at `path`, or checks it equals the one a previous run of this workdir left."""
  current = _as_json(config)
  if path.is_file():
    differences = [k for k in config_differences(json.loads(path.read_text()), current)
                   if not k.endswith(_RESUME_FREE)]
    if differences:
      raise ConfigError(f"{path} holds a run with another config (differences: {', '.join(differences)}); "
                        "restart with the same config or choose another --workdir")
  elif is_main_process():
    path.parent.mkdir(parents=True, exist_ok=True)
    reporting.write_json(path, current)


# ============================================================================= data


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


def missing_store_message(data: ml_collections.ConfigDict) -> str:
  """What to download and which command prepares the store named by config.data."""
  command = (f"python scripts/prepare_data.py --dataset {data.dataset} --root {data.root} --out {data.store}"
             + "".join(f" {_PREPARE_FLAGS[k]} {v}" for k, v in data.get("options", {}).items()))
  raw = "" if Path(data.root).is_dir() else (
      f"The raw data is not at config.data.root={data.root} either; download "
      f"{DOWNLOADS.get(data.dataset, data.dataset)} there (or set --config.data.root). ")
  return (f"config.data.store={data.store}: no prepared store. {raw}Prepare it with\n  {command}\n"
          "or point --config.data.store at an existing store.")


def open_store(data: ml_collections.ConfigDict) -> EpochStore:
  """The store of config.data; prepared here only when `data.prepare` (the synthetic demo data).

  Raises:
    DataError: the store is missing (the message says how to get it) or does
      not match config.data's classes and window shape.
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
  return store


def _prepare_synthetic(data: ml_collections.ConfigDict) -> EpochStore:
  """Generates synthetic EDFs into data.root if it has none, then prepares data.store from them."""
  if data.dataset != "synthetic":
    raise ConfigError(f"config.data.prepare=True only works for the synthetic dataset, not {data.dataset!r}")
  root = Path(data.root)
  if not (root / synthetic.MANIFEST).is_file():
    _log.info("generating synthetic EEG (CHB-MIT layout) in %s", root)
    synthetic.generate(root, **dict(data.get("synthetic") or {}))
  return prepare_store("synthetic", root, data.store, label_rule=data.label_rule, progress=is_main_process())


def _patients(store: EpochStore, rows: np.ndarray) -> list[str]:
  return sorted(set(store.patient[rows].tolist()))


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


def load_split(data: ml_collections.ConfigDict) -> DataSplit:
  """Opens (or prepares) the store and cuts fold `data.split.fold` of `data.split.k`.

  With `data.val_balanced` the validation part keeps every seizure window and
  an equally large fixed draw of background windows (cheap model selection on
  large sets); the test part is always the whole fold.
  """
  split = data.split
  if split.val_fraction <= 0:
    raise ConfigError(f"config.data.split.val_fraction={split.val_fraction}: model selection needs a "
                      "validation part (> 0)")
  if not 0 <= split.fold < split.k:
    raise ConfigError(f"config.data.split.fold={split.fold} must be in [0, k={split.k})")
  store = open_store(data)
  fold = make_folds(store, by=split.by, k=split.k, seed=split.seed, val_fraction=split.val_fraction)[split.fold]
  y = np.asarray(store.y)
  val = fold.val
  if data.val_balanced and val.size:
    val = np.sort(loader.epoch_order(val, y[val], seed=split.seed, epoch=0, balanced=True))
  parts = {"train": fold.train, "val": val, "test": fold.test}
  _check_parts(parts, y, store.class_names, f"{data.store}, {split.by}-wise fold {split.fold} of {split.k}")
  description = {"store": str(data.store), "dataset": data.dataset, "split": split.to_dict(),
                 "val_balanced": data.val_balanced}
  for name, rows in parts.items():
    counts = np.bincount(y[rows], minlength=len(store.class_names)).tolist()
    description[name] = {"windows": int(rows.size), "per_class": dict(zip(store.class_names, counts)),
                         "patients": _patients(store, rows)}
  return DataSplit(str(data.store), store.class_names, fold.train, val, fold.test, description)


# ============================================================================= model


@dataclasses.dataclass(frozen=True)
class Built:
  """A model as the steps see it: GraphDef + TrainState, its optimiser, and its parameter counts."""
  graphdef: nnx.GraphDef
  state: steps.TrainState
  tx: Any
  params: dict[str, int]


def build(config: ml_collections.ConfigDict, total_steps: int, mesh: jax.sharding.Mesh) -> Built:
  """A freshly initialised model (seed config.train.seed) and its TrainState, replicated on `mesh`."""
  model = build_model(config, rngs=nnx.Rngs(config.train.seed))
  trainable = trainable_filter(config.model)
  params = {"total": count_params(model), "trainable": count_params(model, trainable),
            "eeg_encoder": count_params(model.eeg)}
  tx = steps.make_optimizer(config, total_steps)
  graphdef, state = steps.create_train_state(model, tx, trainable, mesh=mesh)
  return Built(graphdef, state, tx, params)


@dataclasses.dataclass(frozen=True)
class FinishedStage:
  """A finished stage at its best validation checkpoint.

  `text_features` (n_classes, E) are the class-text features it predicts with:
  a teacher's own, or for a student its teacher's frozen U_T.
  """
  config: ml_collections.ConfigDict
  result: dict[str, Any]
  graphdef: nnx.GraphDef
  state: steps.TrainState
  text_features: jax.Array


def teacher_dir(config: ml_collections.ConfigDict, workdir: Path) -> Path:
  """`<config.student.teacher_workdir or this workdir>/teacher`."""
  return Path(config.student.teacher_workdir or workdir) / "teacher"


def finished_result(teacher_stage: Path) -> dict[str, Any]:
  """The result.json of the finished teacher stage in `teacher_stage`."""
  path = teacher_stage / "result.json"
  if not path.is_file():
    raise ConfigError(f"config.student.teacher_workdir: no finished teacher in {teacher_stage} ({path.name} "
                      "missing); train it first with scripts/train.py --config configs/<dataset>_teacher.py")
  return json.loads(path.read_text())


def load_teacher(directory: Path, student_config: ml_collections.ConfigDict,
                 mesh: jax.sharding.Mesh) -> FinishedStage:
  """The best checkpoint of the finished teacher stage in `directory`.

  Raises:
    ConfigError: no finished teacher there, or it was trained on other data
      or another split (its test windows could be in the student's training part).
  """
  result = finished_result(directory)
  config = ml_collections.ConfigDict(json.loads((directory / "config.json").read_text()))
  different = [f"data.{k}" for k in config_differences(_data_identity(config), _data_identity(student_config))]
  if different:
    raise ConfigError(f"the teacher in {directory} was trained with other {', '.join(different)}; the student "
                      "must use the teacher's store and split (else test windows leak into training)")
  graphdef, state = _restore_best(directory, config, result, mesh)
  return FinishedStage(config, result, graphdef, state, steps.teacher_text_features(graphdef, state, mesh))


def load_stage(stage_dir: Path, mesh: jax.sharding.Mesh) -> FinishedStage:
  """The best checkpoint of the finished teacher or student stage in `stage_dir` (e.g. runs/demo/student).

  Raises:
    ConfigError: `stage_dir` holds no finished stage, or a student's teacher is not finished.
  """
  stage_dir = Path(stage_dir)
  config_path, result_path = stage_dir / "config.json", stage_dir / "result.json"
  if not (config_path.is_file() and result_path.is_file()):
    raise ConfigError(f"{stage_dir}: no finished stage (config.json and result.json expected); "
                      "train it with scripts/train.py")
  config = ml_collections.ConfigDict(json.loads(config_path.read_text()))
  if config.model.role == "teacher":
    return load_teacher(stage_dir, config, mesh)
  result = json.loads(result_path.read_text())
  teacher = load_teacher(teacher_dir(config, stage_dir.parent), config, mesh)
  graphdef, state = _restore_best(stage_dir, config, result, mesh)
  return FinishedStage(config, result, graphdef, state, teacher.text_features)


def _restore_best(stage_dir: Path, config: ml_collections.ConfigDict, result: dict[str, Any],
                  mesh: jax.sharding.Mesh) -> tuple[nnx.GraphDef, steps.TrainState]:
  """The stage's model (graph, state) at `result["best_step"]`."""
  built = build(config, result["total_steps"], mesh)
  checkpoints = Checkpoints(stage_dir / "checkpoints")
  state = checkpoints.restore(result["best_step"], built.state)
  checkpoints.close()
  return built.graphdef, state


def _data_identity(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The config.data fields that determine which windows are train / val / test."""
  data = _as_json(config)["data"]
  return {k: data[k] for k in ("dataset", "store", "split", "class_names", "val_balanced")}


# ============================================================================= evaluate


def predict(predict_fn: Callable, state: steps.TrainState, split: DataSplit, rows: np.ndarray,
            config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh) -> tuple[np.ndarray, np.ndarray]:
  """(y (n,) int, probabilities (n, n_classes)) of the windows `rows`, in eval mode.

  Every process reads its share of each batch; labels are gathered in the
  order `sharding.shard_batch` lays the global batch out.
  """
  probs, labels, valid = [], [], []
  for batch in loader.eval_batches(split.store, rows, batch_size=config.train.eval_batch_size):
    probs.append(predict_fn(state, sharding.shard_batch({"x": batch["x"]}, mesh)["x"]))
    labels.append(batch["y"])
    valid.append(batch["valid"])
  probs = np.concatenate([np.asarray(p) for p in probs])
  keep = _global_order(np.stack(valid))
  return _global_order(np.stack(labels))[keep], probs[keep]


def _global_order(local: np.ndarray) -> np.ndarray:
  """(n_batches, b) per-process batch entries -> (n_batches * processes * b,) in global batch order."""
  if jax.process_count() == 1:
    return local.reshape(-1)
  gathered = multihost_utils.process_allgather(local)  # (processes, n_batches, b)
  return np.swapaxes(gathered, 0, 1).reshape(-1)


def evaluate(predict_fn: Callable, state: steps.TrainState, split: DataSplit, rows: np.ndarray,
             config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh) -> dict[str, Any]:
  """`classification_report` of the windows `rows`, plus `loss` (mean CE of the predicted probabilities)."""
  y, probs = predict(predict_fn, state, split, rows, config, mesh)
  report = classification_report(y, probs, split.class_names)
  report["loss"] = float(-np.mean(np.log(np.maximum(probs[np.arange(len(y)), y], 1e-12))))
  return report


def _predictor(built: Built, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh,
               teacher: FinishedStage | None) -> Callable[[steps.TrainState], Callable]:
  """state -> predict function. The teacher's own class-text features are recomputed for each state,
  once per evaluation rather than once per batch."""
  if teacher is not None:
    fn = steps.make_predict_fn(built.graphdef, config, mesh, teacher.text_features)
    return lambda state: fn
  features = functools.partial(steps.teacher_text_features, built.graphdef, mesh=mesh)
  fn = steps.make_predict_fn(built.graphdef, config, mesh, features(built.state))
  return lambda state: dataclasses.replace(fn, constants=(features(state),))


# ============================================================================= train


class _Accumulator:
  """Sums step metrics on the device (no host sync) until `fetch` at a log step."""

  def __init__(self):
    self._sums: dict[str, jax.Array] | None = None
    self.steps = 0

  def add(self, metrics: Mapping[str, jax.Array]) -> None:
    self._sums = dict(metrics) if self._sums is None else jax.tree.map(jnp.add, self._sums, dict(metrics))
    self.steps += 1

  def fetch(self) -> tuple[dict[str, float], int]:
    """(summed metrics as floats, number of steps), and resets."""
    sums = {k: float(v) for k, v in jax.device_get(self._sums).items()}
    n, self._sums, self.steps = self.steps, None, 0
    return sums, n


def summarize(sums: Mapping[str, float], n_steps: int) -> dict[str, float]:
  """Means over the steps of a log interval; accuracy from the summed correct / count."""
  means = {k: v / n_steps for k, v in sums.items() if k not in ("correct", "count", "nonfinite")}
  return means | {"accuracy": sums["correct"] / max(sums["count"], 1.0)}


@dataclasses.dataclass(frozen=True)
class Schedule:
  """Step bookkeeping of a stage: steps are 1-based, `total` = epochs x steps per epoch."""
  steps_per_epoch: int
  total: int
  log_every: int
  eval_every: int

  @classmethod
  def of(cls, config: ml_collections.ConfigDict, split: DataSplit) -> Schedule:
    train = config.train
    if train.epochs < 1 or train.log_every_steps < 1 or train.eval_every_steps < 0:
      raise ConfigError(f"config.train: epochs={train.epochs} and log_every_steps={train.log_every_steps} "
                        f"must be >= 1, eval_every_steps={train.eval_every_steps} >= 0 (0 = every epoch)")
    per_epoch = loader.steps_per_epoch(split.store, split.train, batch_size=train.batch_size,
                                       balanced=config.data.balanced)
    return cls(per_epoch, train.epochs * per_epoch, train.log_every_steps, train.eval_every_steps or per_epoch)

  def is_eval(self, step: int) -> bool:
    return step % self.eval_every == 0 or step == self.total

  def is_log(self, step: int) -> bool:
    return step % self.log_every == 0 or self.is_eval(step)


def _check_finite(sums: Mapping[str, float], step: int, role: str, ckpt: Checkpoints) -> None:
  if sums["nonfinite"] > 0 or not np.isfinite(sums["loss"]):
    ckpt.wait()
    raise TrainingDiverged(
        f"{role}: non-finite loss in the steps up to {step}; stopped without saving. The last good "
        f"checkpoint is step {ckpt.latest_step()} in {ckpt.directory}. Lower config.optimizer.learning_rate "
        "or set config.optimizer.grad_clip_norm, then rerun in a fresh workdir")


def _train(role: str, config: ml_collections.ConfigDict, state: steps.TrainState, step_fn: Callable,
           next_batch: Callable[[], Mapping[str, jax.Array]], schedule: Schedule, start: int,
           on_eval: Callable[[steps.TrainState, int], None], ckpt: Checkpoints,
           log: reporting.MetricsLog | None) -> steps.TrainState:
  """Steps start + 1 .. schedule.total; logs, and calls `on_eval(state, step)` at evaluation steps."""
  accumulator = _Accumulator()
  last_time, last_step = time.perf_counter(), start
  with tqdm.tqdm(total=schedule.total, initial=start, desc=role, unit="step",
                 disable=not (config.train.progress and is_main_process())) as bar:
    for step in range(start + 1, schedule.total + 1):
      state, metrics = step_fn(state, next_batch())
      accumulator.add(metrics)
      if not schedule.is_log(step):
        continue
      sums, n = accumulator.fetch()
      _check_finite(sums, step, role, ckpt)
      now = time.perf_counter()
      record = summarize(sums, n) | {
          "epoch": step / schedule.steps_per_epoch,
          "samples_per_s": (step - last_step) * config.train.batch_size / (now - last_time)}
      last_time, last_step = now, step
      if log is not None:
        log.write("train", step, record)
      bar.update(step - bar.n)
      bar.set_postfix(loss=f"{record['loss']:.4f}", acc=f"{record['accuracy']:.3f}",
                      samples_s=f"{record['samples_per_s']:.0f}")
      if schedule.is_eval(step):
        on_eval(state, step)
        last_time = time.perf_counter()  # throughput counts training only
  return state


# ============================================================================= a stage


def run_stage(role: str, config: ml_collections.ConfigDict, stage_dir: Path, split: DataSplit,
              mesh: jax.sharding.Mesh, load_teacher: Callable[[], FinishedStage] | None = None) -> dict[str, Any]:
  """Trains one stage (or resumes it) and returns its result; a finished stage is read back, not rerun.

  `load_teacher` (for a student) is only called when there is training to do.
  """
  # -- setup
  result_path = stage_dir / "result.json"
  _claim_workdir(config, stage_dir / "config.json")
  if result_path.is_file():
    _log.info("%s: finished earlier, reading %s", role, result_path)
    return json.loads(result_path.read_text())
  teacher = None if load_teacher is None else load_teacher()
  # -- data
  schedule = Schedule.of(config, split)
  batches = loader.train_batches(split.store, split.train, batch_size=config.train.batch_size,
                                 seed=config.train.seed, balanced=config.data.balanced,
                                 worker_count=config.data.worker_count, prefetch=config.data.prefetch)
  # -- model
  built = build(config, schedule.total, mesh)
  if teacher is None:
    step_fn = steps.make_teacher_step(built.graphdef, built.tx, config, mesh)
  else:
    step_fn = steps.make_student_step(built.graphdef, built.tx, config, mesh, teacher.graphdef, teacher.state,
                                      teacher.text_features)
  predictor = _predictor(built, config, mesh, teacher)
  # -- checkpoint restore
  ckpt = Checkpoints(stage_dir / "checkpoints", keep=config.train.keep_checkpoints)
  start = ckpt.latest_step()
  state = built.state if start is None else ckpt.restore(start, built.state, batches)
  log = reporting.MetricsLog(stage_dir / "metrics.jsonl", resume_step=start,
                             tensorboard=config.train.tensorboard) if is_main_process() else None
  if start is not None:
    _log.info("%s: resumed from step %d of %d (%s)", role, start, schedule.total, ckpt.directory)

  def on_eval(state: steps.TrainState, step: int) -> None:
    val = evaluate(predictor(state), state, split, split.val, config, mesh)
    metrics = {k: val[k] for k in (*_VAL_METRICS, "loss")}
    if log is not None:
      log.write("val", step, metrics)
    ckpt.save(state, batches, metrics)

  # -- train
  started = time.perf_counter()
  state = _train(role, config, state, step_fn, lambda: sharding.shard_batch(next(batches), mesh), schedule,
                 start or 0, on_eval, ckpt, log)
  ckpt.wait()
  train_seconds = time.perf_counter() - started
  # -- evaluate: the best validation checkpoint, once on the test fold
  best = ckpt.best_step()
  best_state = ckpt.restore(best, state)
  test = evaluate(predictor(best_state), best_state, split, split.test, config, mesh)
  # -- report
  result = {"role": role, "params": built.params, "steps_per_epoch": schedule.steps_per_epoch,
            "total_steps": schedule.total, "best_step": best, "best_val": ckpt.metrics(best),
            "train_seconds_this_run": round(train_seconds, 2), "resumed_from_step": start, "test": test}
  ckpt.close()
  if log is not None:
    log.close()
  if is_main_process():
    reporting.write_json(result_path, result)
  return result


# ============================================================================= the run


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, Any]:
  """Runs every stage of `config` in `workdir` and writes report.json and the plots (module docstring).

  Returns:
    The report: `stages` (role -> result; a student run also lists its
    teacher), `data` (the split), `workdir`.
  Raises:
    ConfigError, DataError: unusable config or data (the message says which field / file).
    TrainingDiverged: the loss became non-finite.
  """
  # -- setup
  sharding.initialize_distributed(config)
  workdir = Path(workdir)
  stages = stage_configs(config)
  mesh = sharding.make_mesh()
  for role, stage_config in stages:
    for field in ("batch_size", "eval_batch_size"):
      sharding.check_batch_size(stage_config.train[field], mesh, what=f"{role} config.train.{field}")
  _claim_workdir(config, workdir / "config.json")
  # -- data
  split = load_split(config.data)
  # -- the stages
  results, stage_dirs = {}, {}
  for role, stage_config in stages:
    teacher = None
    if role == "student":
      stage_dirs["teacher"] = teacher_dir(stage_config, workdir)
      results.setdefault("teacher", finished_result(stage_dirs["teacher"]))
      teacher = functools.partial(load_teacher, stage_dirs["teacher"], stage_config, mesh)
    stage_dirs[role] = workdir / role
    results[role] = run_stage(role, stage_config, stage_dirs[role], split, mesh, teacher)
  # -- report
  report = {"workdir": str(workdir), "data": split.description, "stages": results}
  if is_main_process():
    write_report(report, stage_dirs, workdir)
  return report


def write_report(report: Mapping[str, Any], stage_dirs: Mapping[str, Path], workdir: Path) -> None:
  """report.json, training_curves.png (from each stage's metrics.jsonl) and confusion_matrices.png."""
  reporting.write_json(workdir / "report.json", report)
  histories = {role: reporting.read_jsonl(d / "metrics.jsonl") for role, d in stage_dirs.items()}
  reporting.plot_training_curves(histories, workdir / "training_curves.png")
  reporting.plot_confusion_matrices({role: r["test"] for role, r in report["stages"].items()},
                                    workdir / "confusion_matrices.png")
