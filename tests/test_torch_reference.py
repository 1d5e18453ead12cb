"""The PyTorch reference (benchmarks/torch_reference.py) computes what our JAX models compute.

Our NNX weights are copied into the torch twin; eval-mode outputs and the
losses on fixed inputs must agree to 1e-4 in float32 (teacher with a tiny
random BERT, student), and the paper-sized Conformers must have the same
parameter counts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import torch_reference as tr  # noqa: E402  pylint: disable=wrong-import-position
from steps_helpers import BATCH, build, fast_compile, separable_batch, tiny_config, write_tiny_bert  # noqa: E402

from jclip_eeg import config_lib  # noqa: E402
from jclip_eeg.models import clip  # noqa: E402
from jclip_eeg.models.conformer import build_conformer  # noqa: E402
from jclip_eeg.train import losses  # noqa: E402

TOL = 1e-4


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory) -> Path:
  return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


def _twin(config, jax_model):
  """The torch model of `config` holding `jax_model`'s weights, in eval mode."""
  n_sentences = jax_model.input_ids.shape[0] if config.model.role == "teacher" else 0
  model = tr.build_model(config, n_sentences)
  tr.load_nnx_state(model, tr.nnx_arrays(jax_model))
  return model.eval()


def _perturb_batchnorm(jax_model) -> None:
  """Non-trivial running statistics, so the eval-mode BatchNorm mapping is exercised."""
  norm = jax_model.eeg.stem.norm
  rng = np.random.default_rng(1)
  norm.mean[...] = jnp.asarray(rng.normal(size=norm.mean.shape), jnp.float32)
  norm.var[...] = jnp.asarray(rng.uniform(0.5, 2.0, size=norm.var.shape), jnp.float32)


def _close(got, want) -> None:
  np.testing.assert_allclose(np.asarray(got.detach()), np.asarray(want), rtol=TOL, atol=TOL)


@pytest.fixture(scope="module")
def teacher(bert_dir):
  config = tiny_config("teacher", bert_dir)
  model = build(config)
  _perturb_batchnorm(model)
  model.eval()
  return config, model, _twin(config, model)


def test_teacher_outputs_and_loss_match(teacher):
  config, jax_model, torch_model = teacher
  batch = separable_batch()
  with fast_compile():
    out = nnx.jit(lambda m, x: m(x))(jax_model, jnp.asarray(batch["x"]))
    clip_term, _ = losses.clip_loss(out["eeg_features"], out["text_features"], out["logit_scale"], batch["y"])
    want_loss = losses.teacher_loss(clip_term, out["head_logits"], batch["y"], config.train.alpha)
  with torch.no_grad():
    got = torch_model(torch.from_numpy(batch["x"]))
    got_loss = tr.teacher_loss(got, torch.from_numpy(batch["y"]).long(), config.train.alpha)
  for key in ("clip_logits", "head_logits", "eeg_features", "text_features"):
    _close(got[key], out[key])
  _close(got_loss, want_loss)
  # The check can fail: another text tower output moves the CLIP logits.
  assert float(np.abs(np.asarray(out["clip_logits"])).max()) > 0.1


def test_student_outputs_and_distillation_loss_match(teacher, bert_dir):
  config = tiny_config("student", bert_dir)
  jax_model = build(config)
  _perturb_batchnorm(jax_model)
  jax_model.eval()
  torch_model = _twin(config, jax_model)
  batch = separable_batch(seed=3)
  features = np.random.default_rng(0).normal(size=(2, config.model.teacher_embed_dim)).astype(np.float32)
  features /= np.linalg.norm(features, axis=-1, keepdims=True)
  teacher_logits = np.random.default_rng(1).normal(size=(BATCH, 2)).astype(np.float32)
  alpha, t = config.train.alpha, config.train.temperature
  with fast_compile():
    out = nnx.jit(lambda m, x, f: m(x, f))(jax_model, jnp.asarray(batch["x"]), jnp.asarray(features))
    logits = clip.prediction_logits(out, config.model.prediction)
    want_loss = losses.distillation_loss(logits, teacher_logits, batch["y"], alpha, t)
  with torch.no_grad():
    got = torch_model(torch.from_numpy(batch["x"]), torch.from_numpy(features))
    got_logits = tr.prediction_logits(got, config.model.prediction)
    got_loss = tr.distillation_loss(got_logits, torch.from_numpy(teacher_logits),
                                    torch.from_numpy(batch["y"]).long(), alpha, t)
  _close(got_logits, logits)
  _close(got["head_logits"], out["head_logits"])
  _close(got_loss, want_loss)


def test_unmapped_torch_tensor_is_reported(teacher):
  config, jax_model, _ = teacher
  torch_model = tr.build_model(config, jax_model.input_ids.shape[0])
  arrays = {k: v for k, v in tr.nnx_arrays(jax_model).items() if k[-1] != "log_scale"}
  with pytest.raises(KeyError, match="clip_head.log_scale"):
    tr.load_nnx_state(torch_model, arrays)


@pytest.mark.parametrize("role", ["teacher", "student"])
def test_paper_size_conformer_param_counts_match(role):
  config = config_lib.get_config("chbmit", role)
  data = config.data
  abstract = nnx.eval_shape(lambda: build_conformer(config.model.eeg, n_channels=data.n_channels,
                                                    n_times=data.n_times, embed_dim=config.model.embed_dim,
                                                    rngs=nnx.Rngs(0)))
  torch_eeg = tr.Conformer(data.n_channels, data.n_times, embed_dim=config.model.embed_dim, **config.model.eeg)
  n_torch = sum(p.numel() for p in torch_eeg.parameters())
  assert n_torch == clip.count_params(abstract)
  assert n_torch > 10_000_000
