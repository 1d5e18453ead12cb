"""jit-compiled teacher / student train steps (paper Algorithms 1 and 2).

The model lives as (GraphDef, TrainState): each step merges it inside a plain
`jax.jit` (the flax `examples/gemma` pattern), runs forward and backward,
splits the updated variables out again and returns the new state, which is
donated so parameters are updated in place. Nothing inside a step syncs with
the host: metrics come back as on-device scalars for the loop to fetch at log
steps. The student step comes in two forms with the same losses and gradients:
online (`make_student_step`: the frozen teacher runs on every batch) and cached
(`make_cached_student_step`: the batch carries the teacher's logits, computed
once per window before training, `train/teacher_cache.py`). Eval-mode prediction is `jclip_eeg.runs.inference.Predictor`, fed the
state's `(params, rest)`.

Data parallel: the state is replicated and the batch split over the "data"
mesh axis (`sharding.py`); the losses reduce over the GLOBAL batch.

Config fields read here:
  model.prediction ("clip" | "head" | "mean"), model.role, model.text.trainable
    (via `clip.trainable_filter`).
  train.alpha, train.batch_size (global), train.temperature (student only).
  optimizer.learning_rate, b1, b2, weight_decay; optional eps (1e-8),
    grad_clip_norm (0 = off), schedule ("constant" | "cosine"), warmup_steps (0).

Metrics of a step (float32 scalars, replicated): loss, ce_loss (the loss's
cross-entropy term: CE(head) for the teacher, CE(y_S, y) for the student),
correct and count (right predictions of the `model.prediction` logits / valid
windows: sum them over steps for accuracy),
grad_norm, logit_scale, nonfinite (1.0 when the loss or a gradient is
NaN/inf; the update is applied anyway: sum it over steps, stop the run if > 0
and resume from the last checkpoint); the teacher adds clip_loss (L1), the student
kl_loss (KL(teacher || student) at temperature t).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx
from jax.sharding import Mesh

from jclip_eeg import sharding
from jclip_eeg.errors import ConfigError, DataError
from jclip_eeg.models.clip import CLIPModel, forward, prediction_logits, trainable_filter
from jclip_eeg.train import losses

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


class TrainState(flax.struct.PyTreeNode):
  """Everything a checkpoint needs, as one pytree.

  Attributes:
    step: int32 scalar, optimiser steps taken.
    params: the trainable parameters (float32 master weights); the optimiser sees only these.
    rest: every other variable of the model: frozen parameters, BatchNorm
      statistics, RNG keys and counters, tokenised class text.
    opt_state: the optax state of `params`.
  """
  step: jax.Array
  params: nnx.State
  rest: nnx.State
  opt_state: optax.OptState


@dataclasses.dataclass(frozen=True)
class BoundStep:
  """A jitted function of (state, batch, *constants) used as `fn(state, batch)`.

  The constants (e.g. the frozen teacher) are passed as arguments rather than
  closed over, so they are not baked into the compiled program.
  """
  jitted: Any
  constants: tuple[Any, ...]

  def __call__(self, state: TrainState, batch: Any) -> Any:
    return self.jitted(state, batch, *self.constants)

  def lower(self, state: TrainState, batch: Any) -> Any:
    """`jax.jit(...).lower` for cost analysis (FLOPs)."""
    return self.jitted.lower(state, batch, *self.constants)

  def compile(self, state: TrainState, batch: Any) -> BoundStep:
    """This step compiled ahead of time for the shapes of (state, batch): call it like the jitted one;
    `compiled.jitted.cost_analysis()` holds XLA's FLOP count of exactly the program that runs."""
    return BoundStep(self.lower(state, batch).compile(), self.constants)


def make_optimizer(config: ml_collections.ConfigDict, total_steps: int | None = None) -> optax.GradientTransformation:
  """AdamW from `config.optimizer` (fields: module docstring); optional clipping and warmup-cosine.

  Weight decay applies to every trainable parameter, as PyTorch's AdamW does.

  Args:
    config: the run config.
    total_steps: length of the run; required for schedule="cosine".
  """
  opt = _section(config, "optimizer")
  tx = optax.adamw(_learning_rate(opt, total_steps), b1=opt.b1, b2=opt.b2, eps=opt.get("eps", 1e-8),
                   weight_decay=opt.weight_decay)
  clip_norm = opt.get("grad_clip_norm", 0.0)
  if clip_norm < 0:
    raise ConfigError(f"config.optimizer.grad_clip_norm={clip_norm} must be >= 0 (0 = off)")
  return optax.chain(optax.clip_by_global_norm(clip_norm), tx) if clip_norm else tx


def _section(config: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
  if name not in config:
    raise ConfigError(f"config has no '{name}' section (sections: {sorted(config.keys())})")
  return config[name]


def _learning_rate(opt: ml_collections.ConfigDict, total_steps: int | None) -> optax.ScalarOrSchedule:
  lr, warmup = opt.learning_rate, opt.get("warmup_steps", 0)
  if lr <= 0 or warmup < 0:
    raise ConfigError(f"config.optimizer: learning_rate={lr} must be > 0 and warmup_steps={warmup} >= 0")
  schedule = opt.get("schedule", "constant")
  if schedule == "constant":
    return optax.linear_schedule(0.0, lr, warmup) if warmup else lr
  if schedule == "cosine":
    if not total_steps or total_steps <= warmup:
      raise ConfigError(f"config.optimizer.schedule='cosine' needs total_steps > warmup_steps={warmup}, "
                        f"got {total_steps}")
    return optax.warmup_cosine_decay_schedule(0.0, lr, warmup, total_steps)
  raise ConfigError(f"config.optimizer.schedule={schedule!r}, expected 'constant' or 'cosine'")


def create_train_state(model: nnx.Module, tx: optax.GradientTransformation, trainable: nnx.filterlib.Filter, *,
                       mesh: Mesh | None = None) -> tuple[nnx.GraphDef, TrainState]:
  """Splits `model` (put into train mode) into its GraphDef and a fresh TrainState.

  Args:
    model: a CLIPModel or StudentModel.
    tx: from `make_optimizer`.
    trainable: which variables are `params`, normally `clip.trainable_filter(config.model)`
      (the steps re-split with that filter).
    mesh: if given, the state is placed replicated on it (needed with several processes).
  """
  model.train()
  graphdef, params, rest = nnx.split(model, trainable, ...)
  if not jax.tree.leaves(params):
    raise ConfigError("the trainable filter selects no parameters: nothing to train "
                      "(check config.model.text.trainable)")
  state = TrainState(step=jnp.zeros((), jnp.int32), params=params, rest=rest, opt_state=tx.init(params))
  return graphdef, state if mesh is None else sharding.replicate(state, mesh)


def _merge_for_grad(graphdef: nnx.GraphDef, params: nnx.State, rest: nnx.State) -> nnx.Module:
  """The model to run inside `jax.grad`.

  Copied Variables belong to the grad trace, so BatchNorm and RNG updates may
  mutate them; merging without a copy raises TraceContextError.
  """
  return nnx.merge(graphdef, params, rest, copy=True)


def _split_rest(model: nnx.Module, trainable: nnx.filterlib.Filter, params: nnx.State) -> nnx.State:
  """The non-trainable variables after a forward pass (updated BatchNorm stats, RNG counters)."""
  _, new_params, rest = nnx.split(model, trainable, ...)
  if jax.tree.structure(new_params) != jax.tree.structure(params):
    raise ConfigError("the state's params were split with a different filter than "
                      "clip.trainable_filter(config.model): pass that filter to create_train_state")
  return rest


def _count_metrics(logits: jax.Array, batch: Batch) -> Metrics:
  """Correct predictions and valid windows of logits (B, n_classes), as float32 sums."""
  valid = batch["valid"]
  correct = (jnp.argmax(logits, axis=-1) == batch["y"]) & valid
  return dict(correct=correct.sum(dtype=jnp.float32), count=valid.sum(dtype=jnp.float32))


def _apply_gradients(tx: optax.GradientTransformation, state: TrainState, grads: nnx.State,
                     rest: nnx.State) -> TrainState:
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  return TrainState(step=state.step + 1, params=optax.apply_updates(state.params, updates), rest=rest,
                    opt_state=opt_state)


def _with_valid(batch: Batch) -> Batch:
  """`valid` defaults to all-True, so batches without padding need not carry it."""
  if "valid" in batch:
    return batch
  return dict(batch, valid=jnp.ones(batch["y"].shape, bool))


def _common_metrics(loss: jax.Array, grads: nnx.State, outputs: dict[str, jax.Array]) -> Metrics:
  grad_norm = optax.tree.norm(grads)
  nonfinite = ~(jnp.isfinite(loss) & jnp.isfinite(grad_norm))
  return dict(loss=loss, grad_norm=grad_norm, logit_scale=outputs["logit_scale"],
              nonfinite=nonfinite.astype(jnp.float32))


def _jit_step(step_fn: Callable, mesh: Mesh, n_constants: int = 0) -> Any:
  """jax.jit with the state donated and replicated, the batch split on "data", outputs replicated."""
  replicated = sharding.replicated(mesh)
  return jax.jit(step_fn, donate_argnums=0, out_shardings=replicated,
                 in_shardings=(replicated, sharding.batch_sharded(mesh)) + (replicated,) * n_constants)


def make_teacher_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation, config: ml_collections.ConfigDict,
                      mesh: Mesh) -> BoundStep:
  """Algorithm 1: L = alpha * L1(CLIP, both ways over the class prompts) + (1 - alpha) * CE(head).

  The returned function takes the state (donated) and a batch (x (B, C, T)
  float32, y (B,) int32, optional valid (B,) bool) and returns (new state,
  metrics). Dropout is on and BatchNorm statistics are updated into `rest`;
  the class-text features run once per step (one text-tower pass over the K
  class sentences), not per sample.
  """
  alpha, mode, trainable = config.train.alpha, config.model.prediction, trainable_filter(config.model)
  sharding.check_batch_size(config.train.batch_size, mesh)

  def loss_fn(params: nnx.State, rest: nnx.State, batch: Batch):
    model = _merge_for_grad(graphdef, params, rest)
    out = model(batch["x"])
    clip_term, _ = losses.clip_loss(out["eeg_features"], out["text_features"], out["logit_scale"], batch["y"],
                                    batch["valid"])
    loss = losses.teacher_loss(clip_term, out["head_logits"], batch["y"], alpha, batch["valid"])
    ce = losses.cross_entropy(out["head_logits"], batch["y"], batch["valid"])
    metrics = dict(clip_loss=clip_term, ce_loss=ce, **_count_metrics(prediction_logits(out, mode), batch))
    return loss, (out, metrics, _split_rest(model, trainable, params))

  def step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
    batch = _with_valid(batch)
    (loss, (out, metrics, rest)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, state.rest, batch)
    return _apply_gradients(tx, state, grads, rest), dict(metrics, **_common_metrics(loss, grads, out))

  return BoundStep(_jit_step(step, mesh), ())


def teacher_logits(teacher_graphdef: nnx.GraphDef, teacher_vars: tuple[nnx.State, ...], features: jax.Array,
                   x: jax.Array, mode: str) -> jax.Array:
  """The frozen teacher's `mode` logits (B, n_classes) float32 on x (B, C, T): eval mode, its frozen class-text
  features (n_classes, E_T), no gradient. What the online student step computes per batch and the
  teacher-logit cache (`train/teacher_cache.py`) computes once per window."""
  teacher = nnx.merge(teacher_graphdef, *teacher_vars)
  if not isinstance(teacher, CLIPModel):
    raise ConfigError(f"the teacher state holds a {type(teacher).__name__}, expected a CLIPModel")
  teacher.eval()
  return jax.lax.stop_gradient(prediction_logits(forward(teacher, x, features), mode))


def _student_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation, config: ml_collections.ConfigDict,
                  mesh: Mesh, targets: Callable[..., jax.Array]) -> Callable:
  """Algorithm 2's step `step(state, batch, features, *teacher)`; `targets(batch, features, *teacher)` gives the
  teacher's logits y_T (B, n_classes) of the batch."""
  alpha, mode, trainable = config.train.alpha, config.model.prediction, trainable_filter(config.model)
  temperature = config.train.temperature
  if temperature <= 0:
    raise ConfigError(f"config.train.temperature={temperature} must be > 0")
  sharding.check_batch_size(config.train.batch_size, mesh)

  def loss_fn(params: nnx.State, rest: nnx.State, batch: Batch, features: jax.Array, target: jax.Array):
    model = _merge_for_grad(graphdef, params, rest)
    out = model(batch["x"], features)
    logits = prediction_logits(out, mode)
    loss = losses.distillation_loss(logits, target, batch["y"], alpha, temperature, batch["valid"])
    ce = losses.cross_entropy(logits, batch["y"], batch["valid"])
    # alpha = 0 leaves (1 - 0) * t^2 * KL: the soft term alone, reported without the t^2 factor.
    kl = losses.distillation_loss(logits, target, batch["y"], 0.0, temperature, batch["valid"]) / temperature**2
    metrics = dict(ce_loss=ce, kl_loss=kl, **_count_metrics(logits, batch))
    return loss, (out, metrics, _split_rest(model, trainable, params))

  def step(state: TrainState, batch: Batch, features: jax.Array, *teacher: Any) -> tuple[TrainState, Metrics]:
    batch = _with_valid(batch)
    target = targets(batch, features, *teacher)
    (loss, (out, metrics, rest)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, state.rest, batch, features, target)
    return _apply_gradients(tx, state, grads, rest), dict(metrics, **_common_metrics(loss, grads, out))

  return step


def make_student_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation, config: ml_collections.ConfigDict,
                      mesh: Mesh, teacher_graphdef: nnx.GraphDef, teacher_weights: tuple[nnx.State, ...],
                      class_text_features: jax.Array) -> BoundStep:
  """Algorithm 2: L = alpha * CE(y_S, y) + (1 - alpha) * t^2 * KL(softmax(y_T / t) || softmax(y_S / t)).

  The teacher (`teacher_weights`: its (params, rest)) runs in eval mode on its
  frozen class-text features U_T (`inference.class_text_features`,
  (n_classes, E_T)) under stop_gradient and is never updated; the student
  projects into U_T's space. y_T and y_S are the
  `config.model.prediction` logits of each. Call as `step(state, batch)` like
  the teacher step (the teacher is passed to the compiled program as an
  argument, not baked in). `make_cached_student_step` is the same step with
  y_T read from the batch instead.
  """
  mode = config.model.prediction

  def online(batch: Batch, features: jax.Array, teacher_vars: tuple[nnx.State, ...]) -> jax.Array:
    return teacher_logits(teacher_graphdef, teacher_vars, features, batch["x"], mode)

  step = _student_step(graphdef, tx, config, mesh, online)
  return BoundStep(_jit_step(step, mesh, n_constants=2), (sharding.replicate(class_text_features, mesh),
                                                          sharding.replicate(tuple(teacher_weights), mesh)))


def make_cached_student_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation,
                             config: ml_collections.ConfigDict, mesh: Mesh,
                             class_text_features: jax.Array) -> BoundStep:
  """`make_student_step` with the teacher's logits precomputed: the batch carries them as `teacher_logits`
  (B, n_classes) float32 (`teacher_cache.TeacherLogits.attach`), and no teacher runs in the step.

  Same losses, metrics and gradients as the online step given the same y_T.
  """
  def cached(batch: Batch, features: jax.Array) -> jax.Array:
    if "teacher_logits" not in batch:
      raise DataError(f"the cached student step needs batch['teacher_logits'] (the teacher's logits of each "
                      f"window); the batch has {sorted(batch)}")
    return batch["teacher_logits"]

  step = _student_step(graphdef, tx, config, mesh, cached)
  return BoundStep(_jit_step(step, mesh, n_constants=1), (sharding.replicate(class_text_features, mesh),))
