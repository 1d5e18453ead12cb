"""ECAM on a toy teacher + student trained on synthetic CHB-MIT data, and scripts/plots.py end to end."""

from __future__ import annotations

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
from steps_helpers import fast_compile  # noqa: E402
from test_evaluate import toy_config  # noqa: E402


def _toy_config(tmp: Path) -> ml_collections.ConfigDict:
  """The evaluation tests' toy run, with 8 filters, a window-wise split and a few more epochs."""
  config = toy_config(tmp, teacher_epochs=6, student_epochs=3)
  with config.unlocked():
    config.data.split.by = "window"
    for model in (config.model, config.student.model):
      model.eeg.n_filters = 8
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
