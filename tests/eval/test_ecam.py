"""ECAM on a toy teacher + student trained on synthetic CHB-MIT data, and scripts/plots.py end to end."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import jax
import ml_collections
import numpy as np
import pytest
from matplotlib import image

from jclip_eeg.data.channels import CHBMIT_LABELS, TEN_TWENTY, distinct_names
from jclip_eeg.data.store import EpochStore
from jclip_eeg.data.synthetic import DEFAULT_SEIZURE_CHANNELS
from jclip_eeg.errors import ConfigError, DataError
from jclip_eeg.eval import ecam
from jclip_eeg.train import loop, sharding

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "train"))
from steps_helpers import fast_compile, write_tiny_bert  # noqa: E402

_EEG = dict(n_filters=8, temporal_kernel=9, pool_size=16, pool_stride=8, d_model=8, n_heads=2, ffn_mult=2,
            n_prompts=1, head_hidden=8, n_layers=1)


def _demo_config() -> ml_collections.ConfigDict:
  spec = importlib.util.spec_from_file_location("demo_config", REPO / "configs" / "demo.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def _toy_config(tmp: Path) -> ml_collections.ConfigDict:
  """configs/demo.py shrunk: 4 patients x 2 one-minute recordings, toy models, a few epochs."""
  config = _demo_config()
  bert = write_tiny_bert(tmp / "tiny_bert")
  with config.unlocked():
    config.data.update(dict(store=str(tmp / "store"), root=str(tmp / "raw")))
    config.data.synthetic.update(dict(n_patients=4, duration_s=60, seizures_per_recording=(1, 1),
                                      seizure_duration_s=(10, 14)))
    config.data.split.update(dict(by="window", k=2))
    for model in (config.model, config.student.model):
      model.embed_dim = 8
      model.eeg.update(_EEG)
      model.text.update(dict(checkpoint=str(bert), n_context=2))
    config.student.model.teacher_embed_dim = 8
    for train, epochs in ((config.train, 6), (config.student.train, 3)):
      train.update(dict(epochs=epochs, batch_size=16, eval_batch_size=64, log_every_steps=2, progress=False))
  return config


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
  """The workdir of one finished toy teacher + student run."""
  tmp = tmp_path_factory.mktemp("ecam")
  with fast_compile():
    loop.train_and_evaluate(_toy_config(tmp), tmp / "work")
  return tmp / "work"


@pytest.fixture(scope="module")
def maps(run) -> dict[str, ecam.Ecam]:
  mesh = sharding.make_mesh()
  with fast_compile():
    return {role: ecam.compute_ecam(stage := ecam.load_stage(run, role, mesh), stage.split.test)
            for role in loop.STAGES}


@pytest.mark.parametrize("role", loop.STAGES)
def test_ecam_ranks_injected_channels_first(maps, role):
  e = maps[role]
  seizure = e.class_names.index("seizure")
  injected = np.isin([c.removesuffix("-0").removesuffix("-1") for c in e.channel_names], DEFAULT_SEIZURE_CHANNELS)
  assert injected.sum() == len(DEFAULT_SEIZURE_CHANNELS)
  assert e.n_windows.min() > 0 and np.all(e.maps >= 0)
  assert e.maps[seizure, injected].mean() > 1.2 * e.maps[seizure, ~injected].mean()
  top = e.ranking(seizure)[:len(DEFAULT_SEIZURE_CHANNELS)]
  assert np.isin(top, DEFAULT_SEIZURE_CHANNELS).sum() >= 3, top


def test_channel_scores_are_gradient_times_input(run):
  """For the teacher's own-class logit, scores summed over channels == a finite-difference directional
  derivative along x (Euler: sum_i x_i dz/dx_i = d/de z((1 + e) x) at e = 0)."""
  mesh = sharding.make_mesh()
  stage = ecam.load_stage(run, "teacher", mesh)
  rows = stage.split.test[:4]
  with fast_compile():
    y, scores = ecam.channel_scores(stage, rows)
  x = jax.numpy.asarray(np.asarray(EpochStore(stage.split.store).x)[rows])
  eps = 1e-3
  predict = ecam.predict_logits
  want = (predict(stage, (1 + eps) * x, y) - predict(stage, (1 - eps) * x, y)) / (2 * eps)
  np.testing.assert_allclose(scores.sum(axis=1), want, rtol=2e-2, atol=2e-3)


def test_class_maps_average_positive_scores():
  scores = np.array([[1.0, -2.0], [3.0, 4.0], [-1.0, 5.0]])
  e = ecam.class_maps(np.array([1, 1, 0]), scores, ("normal", "seizure", "other"), ("A", "B"))
  np.testing.assert_allclose(e.maps[:2], [[0.0, 5.0], [2.0, 2.0]])
  assert np.isnan(e.maps[2]).all() and e.n_windows.tolist() == [1, 2, 0]
  np.testing.assert_allclose(e.scaled()[0], [0.0, 1.0])
  assert e.ranking(0) == ["B", "A"]


def test_topomap_positions_are_electrode_midpoints():
  info, sensor_of = ecam.topomap_info(distinct_names(CHBMIT_LABELS))
  names = info.ch_names
  assert len(names) == 21  # T8-P8 twice and P7-T7 / T7-P7 share positions
  assert sensor_of[14] == sensor_of[22] and sensor_of[2] == sensor_of[18]
  pos = {ch["ch_name"]: ch["loc"][:3] for ch in info["chs"]}
  single, _ = ecam.topomap_info(["FP1", "F7", "T3", "T7"])
  one = {ch["ch_name"]: ch["loc"][:3] for ch in single["chs"]}
  np.testing.assert_allclose(pos["FP1-F7"], (one["FP1"] + one["F7"]) / 2, atol=1e-9)
  np.testing.assert_allclose(ecam.per_sensor(np.arange(23.0), sensor_of)[sensor_of[14]], (14 + 22) / 2)
  assert len(ecam.topomap_info(TEN_TWENTY)[0].ch_names) == 19


def test_unknown_electrode_is_a_data_error():
  with pytest.raises(DataError, match="'ECG-X'"):
    ecam.topomap_info(["FP1-F7", "ECG-X"])


def test_missing_stage_is_a_config_error(tmp_path):
  with pytest.raises(ConfigError, match="no finished student"):
    ecam.load_stage(tmp_path, "student", sharding.make_mesh())


def test_plots_script(run, tmp_path):
  out = tmp_path / "plots"
  done = subprocess.run([sys.executable, str(REPO / "scripts" / "plots.py"), "--workdir", str(run), "--out", str(out),
                         "--max_recordings", "2"], capture_output=True, text=True, timeout=300,
                        env={**__import__("os").environ, "JAX_DISABLE_MOST_OPTIMIZATIONS": "1",
                             "PYTHONPATH": str(REPO)})
  assert done.returncode == 0, done.stderr[-3000:]
  pngs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
  assert pngs[:3] == ["confusion_matrices.png", "ecam.png", "roc.png"] and len(pngs) == 5, pngs
  for png in pngs:
    assert min(image.imread(out / png).shape[:2]) > 150
  bad = subprocess.run([sys.executable, str(REPO / "scripts" / "plots.py"), "--workdir", str(tmp_path)],
                       capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(REPO), "PATH": ""})
  assert bad.returncode == 2 and "no <stage>/result.json" in bad.stderr
