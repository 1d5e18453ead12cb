"""The training loop: the CLIP teacher (Algorithm 1), then the distilled student (Algorithm 2).

`train_and_evaluate(config, workdir)` runs the stages a config asks for:
  * config.model.role == "teacher": the teacher; if the config has a student
    recipe (`config.student.{model, train, optimizer}`, configs/demo.py), a
    student is distilled from it next, in the same workdir.
  * config.model.role == "student": the student, distilled from the finished
    teacher in `config.teacher_workdir`.
Every stage runs the sections setup / data / model / restore / train /
evaluate / report below and leaves a stage directory (`runs/stage.py`: its
config, checkpoints, class-text features, result.json) plus
`<stage>/metrics.jsonl`; the run writes `config.json` (a restart must use the
same one, up to `config_lib.RESUME_FREE_KEYS`), `report.json`,
`training_curves.png` and `confusion_matrices.png`.

Before anything is written, every check that needs no training runs
(`check_run_config`, `check_run_data`): config values, the model traced
abstractly, the split and a batch of every stage; then the run takes the
workdir's lock (`locks.py`: a second run on the same workdir is refused,
naming the first) and claims the workdir.

Model selection uses the validation part of the training folds only: a
checkpoint is saved at every evaluation with its validation macro F1, and the
best one is evaluated ONCE on the test fold when the stage ends. Restarting
the same command after a crash or `kill -9` resumes from the latest
checkpoint (state, RNG and data position), so it ends exactly as an
uninterrupted run would; finished stages are not run again. A damaged
checkpoint is set aside with a warning and the run resumes from the newest
intact one (`Checkpoints.resume`), still exactly.

A student stage with `train.teacher_cache` (on in every student config)
computes its frozen teacher's logits of every window it will draw before its
first step, once each (`teacher_cache.py`, resumable too), and trains with the
cached step; result.json's `teacher_cache` gives those teacher forwards beside
the online step's (one per drawn window per step).

Logging (maxtext style). The step is compiled ahead of time once, so its
compilation is timed on its own and XLA's FLOP count of the program that runs
is known. Step metrics stay on the device and are summed there; at a log
step (`train.log_every_steps`, and every evaluation step) the PREVIOUS
interval's sums are fetched, so logging never waits on the device. Each
train record has the interval's step time and samples/s (the first step,
which compiles and warms up, is never timed), TFLOP/s per device from XLA's
FLOPs and, where the device's peak is known (`jclip_eeg.flops`), MFU. A
non-finite loss found in a fetched interval stops the run with
`TrainingDiverged` before the next checkpoint, so the last one on disk is good.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm
from flax import nnx

from jclip_eeg import config_lib, flops, jsonio, locks, sharding
from jclip_eeg.data import loader
from jclip_eeg.data.store import EpochStore
from jclip_eeg.data.windows import check_rule
from jclip_eeg.errors import ConfigError, TrainingDiverged
from jclip_eeg.eval import baseline, plots, tuning
from jclip_eeg.metrics import evaluation_report
from jclip_eeg.models.clip import build_model, count_params, forward, prediction_logits, trainable_filter
from jclip_eeg.runs import inference, split as split_lib, stage as stage_lib
from jclip_eeg.runs.checkpoints import Checkpoints
from jclip_eeg.runs.split import DataSplit
from jclip_eeg.train import reporting, steps, teacher_cache

_log = logging.getLogger(__name__)

_VAL_METRICS = ("f1_macro", "f1_weighted", "accuracy")


def is_main_process() -> bool:
  return jax.process_index() == 0


# ============================================================================= setup


def stage_configs(config: ml_collections.ConfigDict) -> list[tuple[str, ml_collections.ConfigDict]]:
  """(role, config) of each stage to run, in order (module docstring)."""
  role = config.model.role
  if role not in stage_lib.STAGES:
    raise ConfigError(f"config.model.role={role!r}, expected one of {stage_lib.STAGES}")
  stages = [(role, config)]
  if role == "teacher" and config.get("student") is not None:
    student = ml_collections.ConfigDict(config.to_dict())
    for section in ("model", "train", "optimizer"):
      student[section] = config.student[section]
    del student["student"]
    student.teacher_workdir = ""  # the teacher of this workdir
    student.lock()
    stages.append(("student", student))
  elif role == "student" and not config.get("teacher_workdir"):
    raise ConfigError("a student config needs config.teacher_workdir (the finished teacher's workdir)")
  return stages


def claim_workdir(config: ml_collections.ConfigDict, path: Path) -> None:
  """Writes config.json at `path`, or checks it equals the one a previous run of this workdir left."""
  current = config_lib.as_json(config)
  if path.is_file():
    differences = config_lib.resume_differences(jsonio.read_json(path), current)
    if differences:
      raise ConfigError(f"{path} holds a run with another config (differences: {', '.join(differences)}); "
                        "restart with the same config or choose another --workdir")
  elif is_main_process():
    path.parent.mkdir(parents=True, exist_ok=True)
    jsonio.write_json(path, current)


def teacher_dir(config: ml_collections.ConfigDict, workdir: Path) -> Path:
  """`<config.teacher_workdir or this workdir>/teacher`."""
  return Path(config.get("teacher_workdir") or workdir) / "teacher"


def _check_same_data(teacher_dir: Path, student_config: ml_collections.ConfigDict) -> None:
  """ConfigError when the teacher was trained on other data or another split (its test windows could
  then be in the student's training part)."""
  teacher_data = stage_lib.read_config(teacher_dir).data
  different = [f"data.{k}" for k in config_lib.config_differences(split_lib.data_identity(teacher_data),
                                                                  split_lib.data_identity(student_config.data))]
  if different:
    raise ConfigError(f"the teacher in {teacher_dir} was trained with other {', '.join(different)}; the student "
                      "must use the teacher's store and split (else test windows leak into training)")


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


def _predictor_of(built: Built, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh,
                  frozen_features: jax.Array | None) -> Callable[[inference.Weights], inference.Predictor]:
  """weights -> their Predictor. A student predicts with its teacher's frozen features; a teacher's own
  features are recomputed from the weights, once per evaluation rather than once per batch."""
  def predictor(weights: inference.Weights) -> inference.Predictor:
    features = frozen_features
    if features is None:
      features = inference.class_text_features(weights, graphdef=built.graphdef, mesh=mesh)
    return inference.Predictor(built.graphdef, weights, features, config.model.prediction, mesh)
  return predictor


def _weights(state: steps.TrainState) -> tuple[nnx.State, nnx.State]:
  return state.params, state.rest


# ============================================================================= train


class _Accumulator:
  """Sums step metrics on the device (no host sync) until `take`."""

  def __init__(self):
    self._sums: dict[str, jax.Array] | None = None
    self.steps = 0

  def add(self, metrics: Mapping[str, jax.Array]) -> None:
    self._sums = dict(metrics) if self._sums is None else jax.tree.map(jnp.add, self._sums, dict(metrics))
    self.steps += 1

  def take(self) -> tuple[dict[str, jax.Array], int]:
    """(summed metrics, still on the device; number of steps), and resets."""
    taken = (self._sums, self.steps)
    self._sums, self.steps = None, 0
    return taken


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

  @staticmethod
  def check(train: ml_collections.ConfigDict) -> None:
    """ConfigError for config.train step settings that make no schedule."""
    if train.epochs < 1 or train.log_every_steps < 1 or train.eval_every_steps < 0:
      raise ConfigError(f"config.train: epochs={train.epochs} and log_every_steps={train.log_every_steps} "
                        f"must be >= 1, eval_every_steps={train.eval_every_steps} >= 0 (0 = every epoch)")

  @classmethod
  def of(cls, config: ml_collections.ConfigDict, split: DataSplit) -> Schedule:
    train = config.train
    cls.check(train)
    per_epoch = loader.steps_per_epoch(split.store, split.train, batch_size=train.batch_size,
                                       balanced=config.data.balanced)
    return cls(per_epoch, train.epochs * per_epoch, train.log_every_steps, train.eval_every_steps or per_epoch)

  def is_eval(self, step: int) -> bool:
    return step % self.eval_every == 0 or step == self.total

  def is_log(self, step: int) -> bool:
    return step % self.log_every == 0 or self.is_eval(step)


@dataclasses.dataclass
class _Throughput:
  """Wall time of the steps since the last mark: step time, samples/s, TFLOP/s per device and MFU.

  A mark is set once the device has finished a step (the first one, which
  compiles, or an evaluation), so no compilation or evaluation is timed.
  """
  batch_size: int
  flops_per_step: float  # per device, XLA's count
  peak_tflops: float | None
  marked_step: int = 0
  marked_at: float = 0.0

  def mark(self, step: int) -> None:
    self.marked_step, self.marked_at = step, time.perf_counter()

  def lap(self, step: int) -> dict[str, float]:
    """Rates of the steps marked_step + 1 .. step, whose results are ready now; {} if none."""
    n, seconds = step - self.marked_step, time.perf_counter() - self.marked_at
    self.mark(step)
    if n <= 0:
      return {}
    rates = {"step_time_s": seconds / n, "samples_per_s": n * self.batch_size / seconds,
             "tflops_per_s_per_device": n * self.flops_per_step / seconds / 1e12}
    if self.peak_tflops:
      rates["mfu"] = rates["tflops_per_s_per_device"] / self.peak_tflops
    return rates


def _check_finite(sums: Mapping[str, float], step: int, role: str, ckpt: Checkpoints) -> None:
  if sums["nonfinite"] > 0 or not np.isfinite(sums["loss"]):
    ckpt.wait()
    latest = ckpt.latest_step()
    kept = "no checkpoint was saved yet" if latest is None else \
        f"the last good checkpoint is step {latest} in {ckpt.directory}"
    raise TrainingDiverged(
        f"{role}: non-finite loss in the steps up to {step}; stopped without saving, {kept}. Lower "
        "config.optimizer.learning_rate or set config.optimizer.grad_clip_norm, then rerun in a fresh workdir")


def _train(role: str, config: ml_collections.ConfigDict, state: steps.TrainState, step_fn: Callable,
           batches: Iterator[Mapping[str, jax.Array]], schedule: Schedule, start: int,
           on_eval: Callable[[steps.TrainState, int], None], ckpt: Checkpoints,
           log: reporting.MetricsLog | None, throughput: _Throughput) -> steps.TrainState:
  """Steps start + 1 .. schedule.total; logs one interval late, and calls `on_eval(state, step)` at
  evaluation steps (module docstring)."""
  accumulator = _Accumulator()
  pending: tuple[int, dict[str, jax.Array], int] | None = None  # the interval to log at the next log step

  def emit(step: int, sums: dict[str, jax.Array], n: int) -> None:
    values = {k: float(v) for k, v in jax.device_get(sums).items()}  # ready, or nearly: the device moved on
    _check_finite(values, step, role, ckpt)
    record = summarize(values, n) | {"epoch": step / schedule.steps_per_epoch} | throughput.lap(step)
    if log is not None:
      log.write("train", step, record)
    bar.update(step - bar.n)
    bar.set_postfix(loss=f"{record['loss']:.4f}", acc=f"{record['accuracy']:.3f}",
                    samples_s=f"{record.get('samples_per_s', 0):.0f}")

  with tqdm.tqdm(total=schedule.total, initial=start, desc=role, unit="step",
                 disable=not (config.train.progress and is_main_process())) as bar:
    for step in range(start + 1, schedule.total + 1):
      state, metrics = step_fn(state, next(batches))
      accumulator.add(metrics)
      if step == start + 1:
        jax.block_until_ready(metrics)
        throughput.mark(step)
      if not schedule.is_log(step):
        continue
      if pending is not None:
        emit(*pending)
      pending = (step, *accumulator.take())
      if schedule.is_eval(step):
        emit(*pending)
        pending = None
        on_eval(state, step)
        throughput.mark(step)
  return state


# ============================================================================= a stage


def _teacher_cache(config: ml_collections.ConfigDict, stage_dir: Path, split: DataSplit, schedule: Schedule,
                   mesh: jax.sharding.Mesh, teacher_stage: stage_lib.FinishedStage
                   ) -> tuple[teacher_cache.TeacherLogits, dict[str, Any]] | None:
  """The teacher's logits of every window the student stage draws, with a summary of the teacher forwards
  (`train/teacher_cache.py`); None when config.train.teacher_cache is off."""
  if not config.train.get("teacher_cache", False):
    return None
  train = config.train
  rows = loader.drawn_rows(split.store, split.train, batch_size=train.batch_size, seed=train.seed,
                           n_steps=schedule.total, balanced=config.data.balanced)
  logits, summary = teacher_cache.load_or_compute(stage_dir, teacher_stage, split.store, rows,
                                                  mode=config.model.prediction, batch_size=train.eval_batch_size,
                                                  mesh=mesh, progress=train.progress)
  summary["teacher_forwards_online"] = schedule.total * train.batch_size  # one per drawn window per step
  _log.info("student: teacher logits of the %d windows the %d steps draw (%d computed now, %.1f s); the online "
            "step would run the teacher on %d windows", summary["windows"], schedule.total,
            summary["computed_this_run"], summary["seconds_this_run"], summary["teacher_forwards_online"])
  return logits, summary


def _step_fn(built: Built, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh,
             teacher_stage: stage_lib.FinishedStage | None, *, cached: bool) -> steps.BoundStep:
  """The stage's train step: the teacher's, or the student's with its teacher online or cached."""
  if teacher_stage is None:
    return steps.make_teacher_step(built.graphdef, built.tx, config, mesh)
  if cached:
    return steps.make_cached_student_step(built.graphdef, built.tx, config, mesh, teacher_stage.text_features)
  return steps.make_student_step(built.graphdef, built.tx, config, mesh, teacher_stage.graphdef,
                                 teacher_stage.weights, teacher_stage.text_features)


def run_stage(role: str, config: ml_collections.ConfigDict, stage_dir: Path, split: DataSplit,
              mesh: jax.sharding.Mesh, teacher: Path | None = None) -> dict[str, Any]:
  """Trains one stage (or resumes it) and returns its result; a finished stage is read back, not rerun.

  `teacher` (for a student) is the finished teacher stage directory it is distilled from.
  """
  # -- setup
  claim_workdir(config, stage_dir / stage_lib.CONFIG)
  if teacher is not None:
    _check_same_data(teacher, config)
    if (stage_dir / stage_lib.TEACHER).is_file():
      stage_lib.check_teacher(stage_dir, teacher)
  if stage_lib.is_finished(stage_dir):
    _log.info("%s: finished earlier, reading %s", role, stage_dir / stage_lib.RESULT)
    return stage_lib.read_result(stage_dir)
  teacher_stage = None if teacher is None else stage_lib.load(teacher, mesh)
  if teacher_stage is not None and is_main_process() and not (stage_dir / stage_lib.TEACHER).is_file():
    stage_lib.record_teacher(stage_dir, teacher, teacher_stage.text_features)
  _note_stand_ins(config)
  # -- data
  schedule = Schedule.of(config, split)
  batches = loader.train_batches(split.store, split.train, batch_size=config.train.batch_size,
                                 seed=config.train.seed, balanced=config.data.balanced,
                                 worker_count=config.data.worker_count, prefetch=config.data.prefetch)
  cache = None if teacher_stage is None else _teacher_cache(config, stage_dir, split, schedule, mesh, teacher_stage)
  sharded = (sharding.shard_batch(batch if cache is None else cache[0].attach(batch), mesh) for batch in batches)
  # -- model
  built = build(config, schedule.total, mesh)
  step_fn = _step_fn(built, config, mesh, teacher_stage, cached=cache is not None)
  predictor = _predictor_of(built, config, mesh, None if teacher_stage is None else teacher_stage.text_features)
  # -- checkpoint restore
  ckpt = Checkpoints(stage_dir / "checkpoints", keep=config.train.keep_checkpoints)
  start, state = ckpt.resume(built.state, batches)
  log = reporting.MetricsLog(stage_dir / "metrics.jsonl", resume_step=start,
                             tensorboard=config.train.tensorboard) if is_main_process() else None
  if start is not None:
    _log.info("%s: resumed from step %d of %d (%s)", role, start, schedule.total, ckpt.directory)

  def on_eval(state: steps.TrainState, step: int) -> None:
    val = inference.evaluate_rows(predictor(_weights(state)), split.store, split.val, split.class_names,
                                  batch_size=config.train.eval_batch_size)
    metrics = {k: val[k] for k in (*_VAL_METRICS, "loss")}
    if log is not None:
      log.write("val", step, metrics)
    ckpt.save(state, batches, metrics)

  # -- train
  started = time.perf_counter()
  first = next(sharded)
  step_fn = step_fn.compile(state, first)  # once, ahead of time: its compilation is never timed as a step
  compile_seconds = time.perf_counter() - started
  throughput = _Throughput(config.train.batch_size, flops.compiled_flops(step_fn.jitted), flops.peak_tflops())
  try:
    state = _train(role, config, state, step_fn, itertools.chain([first], sharded), schedule, start or 0,
                   on_eval, ckpt, log, throughput)
  except TrainingDiverged:
    EpochStore(split.store).check_finite(split.train)  # non-finite windows are the data's fault, not the rate's
    raise
  ckpt.wait()
  train_seconds = time.perf_counter() - started
  # -- evaluate: the best validation checkpoint, once on the test fold
  best = ckpt.best_step()
  weights = ckpt.restore_weights(best, _weights(state))
  best_predictor = predictor(weights)
  test = inference.evaluate_rows(best_predictor, split.store, split.test, split.class_names,
                                 batch_size=config.train.eval_batch_size)
  # -- report
  result = {"role": role, "params": built.params, "steps_per_epoch": schedule.steps_per_epoch,
            "total_steps": schedule.total, "best_step": best, "best_val": ckpt.metrics(best),
            "fingerprint": inference.fingerprint(weights),
            "detection": tuning.tuned_detection(best_predictor, split, config.data.split.by,
                                                batch_size=config.train.eval_batch_size),
            "train_seconds_this_run": round(train_seconds, 2), "compile_seconds_this_run": round(compile_seconds, 2),
            "step_flops_per_device": throughput.flops_per_step, "resumed_from_step": start, "test": test}
  if teacher_stage is not None:
    result["teacher"] = stage_lib.teacher_record(teacher)
    result["teacher_cache"] = None if cache is None else cache[1]
  ckpt.close()
  if log is not None:
    log.close()
  if is_main_process():
    if teacher_stage is None:
      stage_lib.save_text_features(stage_dir, best_predictor.text_features)
    jsonio.write_json(stage_dir / stage_lib.RESULT, result)
  return result


# ============================================================================= the run


def _check_model(role: str, config: ml_collections.ConfigDict, teacher_embed_dim: int | None) -> None:
  """ConfigError / DataError for a model config that cannot be built or run: the model is built and run on
  one window abstractly (`jax.eval_shape`: shapes only, nothing computed)."""
  n_classes = len(config.data.class_names)

  trainable_filter(config.model)

  def outputs() -> jax.Array:
    model = build_model(config, rngs=nnx.Rngs(0))
    x = jnp.zeros((1, config.data.n_channels, config.data.n_times), jnp.float32)
    features = None if role == "teacher" else jnp.zeros((n_classes, teacher_embed_dim), jnp.float32)
    return prediction_logits(forward(model, x, features), config.model.prediction)

  jax.eval_shape(outputs)


def _check_train_settings(role: str, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh) -> None:
  train = config.train
  for field in ("batch_size", "eval_batch_size"):
    sharding.check_batch_size(train[field], mesh, what=f"{role} config.train.{field}")
  Schedule.check(train)
  if train.keep_checkpoints < 1 or train.seed < 0 or not 0 <= train.alpha <= 1:
    raise ConfigError(f"{role} config.train: keep_checkpoints={train.keep_checkpoints} must be >= 1, "
                      f"seed={train.seed} >= 0 and alpha={train.alpha} in [0, 1]")
  if role == "student" and not train.temperature > 0:
    raise ConfigError(f"student config.train.temperature={train.temperature} must be > 0")


def check_run_config(config: ml_collections.ConfigDict, workdir: Path, mesh: jax.sharding.Mesh
                     ) -> list[tuple[str, ml_collections.ConfigDict]]:
  """The stages of `config` after every check that needs no data; nothing is written before it passes.

  A student learning from another workdir's teacher also needs that teacher
  finished, on the same store and split.
  """
  stages = stage_configs(config)
  split_lib.check_split_settings(config.data.split)
  check_rule(config.data.label_rule)
  teacher_embed_dim = config.model.embed_dim
  for role, stage_config in stages:
    _check_train_settings(role, stage_config, mesh)
    if role == "student" and stage_config.get("teacher_workdir"):
      teacher = teacher_dir(stage_config, workdir)
      stage_lib.read_result(teacher)
      _check_same_data(teacher, stage_config)
      teacher_embed_dim = stage_lib.read_config(teacher).model.embed_dim
    if role == "student" and stage_config.model.teacher_embed_dim != teacher_embed_dim:
      raise ConfigError(f"student config.model.teacher_embed_dim={stage_config.model.teacher_embed_dim}, but its "
                        f"teacher's model.embed_dim is {teacher_embed_dim}: they must be equal")
    _check_model(role, stage_config, teacher_embed_dim)
  return stages


def check_run_data(stages: list[tuple[str, ml_collections.ConfigDict]], split: DataSplit) -> None:
  """The checks that need the split: a training batch fits in an epoch, the optimiser's schedule, the loader's
  settings."""
  for _, stage_config in stages:
    steps.make_optimizer(stage_config, Schedule.of(stage_config, split).total)
    loader.eval_batches(split.store, split.val, batch_size=stage_config.train.eval_batch_size,
                        worker_count=stage_config.data.worker_count, prefetch=stage_config.data.prefetch)


def hold_workdir(workdir: Path) -> contextlib.AbstractContextManager[None]:
  """The workdir's lock (`locks.hold`), taken by the main process."""
  if not is_main_process():
    return contextlib.nullcontext()
  return locks.hold(workdir / locks.LOCK_FILE, what=f"workdir {workdir}")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, Any]:
  """Runs every stage of `config` in `workdir` and writes report.json and the plots (module docstring).

  Returns:
    The report: `stages` (role -> result; a student run also lists its
    teacher), `data` (the split), `workdir`.
  Raises:
    ConfigError, DataError: unusable config or data (the message says which field / file).
    InUse: another run holds the workdir.
    TrainingDiverged: the loss became non-finite.
  """
  # -- setup: every check, then the workdir's lock
  sharding.initialize_distributed(config)
  workdir = Path(workdir)
  mesh = sharding.make_mesh()
  stages = check_run_config(config, workdir, mesh)
  split = split_lib.load_split(config.data)
  check_run_data(stages, split)
  with hold_workdir(workdir):
    return _run_stages(config, workdir, stages, split, mesh)


def _run_stages(config: ml_collections.ConfigDict, workdir: Path, stages: list[tuple[str, ml_collections.ConfigDict]],
                split: DataSplit, mesh: jax.sharding.Mesh) -> dict[str, Any]:
  """`train_and_evaluate` once its checks passed and its lock is held."""
  claim_workdir(config, workdir / "config.json")
  # -- the stages
  results, stage_dirs = {}, {}
  for role, stage_config in stages:
    teacher = None
    if role == "student":
      teacher = stage_dirs["teacher"] = teacher_dir(stage_config, workdir)
      results.setdefault("teacher", stage_lib.read_result(teacher))
    stage_dirs[role] = workdir / role
    results[role] = run_stage(role, stage_config, stage_dirs[role], split, mesh, teacher)
  # -- baseline and report
  report = {"workdir": str(workdir), "data": split.description, "stages": results,
            "baseline": baseline_result(split, workdir / "baseline.json")}
  if is_main_process():
    write_report(report, stage_dirs, workdir)
  return report


def _note_stand_ins(config: ml_collections.ConfigDict) -> None:
  """Says when the offline MiniLM stands in for the paper's bert-base-uncased (README "Training")."""
  text = config.model.text
  if config.model.role == "teacher" and text.enabled and text.checkpoint == "minilm":
    _log.info("note: the text tower is MiniLM-L6 (6 x 384, the offline default) standing in for the paper's "
              "bert-base-uncased (12 x 768); --config.model.text.checkpoint=/path/to/bert-base-uncased matches it")


def baseline_result(split: DataSplit, path: Path) -> dict[str, Any]:
  """The band-power baseline (`eval.baseline`) fitted on the run's training part and scored on its test
  windows with both protocols; computed once per workdir (`path`), then read back."""
  if path.is_file():
    return jsonio.read_json(path)
  store = EpochStore(split.store)
  probs = baseline.band_power_baseline(store, split.train, split.test)
  result = {"method": "per-channel log band power (delta..gamma) + line length, logistic regression",
            "test": evaluation_report(np.asarray(store.y)[split.test], probs, split.class_names)}
  if is_main_process():
    jsonio.write_json(path, result)
  return result


def write_report(report: Mapping[str, Any], stage_dirs: Mapping[str, Path], workdir: Path) -> None:
  """report.json, training_curves.png (from each stage's metrics.jsonl) and confusion_matrices.png."""
  jsonio.write_json(workdir / "report.json", report)
  histories = {role: jsonio.read_jsonl(d / "metrics.jsonl") for role, d in stage_dirs.items()}
  reporting.plot_training_curves(histories, workdir / "training_curves.png")
  plots.plot_confusion_matrices({role: r["test"] for role, r in report["stages"].items()},
                                    workdir / "confusion_matrices.png")
