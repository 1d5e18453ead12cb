"""scripts/train.py end to end in subprocesses: the demo pipeline at toy size, and exact resume after kill -9.

One uninterrupted run (teacher then student on synthetic data, a 1-layer
Conformer and a 2-layer 16-wide BERT) is checked for its outputs and is the
reference for the resume test: a second run of the same command is killed
with SIGKILL after the teacher's first checkpoint, a third run resumes it and
is killed after the student's first checkpoint, and a fourth run ends it: its
metrics and final parameters must equal the reference exactly (the student
resumes with its teacher-logit cache read back). The runs share a persistent
JAX compilation cache and compile with XLA's cheap optimisation settings: both
only save compile time (every run uses the same executables).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from matplotlib import image
from steps_helpers import write_tiny_bert

from jclip_eeg.train import reporting

REPO = Path(__file__).resolve().parents[2]
_EEG = dict(n_filters=4, temporal_kernel=9, pool_size=16, pool_stride=8, d_model=8, n_heads=2, ffn_mult=2,
            n_prompts=1, head_hidden=8, n_layers=1)


def _overrides(tmp: Path, bert: Path) -> list[str]:
  """configs/demo.py shrunk: 4 patients x 2 one-minute recordings, toy models, a few epochs."""
  values = {
      "data.store": tmp / "store", "data.root": tmp / "raw",
      "data.synthetic.n_patients": 4, "data.synthetic.duration_s": 60,
      "data.synthetic.seizures_per_recording": "(1, 1)", "data.synthetic.seizure_duration_s": "(10, 14)",
      "data.split.k": 2, "model.embed_dim": 8, "model.text.checkpoint": bert, "model.text.n_context": 2,
      "student.model.embed_dim": 8, "student.model.teacher_embed_dim": 8,
      "train.epochs": 6, "student.train.epochs": 3, "train.progress": False, "student.train.progress": False,
  }
  for prefix in ("model", "student.model"):
    values |= {f"{prefix}.eeg.{k}": v for k, v in _EEG.items()}
  for prefix in ("train", "student.train"):
    values |= {f"{prefix}.batch_size": 16, f"{prefix}.eval_batch_size": 64, f"{prefix}.log_every_steps": 2}
  return [f"--config.{k}={v}" for k, v in values.items()]


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
  base = tmp_path_factory.getbasetemp()
  tmp = tmp_path_factory.mktemp("train_script")
  xla_flags = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
  env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
             JAX_PLATFORMS="cpu", JAX_COMPILATION_CACHE_DIR=str(base / "jax-cache"),
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
             XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {xla_flags}")
  bert = write_tiny_bert(tmp / "tiny_bert")
  return {"tmp": tmp, "env": env, "overrides": _overrides(tmp, bert)}


def _command(setup: dict, workdir: Path) -> list[str]:
  return [sys.executable, str(REPO / "scripts" / "train.py"), "--config", str(REPO / "configs" / "demo.py"),
          "--workdir", str(workdir), *setup["overrides"]]


def _run(setup: dict, workdir: Path) -> subprocess.CompletedProcess:
  done = subprocess.run(_command(setup, workdir), env=setup["env"], cwd=setup["tmp"], capture_output=True,
                        text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-4000:]
  return done


def _check_outputs(workdir: Path, stdout: str) -> None:
  """report.json, metrics.jsonl and the plots of a finished demo-style run, and the printed table."""
  report = json.loads((workdir / "report.json").read_text())
  assert set(report["stages"]) == {"teacher", "student"}
  for role, stage in report["stages"].items():
    assert stage["test"]["n_samples"] == report["data"]["test"]["windows"] > 0
    assert 0 <= stage["test"]["f1_macro"] <= 1 and stage["best_step"] <= stage["total_steps"]
    assert f"{role}: test fold" in stdout
    records = [json.loads(line) for line in (workdir / role / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    val = [r for r in records if r["kind"] == "val"]
    assert [r["step"] for r in train] == list(range(2, stage["total_steps"] + 1, 2))
    assert len(val) == stage["total_steps"] // stage["steps_per_epoch"]
    assert all(np.isfinite(r["loss"]) for r in train)
  # Patient-wise: no patient in two parts.
  parts = [set(report["data"][p]["patients"]) for p in ("train", "val", "test")]
  assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
  assert report["stages"]["student"]["params"]["total"] < report["stages"]["teacher"]["params"]["total"]
  for name in ("training_curves.png", "confusion_matrices.png"):
    pixels = image.imread(workdir / name)
    assert pixels.ndim == 3 and min(pixels.shape[:2]) > 100 and pixels.std() > 0


def _first_checkpoint(workdir: Path, role: str) -> bool:
  folder = workdir / role / "checkpoints"
  return folder.is_dir() and any(p.name.isdigit() for p in folder.iterdir())


def _kill_after_first_checkpoint(setup: dict, workdir: Path, role: str) -> None:
  process = subprocess.Popen(_command(setup, workdir), env=setup["env"], cwd=setup["tmp"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.monotonic() + 240
  while not _first_checkpoint(workdir, role) and process.poll() is None and time.monotonic() < deadline:
    time.sleep(0.02)
  os.kill(process.pid, signal.SIGKILL)
  process.wait()
  assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"


def _final_params(stage_dir: Path) -> dict:
  """The `state` item of the stage's last checkpoint as numpy arrays (restored without a template)."""
  folder = stage_dir / "checkpoints"
  last = max(int(p.name) for p in folder.iterdir() if p.name.isdigit())
  with ocp.PyTreeCheckpointer() as checkpointer:
    state = checkpointer.restore(folder / str(last) / "state")
  return {"step": last, "params": jax.tree.map(np.asarray, state["params"])}


def _without_timing(path: Path) -> list[dict]:
  return [{k: v for k, v in json.loads(line).items() if k not in reporting.TIMING_FIELDS}
          for line in path.read_text().splitlines()]


# One test, so that pytest-xdist never runs the reference run twice on two workers.
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Sharding info not provided")  # restoring raw arrays without a template
def test_outputs_and_exact_resume_after_kill(setup):
  reference_dir = setup["tmp"] / "uninterrupted"
  _check_outputs(reference_dir, _run(setup, reference_dir).stdout)

  workdir = setup["tmp"] / "killed"
  _kill_after_first_checkpoint(setup, workdir, "teacher")
  _kill_after_first_checkpoint(setup, workdir, "student")  # the resumed teacher finishes, the student is killed
  assert not (workdir / "report.json").exists()
  _run(setup, workdir)
  expected = json.loads((reference_dir / "report.json").read_text())
  got = json.loads((workdir / "report.json").read_text())
  for role in ("teacher", "student"):
    for key in ("test", "best_val", "best_step", "params"):
      assert got["stages"][role][key] == expected["stages"][role][key], (role, key)
    assert _without_timing(workdir / role / "metrics.jsonl") == _without_timing(reference_dir / role / "metrics.jsonl")
    a, b = _final_params(workdir / role), _final_params(reference_dir / role)
    assert a["step"] == b["step"]
    np.testing.assert_equal(a["params"], b["params"])
  for role in ("teacher", "student"):
    assert got["stages"][role]["resumed_from_step"] is not None, role
  # The student trained on its teacher's cached logits: computed once, read back when it resumed.
  cache, resumed_cache = expected["stages"]["student"]["teacher_cache"], got["stages"]["student"]["teacher_cache"]
  assert cache["computed_this_run"] == cache["windows"] < cache["teacher_forwards_online"]
  assert resumed_cache["computed_this_run"] == 0 and resumed_cache["windows"] == cache["windows"]


def test_batch_not_divisible_by_the_devices_is_a_clear_error(setup):
  env = dict(setup["env"], XLA_FLAGS=setup["env"]["XLA_FLAGS"] + " --xla_force_host_platform_device_count=2")
  done = subprocess.run(_command(setup, setup["tmp"] / "odd_batch") + ["--config.student.train.batch_size=15"],
                        env=env, cwd=setup["tmp"], capture_output=True, text=True, timeout=120)
  assert done.returncode == 2
  assert "student config.train.batch_size=15 must be a positive multiple of the 2 devices" in done.stderr
