"""Fault corpus, checkpoints: damaged files, a resumed run that stays exact, finished stages read back.

Resuming (`Checkpoints.resume`) is checked on tiny states first: which step
it restores and what it sets aside for each kind of damage. Then on a real
toy teacher run: with its newest or its best checkpoint damaged, rerunning
the same command resumes from the newest intact checkpoint and ends exactly
as the uninterrupted run did (same best step, test report and weight
fingerprint). Reading a finished stage whose files are damaged
(`runs.stage.load`, what evaluate / detect / export / plots use) is one
DataError line, also from the scripts. Non-finite windows in a store are
named by row, in training and in testing.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from faults import assert_one_line_error, raises_naming, run_script
from steps_helpers import tiny_state, write_tiny_store
from toy_run import toy_config

from jclip_eeg import jsonio
from jclip_eeg.data import loader
from jclip_eeg.data.store import EpochStore
from jclip_eeg.errors import ConfigError, DataError
from jclip_eeg.runs import inference, stage as stage_lib
from jclip_eeg.runs.checkpoints import BROKEN_SUFFIX, Checkpoints, UnreadableCheckpoint
from jclip_eeg.train import loop, reporting


def _largest_file(folder: Path) -> Path:
  return max((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


def _truncate(step_dir: Path) -> None:
  """Cuts the largest file of the saved state in half (a disk that filled up, a copy interrupted)."""
  data = _largest_file(step_dir / "state")
  with open(data, "r+b") as f:
    f.truncate(data.stat().st_size // 2)


def _zero(step_dir: Path) -> None:
  data = _largest_file(step_dir / "state")
  data.write_bytes(b"\0" * data.stat().st_size)


DAMAGES = {
    "a state file truncated": _truncate,
    "a state file zeroed": _zero,
    "the state's _METADATA deleted": lambda step: (step / "state" / "_METADATA").unlink(),
    "the state's manifest deleted": lambda step: (step / "state" / "manifest.ocdbt").unlink(),
    "the state emptied": lambda step: (shutil.rmtree(step / "state"), (step / "state").mkdir()),
    "the data position deleted": lambda step: shutil.rmtree(step / "data"),
    "the data position garbage": lambda step: next((step / "data").glob("*.json")).write_text("{not json"),
    "the metrics garbage": lambda step: (step / "metrics" / "metrics").write_text("{not json"),
    "the metrics deleted": lambda step: shutil.rmtree(step / "metrics"),
}


# ----------------------------------------------------------------------------- resume, on tiny states


@pytest.fixture()
def saved(tmp_path) -> tuple[Path, Path]:
  """Checkpoints at steps 2, 4, 6, 8 (validation F1 0.1, 0.9, 0.3, 0.2: the best is 4) and a store to iterate."""
  store = write_tiny_store(tmp_path / "store")
  ckpt = Checkpoints(tmp_path / "ckpt", keep=4, async_save=False)
  batches = loader.train_batches(store, batch_size=4, seed=0)
  for step, f1 in [(2, 0.1), (4, 0.9), (6, 0.3), (8, 0.2)]:
    next(batches)
    ckpt.save(tiny_state(step, seed=step), batches, {"f1_macro": f1})
  ckpt.close()
  return tmp_path / "ckpt", store


def _resume(directory: Path, store: Path, caplog) -> tuple[int | None, list[str]]:
  ckpt = Checkpoints(directory, keep=4, async_save=False)
  with caplog.at_level(logging.WARNING, logger="jclip_eeg"):
    step, state = ckpt.resume(tiny_state(0), loader.train_batches(store, batch_size=4, seed=0))
  steps = ckpt._manager.all_steps()
  ckpt.close()
  if step is not None:
    assert int(state.step) == step and float(state.w[1]) == step  # the state of that step, not another
  return step, sorted(steps)


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_latest_checkpoint_is_set_aside_and_the_one_before_restored(saved, caplog, damage):
  directory, store = saved
  DAMAGES[damage](directory / "8")
  step, kept = _resume(directory, store, caplog)
  assert (step, kept) == (6, [2, 4, 6])
  assert (Path(f"{directory}{BROKEN_SUFFIX}") / "8").is_dir()
  assert any(f"{directory}/8" in r.getMessage() and "damaged checkpoint" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("damage", ["a state file truncated", "the metrics deleted", "the metrics garbage"])
def test_a_damaged_best_checkpoint_resumes_from_before_it(saved, caplog, damage):
  """The best (step 4) is what the test fold is scored with at the end: the run goes back before it, and the
  intact steps after it are dropped, to be trained again exactly."""
  directory, store = saved
  DAMAGES[damage](directory / "4")
  step, kept = _resume(directory, store, caplog)
  assert (step, kept) == (2, [2])
  assert [p.name for p in Path(f"{directory}{BROKEN_SUFFIX}").iterdir()] == ["4"]
  assert any("resuming from step 2" in r.getMessage() for r in caplog.records)


def test_no_intact_checkpoint_is_one_error_naming_each_and_moves_nothing(saved, caplog):
  directory, store = saved
  for step in (2, 4, 6, 8):
    _truncate(directory / str(step))
  with raises_naming(UnreadableCheckpoint, directory, "no intact checkpoint to resume from exactly", "step 2:", "step 8:",
                     f"Remove {directory}"):
    _resume(directory, store, caplog)
  assert sorted(p.name for p in directory.iterdir() if p.name.isdigit()) == ["2", "4", "6", "8"]
  assert not Path(f"{directory}{BROKEN_SUFFIX}").exists()


def test_a_second_damage_of_the_same_step_is_kept_beside_the_first(saved, caplog):
  directory, store = saved
  (Path(f"{directory}{BROKEN_SUFFIX}") / "8").mkdir(parents=True)
  _truncate(directory / "8")
  assert _resume(directory, store, caplog)[0] == 6
  assert sorted(p.name for p in Path(f"{directory}{BROKEN_SUFFIX}").iterdir()) == ["8", "8.1"]


def test_readers_never_change_the_folder(saved):
  directory, _ = saved
  (directory / "6" / "metrics" / "metrics").write_text("{not json")
  with raises_naming(UnreadableCheckpoint, directory / "6", "metrics"):
    Checkpoints(directory, read_only=True)
  assert (directory / "6").is_dir() and not Path(f"{directory}{BROKEN_SUFFIX}").exists()


# ----------------------------------------------------------------------------- a real run


@pytest.fixture(scope="module")
def reference(tmp_path_factory, fast_jax) -> dict:
  """A toy teacher run of 3 epochs (checkpoints at each epoch); first a rejected override on the same workdir,
  which must not keep the corrected command from running there."""
  tmp = tmp_path_factory.mktemp("checkpoint_faults")
  config = toy_config(tmp, teacher_epochs=3)
  with config.unlocked():
    del config["student"]
  workdir = tmp / "run"
  bad = toy_config(tmp, teacher_epochs=3)
  with bad.unlocked():
    del bad["student"]
    bad.model.prediction = "foo"
  with pytest.raises(ConfigError, match="model.prediction"):
    loop.train_and_evaluate(bad, workdir)
  report = loop.train_and_evaluate(config, workdir)
  return {"config": config, "workdir": workdir, "result": report["stages"]["teacher"], "tmp": tmp}


def _unfinished_copy(reference: dict, tmp_path: Path) -> Path:
  """The reference workdir as a run killed after its last checkpoint leaves it (no result, no report)."""
  workdir = Path(shutil.copytree(reference["workdir"], tmp_path / "run"))
  for name in ("report.json", "teacher/result.json", "teacher/class_text_features.npy"):
    (workdir / name).unlink()
  return workdir


def _same_result(got: dict, want: dict) -> None:
  for key in ("best_step", "best_val", "fingerprint", "test", "total_steps"):
    assert got[key] == want[key], key


def _without_timing(path: Path) -> list[dict]:
  return [{k: v for k, v in r.items() if k not in reporting.TIMING_FIELDS} for r in jsonio.read_jsonl(path)]


@pytest.mark.parametrize("which, damage", [("latest", "a state file truncated"),
                                           ("best", "a state file truncated")])
def test_a_resumed_run_with_a_damaged_checkpoint_ends_exactly_as_the_uninterrupted_one(reference, tmp_path, which,
                                                                                       damage):
  want = reference["result"]
  step = want["total_steps"] if which == "latest" else want["best_step"]
  if which == "best" and step == want["total_steps"]:
    pytest.skip("the best checkpoint is the latest one in this run")
  workdir = _unfinished_copy(reference, tmp_path)
  checkpoints = workdir / "teacher" / "checkpoints"
  DAMAGES[damage](checkpoints / str(step))
  if step == want["steps_per_epoch"]:  # nothing before it: no exact resume is possible
    with raises_naming(UnreadableCheckpoint, checkpoints, f"step {step}:", "may be the best so far",
                       f"Remove {checkpoints}"):
      loop.train_and_evaluate(reference["config"], workdir)
    return
  got = loop.train_and_evaluate(reference["config"], workdir)["stages"]["teacher"]
  _same_result(got, want)
  assert got["resumed_from_step"] < step
  assert (workdir / "teacher" / f"checkpoints{BROKEN_SUFFIX}" / str(step)).is_dir()
  assert _without_timing(workdir / "teacher" / "metrics.jsonl") == _without_timing(
      reference["workdir"] / "teacher" / "metrics.jsonl")


def _finished_copy(reference: dict, tmp_path: Path) -> Path:
  return Path(shutil.copytree(reference["workdir"] / "teacher", tmp_path / "teacher"))


def _best(stage: Path) -> Path:
  return stage / "checkpoints" / str(jsonio.read_json(stage / "result.json")["best_step"])


def _other_weights(stage: Path) -> None:
  """The best checkpoint replaced by another step's (a folder restored from the wrong backup)."""
  best = _best(stage)
  other = next(p for p in (stage / "checkpoints").iterdir() if p.name.isdigit() and p != best)
  shutil.rmtree(best)
  shutil.copytree(other, best)


def _edit_result(stage: Path, **changes) -> None:
  result = jsonio.read_json(stage / "result.json")
  jsonio.write_json(stage / "result.json", {k: v for k, v in {**result, **changes}.items() if v is not None})


LOAD_FAULTS = [
    ("best state truncated", lambda s: _truncate(_best(s)), "unreadable checkpoint (no readable model weights"),
    ("best state zeroed", lambda s: _zero(_best(s)), "unreadable checkpoint (no readable model weights"),
    ("best _METADATA deleted", lambda s: (_best(s) / "state" / "_METADATA").unlink(), "no readable model weights"),
    ("best deleted", lambda s: shutil.rmtree(_best(s)), "no readable model weights"),
    ("checkpoints deleted", lambda s: shutil.rmtree(s / "checkpoints"), "no readable model weights"),
    ("best holds another step's weights", _other_weights, "its weights are not the ones result.json records"),
    ("a metrics file garbage", lambda s: (_best(s) / "metrics" / "metrics").write_text("{"), "metrics"),
    ("result.json garbage", lambda s: (s / "result.json").write_text("{half"), "result.json: unreadable"),
    ("result.json without best_step", lambda s: _edit_result(s, best_step=None), "result.json: lacks ['best_step']"),
    ("result.json of another model", lambda s: _edit_result(s, fingerprint="0" * 64),
     "its weights are not the ones result.json records"),
    ("config.json garbage", lambda s: (s / "config.json").write_text("]"), "config.json: unreadable"),
    ("class-text features garbage", lambda s: (s / "class_text_features.npy").write_bytes(b"\x93NUMPY garbage"),
     "unreadable class-text features"),
    ("class-text features deleted", lambda s: (s / "class_text_features.npy").unlink(),
     "unreadable class-text features"),
]


@pytest.mark.parametrize("fault, damage, message", LOAD_FAULTS, ids=[f[0] for f in LOAD_FAULTS])
def test_a_damaged_finished_stage_is_one_line_naming_the_file(reference, tmp_path, fault, damage, message):
  stage = _finished_copy(reference, tmp_path)
  damage(stage)
  before = sorted(p.relative_to(stage) for p in stage.rglob("*"))
  with raises_naming(DataError, stage, message):
    stage_lib.load(stage)
  assert sorted(p.relative_to(stage) for p in stage.rglob("*")) == before  # a reader changes nothing


def test_the_scripts_on_a_damaged_best_checkpoint_say_one_line(reference, tmp_path):
  stage = _finished_copy(reference, tmp_path)
  _truncate(_best(stage))
  message = f"{_best(stage)}: unreadable checkpoint"
  edf = next(Path(reference["config"].data.root).rglob("*.edf"))
  assert_one_line_error(run_script("export", "--model", stage, "--out", tmp_path / "m.jaxexport", cwd=tmp_path),
                        "export", message)
  assert_one_line_error(run_script("detect", "--model", stage, "--edf", edf, "--out", tmp_path / "e.tsv",
                                   cwd=tmp_path), "detect", message)
  assert not (tmp_path / "m.jaxexport").exists() and not (tmp_path / "e.tsv").exists()


# ----------------------------------------------------------------------------- non-finite windows


def _store_with_nan(reference: dict, tmp_path: Path, rows: np.ndarray) -> Path:
  store = Path(shutil.copytree(reference["config"].data.store, tmp_path / "store"))
  x = np.load(store / "x.npy", mmap_mode="r+")
  x[rows, 0, 3] = np.nan
  x.flush()
  return store


def test_nan_in_test_windows_names_the_store_and_rows(reference, tmp_path):
  finished = stage_lib.load(reference["workdir"] / "teacher")
  rows = np.arange(len(EpochStore(reference["config"].data.store)))
  store = _store_with_nan(reference, tmp_path, rows[[5, 17]])
  with raises_naming(DataError, store / "x.npy", "windows of rows 5, 17 hold NaN or inf values"):
    inference.evaluate_rows(finished.predictor(), str(store), rows, ("normal", "seizure"), batch_size=64)


def test_nan_in_training_windows_names_the_store_not_the_learning_rate(reference, tmp_path):
  config = toy_config(reference["tmp"], teacher_epochs=1)
  store = EpochStore(reference["config"].data.store)
  store = _store_with_nan(reference, tmp_path, np.arange(len(store)))
  with config.unlocked():
    del config["student"]
    config.data.store = str(store)
  with raises_naming(DataError, store / "x.npy", "hold NaN or inf values") as caught:
    loop.train_and_evaluate(config, tmp_path / "run")
  assert "learning_rate" not in str(caught.value)
  assert json.loads((tmp_path / "run" / "config.json").read_text())["data"]["store"] == str(store)
