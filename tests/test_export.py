"""jax.export of tiny untrained stages: the same probabilities as the in-process model at two batch sizes, a
serialised round trip, an artefact that loads with only jax + numpy, and a student folder that works alone.

No training runs here: each stage directory is written the way the training loop leaves it (config.json,
class-text features, result.json, an Orbax checkpoint saved by `checkpoints.Checkpoints`) from a freshly
built tiny model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from steps_helpers import fast_compile, write_tiny_bert
from untrained_stage import N_TIMES, stage_config, write_stage

from jclip_eeg import export
from jclip_eeg.data import synthetic
from jclip_eeg.errors import DataError
from jclip_eeg.eval import events
from jclip_eeg.runs import inference, stage as stage_lib

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
  """W/teacher and W/student of tiny untrained models; XLA's cheap optimisation settings for the module."""
  tmp = tmp_path_factory.mktemp("export")
  bert = write_tiny_bert(tmp / "bert")
  with fast_compile():
    features = write_stage(tmp / "work" / "teacher", stage_config("synthetic", "teacher", bert))
    write_stage(tmp / "work" / "student", stage_config("synthetic", "student", bert), features)
    yield tmp / "work"


@pytest.fixture(scope="module")
def stages(workdir) -> dict[str, inference.Predictor]:
  return {role: stage_lib.load(workdir / role).predictor() for role in ("teacher", "student")}


def _windows(n: int, seed: int) -> np.ndarray:
  return np.random.default_rng(seed).normal(size=(n, 23, N_TIMES)).astype(np.float32)


@pytest.mark.parametrize("role", ["student", "teacher"])
def test_exported_matches_in_process_model_at_two_batch_sizes(workdir, stages, role):
  exported, meta = export.export_program(workdir / role)
  predictor = stages[role]
  x = _windows(7, seed=0)
  for batch in (3, 7):
    want = np.asarray(predictor(x[:batch]))
    got = np.asarray(exported.call(x[:batch]))
    assert got.shape == (batch, len(meta["class_names"]))
    np.testing.assert_allclose(got, want, atol=1e-6)
  assert meta["role"] == role and meta["window_samples"] == N_TIMES and len(meta["channel_names"]) == 23
  assert meta["montage"] == "native"  # detection derives the channels from any file with it
  assert meta["detection"]["min_duration_s"] == 3.0  # the stage's own detection settings travel with it
  assert meta["fingerprint"] == json.loads((workdir / role / "result.json").read_text())["fingerprint"]


def test_artefact_round_trip_and_loads_with_only_jax_and_numpy(workdir, stages, tmp_path):
  x = _windows(5, seed=1)
  want = {role: np.asarray(predictor(x)) for role, predictor in stages.items()}
  sizes = {}
  for role in want:
    out = tmp_path / f"{role}.jaxexport"
    sizes[role] = export.export_stage(workdir / role, out)
    assert sizes[role]["artefact"] == out.stat().st_size > sizes[role]["program"] > 0
    np.testing.assert_allclose(export.load(out)(x), want[role], atol=1e-6)
  print(f"artefact sizes (bytes): {sizes}")
  # The frozen text tower is not baked in: the teacher's artefact is about the student's size.
  assert sizes["teacher"]["program"] < 3 * sizes["student"]["program"]
  np.save(tmp_path / "x.npy", x)
  code = (f"import sys, json, numpy as np; from jclip_eeg import export; m = export.load({str(out)!r}); "
          f"np.save({str(tmp_path / 'p.npy')!r}, m(np.load({str(tmp_path / 'x.npy')!r}))); "
          "print(json.dumps(sorted(k for k in sys.modules if k.startswith(('jclip_eeg', 'flax', 'optax', "
          "'ml_collections', 'transformers', 'orbax', 'grain')))))")
  done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                        env={"PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"})
  assert done.returncode == 0, done.stderr[-3000:]
  assert json.loads(done.stdout.splitlines()[-1]) == ["jclip_eeg", "jclip_eeg.errors", "jclip_eeg.export"]
  np.testing.assert_allclose(np.load(tmp_path / "p.npy"), want["student"], atol=1e-6)


def test_load_rejects_other_files(tmp_path):
  with pytest.raises(DataError, match="not found"):
    export.load(tmp_path / "absent.jaxexport")
  (tmp_path / "bad.jaxexport").write_text("not a zip")
  with pytest.raises(DataError, match="not an exported jclip-eeg model"):
    export.load(tmp_path / "bad.jaxexport")


def test_a_student_folder_copied_alone_detects_and_exports(workdir, tmp_path):
  """runs/x/student copied anywhere works without its teacher: scripts/detect.py and scripts/export.py."""
  alone = tmp_path / "elsewhere" / "my_student"
  shutil.copytree(workdir / "student", alone)
  raw = tmp_path / "raw"
  synthetic.generate(raw, n_patients=1, recordings_per_patient=1, duration_s=60, seizures_per_recording=(1, 1),
                     seizure_duration_s=(10, 14))
  edf_path = next(raw.glob("chb01/*.edf"))
  env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu", JAX_DISABLE_MOST_OPTIMIZATIONS="1")
  artefact = tmp_path / "student.jaxexport"
  runs = {"export": ["--model", str(alone), "--out", str(artefact)],
          "detect": ["--model", str(alone), "--edf", str(edf_path), "--out", str(tmp_path / "stage.tsv")]}
  for script, argv in runs.items():
    done = subprocess.run([sys.executable, str(REPO / "scripts" / f"{script}.py"), *argv], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
  assert "minimum 3 s" in done.stdout  # detect used the stage's own settings
  done = subprocess.run([sys.executable, str(REPO / "scripts" / "detect.py"), "--model", str(artefact), "--edf",
                         str(edf_path), "--out", str(tmp_path / "artefact.tsv")], env=env, capture_output=True,
                        text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  assert events.read_tsv(tmp_path / "artefact.tsv") == events.read_tsv(tmp_path / "stage.tsv")
