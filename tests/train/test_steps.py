"""Teacher / student train steps, predictor and optimiser on a tiny model (1 CPU device)."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from flax import nnx
from steps_helpers import assert_trees_close, build, fast_compile, separable_batch, tiny_config, write_tiny_bert

from jclip_eeg import sharding
from jclip_eeg.errors import ConfigError, DataError
from jclip_eeg.models import trainable_filter
from jclip_eeg.models.clip import TextTokens, forward, prediction_logits
from jclip_eeg.runs import inference
from jclip_eeg.train import steps, teacher_cache

N_STEPS = 8


@pytest.fixture(scope="module", autouse=True)
def _fast_compile():
  with fast_compile():
    yield


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory) -> Path:
  return write_tiny_bert(tmp_path_factory.mktemp("bert"))


def host_copy(tree):
  """A numpy copy (the steps donate their input state); RNG keys become their raw key data."""
  def copy(leaf: jax.Array) -> np.ndarray:
    if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
      leaf = jax.random.key_data(leaf)
    return np.array(leaf)
  return jax.tree.map(copy, tree)


def flat(state: nnx.State) -> dict[tuple, np.ndarray]:
  return {path: np.asarray(v) for path, v in nnx.to_flat_state(state)}


def train(config: ml_collections.ConfigDict, make_step, n_steps: int = N_STEPS):
  """Builds the model of `config`, runs `n_steps` on one fixed batch; returns states and metrics."""
  mesh = sharding.make_mesh()
  tx = steps.make_optimizer(config)
  graphdef, state = steps.create_train_state(build(config), tx, trainable_filter(config.model), mesh=mesh)
  step = make_step(graphdef, tx, config, mesh)
  batch = sharding.shard_batch(separable_batch(), mesh)
  before = host_copy(state)
  history = []
  for _ in range(n_steps):
    state, metrics = step(state, batch)
    history.append(metrics)
  return dict(graphdef=graphdef, before=before, state=state, step=step, batch=batch, mesh=mesh,
              metrics=jax.device_get(history))


@pytest.fixture(scope="module")
def teacher_run(bert_dir):
  return train(tiny_config("teacher", bert_dir), steps.make_teacher_step)


@pytest.fixture(scope="module")
def student_run(bert_dir, teacher_run):
  t_graphdef, t_state = teacher_run["graphdef"], teacher_run["state"]
  teacher_before = host_copy(t_state)
  t_weights = (t_state.params, t_state.rest)
  features = inference.class_text_features(t_weights, graphdef=t_graphdef, mesh=teacher_run["mesh"])

  def make_step(graphdef, tx, config, mesh):
    return steps.make_student_step(graphdef, tx, config, mesh, t_graphdef, t_weights, features)

  run = train(tiny_config("student", bert_dir), make_step)
  return dict(run, teacher=(t_graphdef, t_weights), teacher_before=teacher_before, features=features)


def losses_of(run) -> np.ndarray:
  return np.array([m["loss"] for m in run["metrics"]])


@pytest.mark.parametrize("run_name", ["teacher_run", "student_run"])
def test_steps_reduce_the_loss_on_a_separable_batch(run_name, request):
  run = request.getfixturevalue(run_name)
  losses = losses_of(run)
  assert np.all(np.isfinite(losses)), losses
  assert losses[-2:].mean() < 0.8 * losses[0], losses
  last = run["metrics"][-1]
  assert last["count"] == 8 and 0 <= last["correct"] <= 8 and last["nonfinite"] == 0
  assert int(run["state"].step) == N_STEPS


def test_teacher_metrics_are_consistent(teacher_run):
  first = teacher_run["metrics"][0]
  assert {"clip_loss", "ce_loss", "grad_norm", "logit_scale"} <= set(first)
  np.testing.assert_allclose(first["logit_scale"], 1 / 0.07, rtol=1e-5)  # init value, before the update
  assert first["grad_norm"] > 0


def test_teacher_step_updates_trainable_params_only(teacher_run):
  """text.trainable="prompts": BERT weights and class tokens are bit-identical, BatchNorm stats move."""
  before, after = teacher_run["before"], teacher_run["state"]

  def rest(state, kind) -> dict[tuple, np.ndarray]:
    return flat(nnx.filter_state(state.rest, kind))

  frozen = rest(before, nnx.Param)
  assert any("bert" in map(str, path) for path in frozen)
  for kind in (nnx.Param, TextTokens):
    want, got = rest(before, kind), rest(after, kind)
    assert want.keys() == got.keys()
    for path, value in want.items():
      np.testing.assert_array_equal(got[path], value, err_msg=str(path))
  stats_before, stats_after = rest(before, nnx.BatchStat), rest(after, nnx.BatchStat)
  assert stats_before and all(not np.array_equal(stats_after[p], v) for p, v in stats_before.items())
  params_before, params_after = flat(before.params), flat(after.params)
  assert any(path[-2:] == ("text", "context") for path in params_before)  # the text prompts train
  assert all(not np.array_equal(params_after[p], v) for p, v in params_before.items())
  assert all(v.dtype == np.float32 for v in params_after.values())


def test_student_step_leaves_the_teacher_unchanged(student_run, teacher_run):
  teacher_after = host_copy(teacher_run["state"])
  before, after = jax.tree.leaves(student_run["teacher_before"]), jax.tree.leaves(teacher_after)
  assert len(before) == len(after)
  for b, a in zip(before, after):
    np.testing.assert_array_equal(a, b)
  assert student_run["features"].shape == (2, 8)
  assert {"kl_loss", "ce_loss"} <= set(student_run["metrics"][0])


def _gradient_keeper() -> optax.GradientTransformation:
  """An "optimiser" that leaves the parameters alone and keeps the last gradients as its state, exactly."""
  def update(grads, state, params=None):
    del state, params
    return jax.tree.map(jnp.zeros_like, grads), grads
  return optax.GradientTransformation(lambda params: jax.tree.map(jnp.zeros_like, params), update)


def test_cached_student_step_equals_the_online_step(bert_dir, student_run):
  """Losses, metrics, gradients and the updated BatchNorm / RNG state of two steps agree to 1e-6 (float32) when
  the teacher's logits come precomputed, from another batch composition (as the cache computes them)."""
  config = tiny_config("student", bert_dir)
  (t_graphdef, t_weights), features, mesh = student_run["teacher"], student_run["features"], student_run["mesh"]
  batch = student_run["batch"]
  other_windows = sharding.shard_batch(separable_batch(seed=1), mesh)["x"]
  logits = teacher_cache.batch_logits(t_weights, jnp.concatenate([other_windows, batch["x"]]), features,
                                      graphdef=t_graphdef, mode=config.model.prediction, mesh=mesh)[-len(batch["x"]):]
  tx = _gradient_keeper()
  makers = {"online": lambda g: steps.make_student_step(g, tx, config, mesh, t_graphdef, t_weights, features),
            "cached": lambda g: steps.make_cached_student_step(g, tx, config, mesh, features)}
  batches = {"online": batch, "cached": dict(batch, teacher_logits=logits)}
  runs = {}
  for name, make in makers.items():
    graphdef, state = steps.create_train_state(build(config), tx, trainable_filter(config.model), mesh=mesh)
    step, history = make(graphdef), []
    for _ in range(2):
      state, metrics = step(state, batches[name])
      history.append(jax.device_get(metrics))
    runs[name] = dict(history=history, grads=flat(host_copy(state.opt_state)), rest=flat(host_copy(state.rest)))
  online, cached = runs["online"], runs["cached"]
  for got, want in zip(cached["history"], online["history"]):
    assert got.keys() == want.keys()
    for key in want:
      np.testing.assert_allclose(got[key], want[key], rtol=1e-6, atol=1e-7, err_msg=key)
  assert online["history"][0]["kl_loss"] > 0 and online["history"][0]["grad_norm"] > 0
  assert_trees_close(cached["grads"], online["grads"], rtol=1e-6)
  assert_trees_close(cached["rest"], online["rest"], rtol=1e-6)


def test_cached_student_step_without_teacher_logits_is_a_clear_error(bert_dir, student_run):
  config, mesh = tiny_config("student", bert_dir), student_run["mesh"]
  tx = steps.make_optimizer(config)
  graphdef, state = steps.create_train_state(build(config), tx, trainable_filter(config.model), mesh=mesh)
  step = steps.make_cached_student_step(graphdef, tx, config, mesh, student_run["features"])
  with pytest.raises(DataError, match=r"needs batch\['teacher_logits'\]"):
    step(state, student_run["batch"])


def test_predictor_gives_eval_mode_probabilities(teacher_run, student_run, bert_dir):
  """The Predictor on the frozen class-text features equals the eval-mode model running its own text tower."""
  t_graphdef, t_state, mesh = teacher_run["graphdef"], teacher_run["state"], teacher_run["mesh"]
  mode = tiny_config("teacher", bert_dir).model.prediction
  weights, x = (t_state.params, t_state.rest), teacher_run["batch"]["x"]
  frozen = inference.Predictor(t_graphdef, weights, student_run["features"], mode, mesh)(x)
  with_text_tower = jax.nn.softmax(prediction_logits(forward(inference.merge(t_graphdef, weights), x), mode))
  assert frozen.shape == (8, 2)
  np.testing.assert_allclose(np.sum(frozen, axis=-1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(frozen, with_text_tower, rtol=1e-5, atol=1e-6)  # U_T is the eval-mode features
  again = inference.Predictor(t_graphdef, weights, student_run["features"], mode, mesh)(x)
  np.testing.assert_array_equal(again, frozen)  # no dropout


def test_nonfinite_loss_is_reported_not_raised(teacher_run):
  state = jax.tree.map(jnp.copy, teacher_run["state"])
  batch = dict(teacher_run["batch"], x=jnp.full_like(teacher_run["batch"]["x"], jnp.nan))
  _, metrics = teacher_run["step"](state, batch)
  assert float(metrics["nonfinite"]) == 1.0 and not np.isfinite(float(metrics["loss"]))


def test_bf16_compute_keeps_float32_params_and_a_close_loss(bert_dir, student_run):
  """The student (same seed, teacher and batch) with bfloat16 activations: one step."""
  teacher = student_run["teacher"]

  def make_step(graphdef, tx, config, mesh):
    return steps.make_student_step(graphdef, tx, config, mesh, *teacher, student_run["features"])

  run = train(tiny_config("student", bert_dir, compute_dtype="bfloat16"), make_step, n_steps=1)
  loss = run["metrics"][0]["loss"]
  assert np.isfinite(loss)
  np.testing.assert_allclose(loss, student_run["metrics"][0]["loss"], rtol=1e-2)
  assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(run["state"].params))


def test_split_with_another_filter_is_a_config_error(teacher_run, bert_dir):
  config = tiny_config("teacher", bert_dir)
  tx = optax.sgd(0.1)
  graphdef, state = steps.create_train_state(build(config), tx, nnx.Param)  # BERT too: not the config's filter
  with pytest.raises(ConfigError, match="different filter"):
    steps.make_teacher_step(graphdef, tx, config, teacher_run["mesh"])(state, teacher_run["batch"])


def test_create_train_state_rejects_an_empty_trainable_set(bert_dir):
  with pytest.raises(ConfigError, match="selects no parameters"):
    steps.create_train_state(build(tiny_config("student", bert_dir)), optax.sgd(0.1), nnx.Nothing())


def _optimizer_config(**fields) -> ml_collections.ConfigDict:
  base = dict(learning_rate=1e-2, b1=0.9, b2=0.999, weight_decay=0.1)
  return ml_collections.ConfigDict(dict(optimizer=dict(base, **fields)))


def test_make_optimizer_is_adamw_with_optional_clipping():
  params, grads = {"w": jnp.array([1.0, -2.0])}, {"w": jnp.array([30.0, 40.0])}  # |g| = 50

  def first_update(tx):
    return tx.update(grads, tx.init(params), params)[0]["w"]

  np.testing.assert_allclose(first_update(steps.make_optimizer(_optimizer_config())),
                             first_update(optax.adamw(1e-2, 0.9, 0.999, weight_decay=0.1)), rtol=1e-6)
  # Adam's first step is lr * g / (|g| + eps) per element: with eps = 1 it shows the clipped g = g / 50.
  clipped = steps.make_optimizer(_optimizer_config(grad_clip_norm=1.0, eps=1.0, weight_decay=0.0))
  g = grads["w"] / 50
  np.testing.assert_allclose(first_update(clipped), -1e-2 * g / (np.abs(g) + 1.0), rtol=1e-5)


@pytest.mark.parametrize("fields, total_steps, match", [
    (dict(schedule="linear"), None, "expected 'constant' or 'cosine'"),
    (dict(schedule="cosine", warmup_steps=10), 10, "needs total_steps > warmup_steps"),
    (dict(learning_rate=0.0), None, "learning_rate=0.0 must be > 0"),
    (dict(grad_clip_norm=-1.0), None, "grad_clip_norm=-1.0 must be >= 0"),
])
def test_make_optimizer_rejects_bad_fields(fields, total_steps, match):
  with pytest.raises(ConfigError, match=match):
    steps.make_optimizer(_optimizer_config(**fields), total_steps)


def test_make_optimizer_warmup_cosine_schedule_runs():
  tx = steps.make_optimizer(_optimizer_config(schedule="cosine", warmup_steps=2), total_steps=10)
  params = {"w": jnp.ones(2)}
  state = tx.init(params)
  first, state = tx.update({"w": jnp.ones(2)}, state, params)
  np.testing.assert_array_equal(first["w"], 0.0)  # warmup starts at lr = 0


def test_make_optimizer_needs_the_optimizer_section():
  with pytest.raises(ConfigError, match="no 'optimizer' section"):
    steps.make_optimizer(ml_collections.ConfigDict(dict(train=dict(alpha=0.5))))
