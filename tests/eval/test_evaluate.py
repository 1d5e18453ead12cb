"""evaluate.py on a toy teacher + student run: the run's test fold scores reproduce its result.json exactly.

`toy_config` (also used by the cross-validation and ablation tests) is
configs/demo.py shrunk to 4 synthetic patients x 2 one-minute recordings, a
1-layer 8-wide Conformer and a 2-layer 16-wide BERT, compiled with XLA's cheap
optimisation settings: the runs take seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import ml_collections
import numpy as np
import pytest

from jclip_eeg import config_lib
from jclip_eeg.errors import ConfigError, DataError
from jclip_eeg.eval import evaluate
from jclip_eeg.train import loop

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "train"))
from steps_helpers import fast_compile, write_tiny_bert  # noqa: E402  (shared with the training tests)

_EEG = dict(n_filters=4, temporal_kernel=9, pool_size=16, pool_stride=8, d_model=8, n_heads=2, ffn_mult=2,
            n_prompts=1, head_hidden=8, n_layers=1)


def load_config_file(name: str, arg: str | None = None) -> ml_collections.ConfigDict:
  """`get_config(arg)` of configs/<name>.py."""
  return config_lib.load_config_file(REPO / "configs" / f"{name}.py", arg)


def toy_config(tmp: Path, *, teacher_epochs: int = 2, student_epochs: int = 1) -> ml_collections.ConfigDict:
  """configs/demo.py at toy size; the synthetic data and the tiny BERT live under `tmp` (shared by runs)."""
  config = load_config_file("demo")
  bert = tmp / "tiny_bert"
  if not bert.is_dir():
    write_tiny_bert(bert)
  with config.unlocked():
    config.data.update(dict(store=str(tmp / "store"), root=str(tmp / "raw")))
    config.data.synthetic.update(dict(n_patients=4, duration_s=60, seizures_per_recording=(1, 1),
                                      seizure_duration_s=(10, 14)))
    config.data.split.k = 2
    config.model.embed_dim = 8
    config.model.text.checkpoint = str(bert)
    config.model.text.n_context = 2
    config.student.model.update(dict(embed_dim=8, teacher_embed_dim=8))
    config.student.model.text = config.model.text
    for model in (config.model, config.student.model):
      model.eeg.update(_EEG)
    for train, epochs in ((config.train, teacher_epochs), (config.student.train, student_epochs)):
      train.update(dict(epochs=epochs, batch_size=16, eval_batch_size=64, log_every_steps=2, progress=False,
                        tensorboard=False))
  return config


@pytest.fixture(scope="module")
def fast_jax(tmp_path_factory):
  """XLA's cheap optimisation settings and a persistent compilation cache shared by the eval test modules.

  Compiling dominates the toy runs; folds and ablations of one model reuse its executables.
  """
  settings = {"jax_compilation_cache_dir": str(tmp_path_factory.getbasetemp() / "jax-cache"),
              "jax_persistent_cache_min_compile_time_secs": 0.0, "jax_persistent_cache_min_entry_size_bytes": 0}
  previous = {name: getattr(jax.config, name) for name in settings}
  with fast_compile():
    for name, value in settings.items():
      jax.config.update(name, value)
    yield
    for name, value in previous.items():
      jax.config.update(name, value)


@pytest.fixture(scope="module")
def run(tmp_path_factory, fast_jax) -> dict:
  tmp = tmp_path_factory.mktemp("evaluate")
  workdir = tmp / "run"
  report = loop.train_and_evaluate(toy_config(tmp), workdir)
  return {"tmp": tmp, "workdir": workdir, "report": report}


def _without_extras(report: dict) -> dict:
  return {k: v for k, v in report.items() if k not in ("workdir", "stage", "store", "split", "checkpoint_step")}


@pytest.mark.parametrize("stage", ["teacher", "student"])
def test_test_split_reproduces_the_runs_test_report(run, stage):
  got = evaluate.evaluate_workdir(run["workdir"], stage=stage)
  want = run["report"]["stages"][stage]
  assert got["split"] == "test" and got["checkpoint_step"] == want["best_step"]
  assert _without_extras(got) == want["test"]


def test_all_windows_of_another_store_path(run):
  store = loop.open_store(evaluate.load_stage_config(run["workdir"], "teacher").data)
  got = evaluate.evaluate_workdir(run["workdir"], stage="teacher", store=store.path)
  assert got["split"] == "all" and got["n_samples"] == len(store.y)
  assert np.sum(got["confusion_matrix"]) == len(store.y)
  val = evaluate.evaluate_workdir(run["workdir"], stage="teacher", split="val")
  assert val["n_samples"] == run["report"]["data"]["val"]["windows"]


def test_default_stage_and_clear_errors(run, tmp_path):
  assert evaluate.default_stage(run["workdir"]) == "student"
  assert evaluate.default_stage(tmp_path) == "teacher"
  with pytest.raises(ConfigError, match="no teacher stage"):
    evaluate.evaluate_workdir(tmp_path)
  with pytest.raises(ConfigError, match="split 'train'"):
    evaluate.evaluate_workdir(run["workdir"], split="train")
  with pytest.raises(DataError, match="no prepared store"):
    evaluate.evaluate_workdir(run["workdir"], store=tmp_path / "nothing")


def test_raw_folder_is_prepared_into_a_cache_store(run):
  """The run's raw EDF folder, prepared again with the run's preprocessing, scores like the run's store."""
  data = evaluate.load_stage_config(run["workdir"], "teacher").data
  cache = evaluate.raw_cache_dir(run["workdir"], run["tmp"] / "raw", "synthetic")
  store = evaluate.prepare_raw(data, run["tmp"] / "raw", "synthetic", cache)
  assert store == cache and cache.parent == run["workdir"] / "eval_stores"
  got = evaluate.evaluate_workdir(run["workdir"], stage="teacher", store=store)
  want = evaluate.evaluate_workdir(run["workdir"], stage="teacher", store=data.store)
  assert _without_extras(got) == _without_extras(want)


def test_script_error_is_one_line_with_status_2(tmp_path):
  done = subprocess.run(
      [sys.executable, str(REPO / "scripts" / "evaluate.py"), "--workdir", str(tmp_path), "--out",
       str(tmp_path / "r.json")], capture_output=True, text=True, timeout=120,
      env={**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)})
  assert done.returncode == 2
  assert done.stderr.strip().splitlines()[-1].startswith("evaluate: error: ") and "no teacher stage" in done.stderr
