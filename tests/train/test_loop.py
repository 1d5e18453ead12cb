"""The training loop's pieces in-process: checkpoints, metrics log, guards, stage and data setup.

End-to-end runs of scripts/train.py (and the kill -9 resume test) are in test_train_script.py.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jclip_eeg import config_lib
from jclip_eeg.data import loader
from jclip_eeg.data.store import StoreWriter
from jclip_eeg.errors import ConfigError, DataError
from jclip_eeg.train import loop, reporting
from jclip_eeg.train.checkpoint import Checkpoints

REPO = Path(__file__).resolve().parents[2]


def _load_config(name: str) -> ml_collections.ConfigDict:
  return config_lib.load_config_file(REPO / "configs" / f"{name}.py")


def _write_store(path: Path, patients: int = 4, per_patient: int = 24, no_seizure: tuple[int, ...] = ()) -> Path:
  """A tiny 2-class store: `per_patient` (2, 8) windows per patient, a quarter of them seizure."""
  n = patients * per_patient
  writer = StoreWriter(path, n_windows=n, n_channels=2, n_times=8)
  rng = np.random.default_rng(0)
  for p in range(patients):
    y = (np.arange(per_patient) % 4 == 0).astype(np.int32) * (p not in no_seizure)
    writer.append(rng.normal(size=(per_patient, 2, 8)).astype(np.float32), y, p,
                  np.arange(per_patient, dtype=np.float64))
  recordings = [{"id": f"p{p}_r1", "patient": f"p{p}", "source": "made-up"} for p in range(patients)]
  writer.commit(class_names=("normal", "seizure"), channel_names=("a", "b"), sfreq=8.0, recordings=recordings)
  return path


class _State(flax.struct.PyTreeNode):
  step: jax.Array
  w: jax.Array
  key: jax.Array


def _state(step: int, seed: int = 0) -> _State:
  return _State(jnp.int32(step), jnp.arange(3.0) * seed, jax.random.key(seed))


# ----------------------------------------------------------------------------- checkpoints


def test_checkpoint_restores_state_rng_and_data_position(tmp_path):
  store = _write_store(tmp_path / "store")
  batches = loader.train_batches(store, batch_size=4, seed=1)
  for _ in range(3):
    next(batches)
  ckpt = Checkpoints(tmp_path / "ckpt")
  ckpt.save(_state(3, seed=5), batches, {"f1_macro": 0.5})
  expected = [next(batches)["index"] for _ in range(10)]  # crosses an epoch boundary
  ckpt.close()

  fresh = loader.train_batches(store, batch_size=4, seed=1)
  reopened = Checkpoints(tmp_path / "ckpt")
  restored = reopened.restore(3, _state(0), fresh)
  reopened.close()
  assert int(restored.step) == 3
  np.testing.assert_array_equal(restored.w, _state(3, seed=5).w)
  np.testing.assert_array_equal(jax.random.key_data(restored.key), jax.random.key_data(jax.random.key(5)))
  for want in expected:
    np.testing.assert_array_equal(next(fresh)["index"], want)


def test_checkpoints_keep_latest_and_best(tmp_path):
  store = _write_store(tmp_path / "store")
  batches = loader.train_batches(store, batch_size=4, seed=0)
  ckpt = Checkpoints(tmp_path / "ckpt", keep=2)
  for step, f1 in [(1, 0.5), (2, 0.9), (3, 0.2), (4, 0.9), (5, 0.1), (6, 0.3)]:
    ckpt.save(_state(step), batches, {"f1_macro": f1})
  ckpt.wait()
  assert ckpt.best_step() == 4  # ties go to the later step
  assert ckpt.metrics(4) == {"f1_macro": 0.9}
  assert ckpt.latest_step() == 6
  assert sorted(int(p.name) for p in (tmp_path / "ckpt").iterdir() if p.name.isdigit()) == [4, 5, 6]
  ckpt.close()


# Orbax leaves the coroutines of the failed restore un-awaited; collect them here, not in a later test.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_checkpoint_of_another_model_is_a_clear_error(tmp_path):
  store = _write_store(tmp_path / "store")
  ckpt = Checkpoints(tmp_path / "ckpt")
  ckpt.save(_state(1), loader.train_batches(store, batch_size=4, seed=0), {"f1_macro": 0.5})
  ckpt.wait()
  other = _State(jnp.int32(0), jnp.zeros(7), jax.random.key(0))
  with pytest.raises(DataError, match="does not match"):
    ckpt.restore(1, other)
  ckpt.close()
  gc.collect()


# ----------------------------------------------------------------------------- training guards


def _fake_step(nan_from: int):
  """A step that counts and reports a NaN loss from step `nan_from` on."""
  def step(state: _State, batch) -> tuple[_State, dict]:
    loss = jnp.where(state.step + 1 >= nan_from, jnp.nan, 1.0)
    metrics = dict(loss=loss, nonfinite=jnp.isnan(loss).astype(jnp.float32), correct=jnp.float32(3),
                   count=jnp.float32(4))
    return state.replace(step=state.step + 1), metrics
  return step


def test_nonfinite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  store = _write_store(tmp_path / "store")
  batches = loader.train_batches(store, batch_size=4, seed=0)
  ckpt = Checkpoints(tmp_path / "ckpt", async_save=False)
  log = reporting.MetricsLog(tmp_path / "metrics.jsonl", resume_step=None, tensorboard=False)
  config = ml_collections.ConfigDict(dict(train=dict(batch_size=4, progress=False)))
  schedule = loop.Schedule(steps_per_epoch=4, total=12, log_every=2, eval_every=4)

  def on_eval(state, step):
    ckpt.save(state, batches, {"f1_macro": 0.5})

  with pytest.raises(loop.TrainingDiverged, match=r"non-finite loss in the steps up to 6.*checkpoint is step 4"):
    loop._train("teacher", config, _state(0), _fake_step(nan_from=6), lambda: next(batches), schedule, 0,
                on_eval, ckpt, log)
  assert ckpt.latest_step() == 4
  ckpt.close()
  records = reporting.read_jsonl(tmp_path / "metrics.jsonl")
  assert [r["step"] for r in records] == [2, 4]
  assert records[0]["accuracy"] == 0.75 and records[0]["loss"] == 1.0


def test_metrics_log_drops_records_written_after_the_restored_step(tmp_path):
  path = tmp_path / "metrics.jsonl"
  log = reporting.MetricsLog(path, resume_step=None, tensorboard=False)
  for step in (2, 4, 6):
    log.write("train", step, {"loss": float(step)})
  reporting.MetricsLog(path, resume_step=4, tensorboard=False)
  assert [r["step"] for r in reporting.read_jsonl(path)] == [2, 4]
  reporting.MetricsLog(path, resume_step=None, tensorboard=False)
  assert reporting.read_jsonl(path) == []


def test_schedule_logs_at_every_evaluation_and_the_last_step():
  schedule = loop.Schedule(steps_per_epoch=5, total=12, log_every=4, eval_every=5)
  assert [s for s in range(1, 13) if schedule.is_eval(s)] == [5, 10, 12]
  assert [s for s in range(1, 13) if schedule.is_log(s)] == [4, 5, 8, 10, 12]


# ----------------------------------------------------------------------------- stages and workdir


def test_demo_runs_teacher_then_student():
  config = _load_config("demo")
  (teacher_role, teacher), (student_role, student) = loop.stage_configs(config)
  assert (teacher_role, student_role) == ("teacher", "student")
  assert teacher is config and student.model.role == "student"
  assert student.train.epochs == config.student.train.epochs and student.student.teacher_workdir == ""
  assert student.data == config.data
  with pytest.raises(AttributeError):
    student.train.batch_sizee = 3  # locked: a typo is an error


@pytest.mark.parametrize("dataset", ["chbmit", "tusz", "neonatal", "aubmc"])
def test_paper_configs(dataset):
  teacher, student = _load_config(f"{dataset}_teacher"), _load_config(f"{dataset}_student")
  assert [r for r, _ in loop.stage_configs(teacher)] == ["teacher"]
  assert [r for r, _ in loop.stage_configs(student)] == ["student"]
  assert (teacher.train.epochs, student.train.epochs) == (400, 100)
  assert (teacher.train.batch_size, teacher.optimizer.learning_rate) == (32, 1e-5)
  assert (teacher.optimizer.b1, teacher.optimizer.b2, teacher.train.alpha) == (0.9, 0.999, 0.5)
  assert student.train.temperature == 1.0 and student.student.teacher_workdir == f"runs/{dataset}_teacher"
  assert (teacher.model.eeg.dropout, teacher.model.text.dropout) == (0.3, 0.2)


def test_student_without_teacher_workdir_is_an_error():
  config = config_lib.get_config("chbmit", "student")
  with config.unlocked():
    del config["student"]
  with pytest.raises(ConfigError, match="teacher_workdir"):
    loop.stage_configs(config)


def test_student_needs_a_finished_teacher_on_the_same_split(tmp_path):
  student = config_lib.get_config("chbmit", "student")
  with student.unlocked():
    student.student.teacher_workdir = str(tmp_path / "teacher_run")
  directory = loop.teacher_dir(student, tmp_path / "student_run")
  assert directory == tmp_path / "teacher_run" / "teacher"
  with pytest.raises(ConfigError, match="no finished teacher"):
    loop.load_teacher(directory, student, mesh=None)
  teacher = config_lib.get_config("chbmit", "teacher")
  with teacher.unlocked():
    teacher.data.split.by = "patient"
  directory.mkdir(parents=True)
  reporting.write_json(directory / "config.json", json.loads(teacher.to_json()))
  reporting.write_json(directory / "result.json", {"best_step": 1})
  with pytest.raises(ConfigError, match="other data.split.by; the student must use the teacher's store and split"):
    loop.load_teacher(directory, student, mesh=None)


def test_workdir_of_another_config_is_refused(tmp_path):
  config = config_lib.get_config("chbmit", "teacher")
  loop._claim_workdir(config, tmp_path / "config.json")
  with config.unlocked():
    config.train.progress = False  # changes nothing computed
  loop._claim_workdir(config, tmp_path / "config.json")  # resumes
  with config.unlocked():
    config.train.alpha = 0.7
  with pytest.raises(ConfigError, match="train.alpha"):
    loop._claim_workdir(config, tmp_path / "config.json")


# ----------------------------------------------------------------------------- data


def _data(store: Path, **split) -> ml_collections.ConfigDict:
  data = config_lib.data_config("chbmit")
  data.update(dict(store=str(store), n_channels=2, n_times=8))
  data.split.update(dict(dict(by="patient", k=2, val_fraction=0.3), **split))
  return data


@pytest.mark.parametrize("dataset, arg, expected", [
    ("chbmit", None, ["physionet.org/content/chbmit/1.0.0",
                      "scripts/prepare_data.py --dataset chbmit --root {root} --out {store}"]),
    ("tusz", "binary", ["TUH EEG Seizure Corpus", "--dataset tusz --root {root} --out {store} --tusz-classes binary"]),
    ("neonatal", None, ["zenodo.org/records/2547147"]),
    ("aubmc", None, ["10.17632/5pc2j46cbc"]),
])
def test_missing_store_says_where_to_download_and_how_to_prepare(tmp_path, dataset, arg, expected):
  data = config_lib.get_config(dataset, "teacher", arg).data
  with data.unlocked():
    data.update(dict(store=str(tmp_path / "store"), root=str(tmp_path / "raw")))
  with pytest.raises(DataError) as error:
    loop.open_store(data)
  for text in expected:
    assert text.format(root=data.root, store=data.store) in str(error.value)


def test_store_of_other_classes_or_shape_is_refused(tmp_path):
  data = _data(_write_store(tmp_path / "store"))
  with data.unlocked():
    data.n_channels = 23
  with pytest.raises(DataError, match="store has classes"):
    loop.open_store(data)


def test_split_is_patient_wise_with_a_validation_part(tmp_path):
  split = loop.load_split(_data(_write_store(tmp_path / "store", patients=6), val_fraction=0.25))
  parts = [set(split.description[p]["patients"]) for p in ("train", "val", "test")]
  assert all(parts) and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
  assert split.description["val"]["per_class"]["seizure"] == split.description["val"]["per_class"]["normal"]


def test_split_errors(tmp_path):
  store = _write_store(tmp_path / "store", no_seizure=(0, 1))
  with pytest.raises(ConfigError, match="val_fraction"):
    loop.load_split(_data(store, val_fraction=0.0))
  with pytest.raises(ConfigError, match="fold=2"):
    loop.load_split(_data(store, fold=2))
  with pytest.raises(DataError, match="holds only class 'normal'"):
    loop._check_parts({"test": np.arange(48)}, np.zeros(96, np.int64), ("normal", "seizure"), "here")
  with pytest.raises(DataError, match="the val part is empty"):
    loop._check_parts({"val": np.arange(0)}, np.zeros(96, np.int64), ("normal", "seizure"), "here")


def test_report_table_lists_every_stage():
  test = json.loads(json.dumps({
      "n_samples": 4, "class_names": ["normal", "seizure"], "positive_class": "seizure", "accuracy": 0.75,
      "precision_macro": 0.8, "precision_weighted": 0.8, "recall_macro": 0.7, "recall_weighted": 0.75,
      "f1_macro": 0.7, "f1_weighted": 0.74, "specificity": 0.9, "auc": 0.8, "auc_micro": None, "auc_note": None,
      "confusion_matrix": [[2, 0], [1, 1]],
      "per_class": [{"name": n, "precision": 0.8, "recall": 0.7, "specificity": 0.9, "f1": 0.7, "auc": 0.8,
                     "support": 2} for n in ("normal", "seizure")]}))
  stage = {"params": {"total": 2_000_000, "trainable": 10, "eeg_encoder": 1_000_000}, "best_step": 7,
           "best_val": {"f1_macro": 0.6}, "test": test}
  table = reporting.final_table({"stages": {"teacher": stage, "student": dict(stage, best_step=3)}})
  assert "teacher: test fold (4 windows), model of step 7" in table and "student: test fold" in table
  assert "total 2.000 M, trainable 0.000 M, EEG encoder 1.000 M" in table
