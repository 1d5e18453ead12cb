"""The training loop's pieces in-process: metrics log and its timing, guards, stages, workdir, teacher checks.

End-to-end runs of scripts/train.py (and the kill -9 resume test) are in test_train_script.py.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from steps_helpers import TinyState, tiny_state, write_tiny_store

from jclip_eeg import config_lib, jsonio
from jclip_eeg.data import loader
from jclip_eeg.errors import ConfigError, TrainingDiverged
from jclip_eeg.metrics import evaluation_report
from jclip_eeg.runs import stage as stage_lib
from jclip_eeg.runs.checkpoints import Checkpoints
from jclip_eeg.train import loop, reporting

REPO = Path(__file__).resolve().parents[2]


def _load_config(name: str) -> ml_collections.ConfigDict:
  return config_lib.load_config_file(REPO / "configs" / f"{name}.py")


# ----------------------------------------------------------------------------- training guards


def _fake_step(nan_from: int):
  """A step that counts and reports a NaN loss from step `nan_from` on."""
  def step(state: TinyState, batch) -> tuple[TinyState, dict]:
    loss = jnp.where(state.step + 1 >= nan_from, jnp.nan, 1.0)
    metrics = dict(loss=loss, nonfinite=jnp.isnan(loss).astype(jnp.float32), correct=jnp.float32(3),
                   count=jnp.float32(4))
    return state.replace(step=state.step + 1), metrics
  return step


def test_nonfinite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  store = write_tiny_store(tmp_path / "store")
  batches = loader.train_batches(store, batch_size=4, seed=0)
  ckpt = Checkpoints(tmp_path / "ckpt", async_save=False)
  log = reporting.MetricsLog(tmp_path / "metrics.jsonl", resume_step=None, tensorboard=False)
  config = ml_collections.ConfigDict(dict(train=dict(batch_size=4, progress=False)))
  schedule = loop.Schedule(steps_per_epoch=4, total=12, log_every=2, eval_every=4)

  def on_eval(state, step):
    ckpt.save(state, batches, {"f1_macro": 0.5})

  throughput = loop._Throughput(batch_size=4, flops_per_step=1e9, peak_tflops=2.0)
  with pytest.raises(TrainingDiverged, match=r"non-finite loss in the steps up to 6.*checkpoint is step 4"):
    loop._train("teacher", config, tiny_state(0), _fake_step(nan_from=6), batches, schedule, 0, on_eval, ckpt, log,
                throughput)
  assert ckpt.latest_step() == 4
  ckpt.close()
  records = jsonio.read_jsonl(tmp_path / "metrics.jsonl")
  assert [r["step"] for r in records] == [2, 4]
  assert records[0]["accuracy"] == 0.75 and records[0]["loss"] == 1.0
  # Step 1 compiles and is never timed: the record of step 2 times step 2 alone, step 4's steps 3 and 4.
  assert "step_time_s" in records[0] and records[1]["samples_per_s"] == pytest.approx(
      2 * 4 / (2 * records[1]["step_time_s"]))
  assert records[1]["mfu"] == pytest.approx(records[1]["tflops_per_s_per_device"] / 2.0)
  assert records[1]["tflops_per_s_per_device"] == pytest.approx(1e9 / records[1]["step_time_s"] / 1e12)


def test_throughput_of_an_interval_without_timed_steps_is_empty():
  throughput = loop._Throughput(batch_size=8, flops_per_step=1.0, peak_tflops=None)
  throughput.mark(3)
  assert throughput.lap(3) == {}
  assert set(throughput.lap(5)) == {"step_time_s", "samples_per_s", "tflops_per_s_per_device"}  # no peak: no MFU


def test_metrics_log_drops_records_written_after_the_restored_step(tmp_path):
  path = tmp_path / "metrics.jsonl"
  log = reporting.MetricsLog(path, resume_step=None, tensorboard=False)
  for step in (2, 4, 6):
    log.write("train", step, {"loss": float(step)})
  reporting.MetricsLog(path, resume_step=4, tensorboard=False)
  assert [r["step"] for r in jsonio.read_jsonl(path)] == [2, 4]
  reporting.MetricsLog(path, resume_step=None, tensorboard=False)
  assert jsonio.read_jsonl(path) == []


def _tensorboard_scalars(logdir: Path) -> list[tuple[int, str, float]]:
  """(step, tag, value) of every scalar in the TensorBoard event files under `logdir` (TFRecord framing:
  u64 length, u32 crc, an Event proto, u32 crc)."""
  from tensorboardX.proto import event_pb2
  scalars = []
  for path in sorted(logdir.iterdir()):
    data, i = path.read_bytes(), 0
    while i < len(data):
      (n,) = struct.unpack("<Q", data[i:i + 8])
      event = event_pb2.Event.FromString(data[i + 12:i + 12 + n])
      scalars += [(event.step, v.tag, v.simple_value) for v in event.summary.value]
      i += 12 + n + 4
  return scalars


def test_tensorboard_events_hold_the_logged_scalars(tmp_path):
  log = reporting.MetricsLog(tmp_path / "metrics.jsonl", resume_step=None, tensorboard=True)
  log.write("train", 2, {"loss": 0.5, "accuracy": 0.25})
  log.write("val", 4, {"f1_macro": 0.75})
  log.close()
  assert _tensorboard_scalars(tmp_path / "tensorboard") == [(2, "train/loss", 0.5), (2, "train/accuracy", 0.25),
                                                           (4, "val/f1_macro", 0.75)]


def test_tensorboard_without_its_writer_is_a_clear_error(tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as if not installed
  with pytest.raises(ConfigError, match=r"tensorboard=True needs tensorboardX: pip install -e \"\.\[tensorboard\]\""):
    reporting.MetricsLog(tmp_path / "metrics.jsonl", resume_step=None, tensorboard=True)


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
  assert student.train.epochs == config.student.train.epochs and student.teacher_workdir == ""
  assert "student" not in student  # the recipe became the stage's own model / train / optimizer
  assert student.data == config.data
  with pytest.raises(AttributeError):
    student.train.batch_sizee = 3  # locked: a typo is an error


@pytest.mark.parametrize("dataset", ["chbmit", "tusz", "neonatal", "aubmc", "siena", "bids"])
def test_paper_configs(dataset):
  teacher, student = _load_config(f"{dataset}_teacher"), _load_config(f"{dataset}_student")
  assert [r for r, _ in loop.stage_configs(teacher)] == ["teacher"]
  assert [r for r, _ in loop.stage_configs(student)] == ["student"]
  assert (teacher.train.epochs, student.train.epochs) == (400, 100)
  assert (teacher.train.batch_size, teacher.optimizer.learning_rate) == (32, 1e-5)
  assert (teacher.optimizer.b1, teacher.optimizer.b2, teacher.train.alpha) == (0.9, 0.999, 0.5)
  assert student.train.temperature == 1.0 and student.teacher_workdir == f"runs/{dataset}_teacher"
  assert (teacher.model.eeg.dropout, teacher.model.text.dropout) == (0.3, 0.2)


def test_a_config_argument_names_the_montage():
  demo = config_lib.load_config_file(REPO / "configs" / "demo.py", "banana18")
  assert (demo.data.montage, demo.data.n_channels, demo.data.store, demo.workdir) == (
      "banana18", 18, "data/demo_banana18", "runs/demo_banana18")
  assert demo.data.root == _load_config("demo").data.root  # the same synthetic EDFs, read in other channels
  tusz = config_lib.load_config_file(REPO / "configs" / "tusz_teacher.py", "binary,average19")
  assert (tusz.data.montage, tusz.data.n_channels, tusz.data.class_names) == ("average19", 19, ("bckg", "seiz"))
  assert (tusz.data.store, dict(tusz.data.options)) == ("data/tusz_binary_average19", {"classes": "binary"})
  native = _load_config("chbmit_teacher")
  assert (native.data.montage, native.data.n_channels, native.data.store) == ("native", 23, "data/chbmit")
  recipe = config_lib.get_config("chbmit", "teacher", "banana18")
  assert config_lib.on_dataset(recipe, "neonatal").data.montage == "banana18"  # the recipe's montage is kept
  assert config_lib.data_config("bids").montage == "banana18"  # BIDS has no native list
  assert _load_config("bids_teacher").data.store == "data/bids"
  assert config_lib.load_config_file(REPO / "configs" / "siena_teacher.py", "banana18").data.store == (
      "data/siena_banana18")
  with pytest.raises(ConfigError, match=r"'banana' is not understood for synthetic .* one of \('native'"):
    config_lib.load_config_file(REPO / "configs" / "demo.py", "banana")


def test_student_without_teacher_workdir_is_an_error():
  config = config_lib.get_config("chbmit", "student")
  with config.unlocked():
    config.teacher_workdir = ""
  with pytest.raises(ConfigError, match="teacher_workdir"):
    loop.stage_configs(config)


def test_student_needs_a_finished_teacher_on_the_same_split(tmp_path):
  student = config_lib.get_config("chbmit", "student")
  with student.unlocked():
    student.teacher_workdir = str(tmp_path / "teacher_run")
  directory = loop.teacher_dir(student, tmp_path / "student_run")
  assert directory == tmp_path / "teacher_run" / "teacher"
  with pytest.raises(ConfigError, match="no finished stage"):
    stage_lib.read_result(directory)
  teacher = config_lib.get_config("chbmit", "teacher")
  with teacher.unlocked():
    teacher.data.split.by = "patient"
  directory.mkdir(parents=True)
  jsonio.write_json(directory / "config.json", json.loads(teacher.to_json()))
  with pytest.raises(ConfigError, match="other data.split.by; the student must use the teacher's store and split"):
    loop._check_same_data(directory, student)


def test_a_replaced_teacher_is_refused(tmp_path):
  """The student records its teacher's fingerprint when it starts; another teacher there later is an error."""
  teacher, student = tmp_path / "run" / "teacher", tmp_path / "run" / "student"
  teacher.mkdir(parents=True)
  student.mkdir()
  jsonio.write_json(teacher / "config.json", {})
  jsonio.write_json(teacher / "result.json", {"fingerprint": "a" * 64})
  stage_lib.record_teacher(student, teacher, jnp.eye(2, 4))
  stage_lib.check_teacher(student, teacher)  # the same teacher
  jsonio.write_json(teacher / "result.json", {"fingerprint": "b" * 64})
  with pytest.raises(ConfigError, match="holds another teacher than the one .* was distilled from"):
    stage_lib.check_teacher(student, teacher)


def test_workdir_of_another_config_is_refused(tmp_path):
  config = config_lib.get_config("chbmit", "teacher")
  loop.claim_workdir(config, tmp_path / "config.json")
  with config.unlocked():
    config.train.progress = False  # changes nothing computed
  loop.claim_workdir(config, tmp_path / "config.json")  # resumes
  with config.unlocked():
    config.train.alpha = 0.7
  with pytest.raises(ConfigError, match="train.alpha"):
    loop.claim_workdir(config, tmp_path / "config.json")


def test_resume_free_keys_are_exact_dotted_keys():
  """One rule: only the listed keys may change, matched exactly (a key that merely ends like one may not)."""
  stored = {"workdir": "a", "data": {"root": "r"}, "teacher_workdir": "t", "x": {"train": {"progress": 1}}}
  current = {"workdir": "b", "data": {"root": "s"}, "teacher_workdir": "u", "x": {"train": {"progress": 0}}}
  assert config_lib.resume_differences(stored, current) == ["teacher_workdir", "x.train.progress"]


# ----------------------------------------------------------------------------- data


def test_report_table_lists_every_stage_the_baseline_and_the_papers_rows():
  y = np.array([0, 0, 0, 0, 1, 1])
  probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8], [0.7, 0.3]])
  test = evaluation_report(y, probs, ("normal", "seizure"))
  stage = {"params": {"total": 2_000_000, "trainable": 10, "eeg_encoder": 1_000_000}, "best_step": 7,
           "best_val": {"f1_macro": 0.6}, "test": test}
  report = {"stages": {"teacher": stage, "student": dict(stage, best_step=3)}, "baseline": {"test": test},
            "data": {"dataset": "chbmit"}}
  table = reporting.final_table(report)
  assert "teacher: test fold (6 windows), model of step 7" in table and "student: test fold" in table
  assert "total 2.000 M, trainable 0.000 M, EEG encoder 1.000 M" in table
  summary = table.split("\n\n")[-1].splitlines()
  assert [line.split("  ")[0] for line in summary[1:6]] == [
      "teacher", "student", "baseline (band power)", "teacher: paper (reported)", "student: paper (reported)"]
  paper = test["paper"]
  assert summary[1].split()[-3:] == [f"{paper['accuracy']:.4f}", f"{paper['f1']:.4f}", f"{paper['auc']:.4f}"]
  assert summary[4].split()[-3:-1] == [f"{v:.4f}" for v in (0.9790, 0.9789)]  # Table I, CHB-MIT teacher


def test_a_note_says_when_minilm_stands_in_for_the_papers_bert(caplog):
  config = config_lib.get_config("chbmit", "teacher")
  with caplog.at_level("INFO", logger="jclip_eeg"):
    loop._note_stand_ins(config)  # noqa: SLF001
    with config.unlocked():
      config.model.text.checkpoint = "/models/bert-base-uncased"
    loop._note_stand_ins(config)  # noqa: SLF001
  notes = [r.getMessage() for r in caplog.records]
  assert len(notes) == 1 and "MiniLM-L6 (6 x 384" in notes[0] and "bert-base-uncased (12 x 768)" in notes[0]
