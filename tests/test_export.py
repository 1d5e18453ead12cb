"""jax.export of tiny untrained stages: the same probabilities as the in-process model at two batch sizes, a
serialised round trip, and an artefact that loads with only jax + numpy.

No training runs here: each stage directory is written the way the training loop leaves it (config.json,
result.json, an Orbax checkpoint saved by `checkpoint.Checkpoints`) from a freshly built tiny model.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grain
import jax
import ml_collections
import numpy as np
import pytest

from jclip_eeg import config_lib, export
from jclip_eeg.errors import DataError
from jclip_eeg.eval import detection
from jclip_eeg.train import loop, sharding
from jclip_eeg.train.checkpoint import SELECTION_METRIC, Checkpoints

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "train"))
from steps_helpers import fast_compile, write_tiny_bert  # noqa: E402  (the tiny BERT of the training tests)

_EEG = dict(n_filters=4, temporal_kernel=9, pool_size=16, pool_stride=8, d_model=8, n_heads=2, ffn_mult=2,
            n_prompts=1, head_hidden=8, n_layers=1)
_N_TIMES = 64  # 1/4-s windows: the program's size and compile time scale with them


def _stage_config(role: str, bert: Path) -> ml_collections.ConfigDict:
  """A synthetic-data `role` config with a 1-layer, 8-wide Conformer and the tiny BERT."""
  config = config_lib.get_config("synthetic", role)
  with config.unlocked():
    config.data.n_times = _N_TIMES
    config.model.eeg.update(_EEG)
    config.model.embed_dim = 8
    config.model.text.update(dict(checkpoint=str(bert), n_context=2, max_length=32))
    if role == "student":
      config.model.teacher_embed_dim = 8
      config.student.teacher_workdir = ""  # the teacher is the sibling stage directory
  return config


def _write_stage(stage_dir: Path, config: ml_collections.ConfigDict) -> None:
  """A finished stage as the loop leaves it, holding the freshly initialised model as its best checkpoint."""
  built = loop.build(config, 1, sharding.make_mesh(jax.devices()[:1]))
  checkpoints = Checkpoints(stage_dir / "checkpoints", async_save=False)
  checkpoints.save(built.state, iter(grain.MapDataset.range(1).to_iter_dataset()), {SELECTION_METRIC: 0.5})
  checkpoints.close()
  (stage_dir / "config.json").write_text(config.to_json())
  (stage_dir / "result.json").write_text(json.dumps({"total_steps": 1, "best_step": 0}))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
  """W/teacher and W/student of tiny untrained models; XLA's cheap optimisation settings for the module."""
  tmp = tmp_path_factory.mktemp("export")
  bert = write_tiny_bert(tmp / "bert")
  with fast_compile():
    for role in ("teacher", "student"):
      _write_stage(tmp / "work" / role, _stage_config(role, bert))
    yield tmp / "work"


@pytest.fixture(scope="module")
def stages(workdir) -> dict[str, detection.StageModel]:
  return {role: detection.load_stage(workdir / role) for role in ("teacher", "student")}


def _windows(n: int, seed: int) -> np.ndarray:
  return np.random.default_rng(seed).normal(size=(n, 23, _N_TIMES)).astype(np.float32)


@pytest.mark.parametrize("role", ["student", "teacher"])
def test_exported_matches_in_process_model_at_two_batch_sizes(workdir, stages, role):
  exported, meta = export.export_program(workdir / role)
  model = stages[role]
  x = _windows(7, seed=0)
  for batch in (3, 7):
    want = np.asarray(model.predict_fn(model.state, x[:batch]))
    got = np.asarray(exported.call(x[:batch]))
    assert got.shape == (batch, len(meta["class_names"]))
    np.testing.assert_allclose(got, want, atol=1e-6)
  assert meta["role"] == role and meta["window_samples"] == _N_TIMES and len(meta["channel_names"]) == 23


def test_artefact_round_trip_and_loads_with_only_jax_and_numpy(workdir, stages, tmp_path):
  x = _windows(5, seed=1)
  want = {role: np.asarray(model.predict_fn(model.state, x)) for role, model in stages.items()}
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
