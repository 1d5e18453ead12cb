"""Fault corpus, concurrent runs and kill -9: one writer per workdir or store, and nothing lost when killed.

A workdir or store held by another process is refused with one line naming
the holder (pid, host, command, since) and exit status 4, before anything is
written; the lock dies with its holder, so a run killed with SIGKILL never
blocks the rerun. A preparation killed at each of its stages (while
recordings are being prepared, and while the store is being committed) is
resumed by the same command and gives the same bytes as an uninterrupted one.
(A training run killed after its first checkpoint resumes exactly:
tests/train/test_train_script.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from faults import (
  REPO,
  assert_one_line_error,
  files_under,
  raises_naming,
  run_script,
  script_env,
  write_chbmit_root,
  write_random_store,
)
from toy_run import toy_config

from jclip_eeg import locks
from jclip_eeg.data.prepare import prepare_store
from jclip_eeg.errors import InUse
from jclip_eeg.train import loop

_HOLD = ("import sys, time\nfrom jclip_eeg import locks\nwith locks.hold(sys.argv[1], what='it'):\n"
         "  print('held', flush=True)\n  time.sleep(600)\n")


def _holder(lock_file: Path) -> subprocess.Popen:
  """Another process holding `lock_file` (it says "held" once it does)."""
  process = subprocess.Popen([sys.executable, "-c", _HOLD, str(lock_file)], env=script_env(), stdout=subprocess.PIPE,
                             text=True)
  assert process.stdout.readline().strip() == "held"
  return process


def _kill(process: subprocess.Popen) -> None:
  process.send_signal(signal.SIGKILL)
  process.wait()


@pytest.fixture()
def held(tmp_path):
  """(lock file, the process holding it); the holder is killed with SIGKILL afterwards."""
  lock_file = tmp_path / "work" / locks.LOCK_FILE
  lock_file.parent.mkdir()
  process = _holder(lock_file)
  yield lock_file, process
  _kill(process)


def test_a_held_lock_names_its_holder_and_dies_with_it(held):
  lock_file, process = held
  record = json.loads(lock_file.read_text())
  assert record["pid"] == process.pid and record["host"] == socket.gethostname()
  with raises_naming(InUse, "workdir w is in use by", f"pid {process.pid} on host {socket.gethostname()}",
                     record["since"], lock_file):
    with locks.hold(lock_file, what="workdir w"):
      pass
  _kill(process)  # kill -9: the kernel drops its flock, the lock file stays behind
  assert lock_file.exists()
  with locks.hold(lock_file, what="workdir w"):
    assert json.loads(lock_file.read_text())["pid"] == os.getpid()
  assert not lock_file.exists()  # a holder that ends cleanly leaves nothing behind


def test_a_lock_is_refused_to_a_second_holder_in_the_same_process(tmp_path):
  with locks.hold(tmp_path / "x.lock", what="store s"):
    with raises_naming(InUse, "store s is in use by", f"pid {os.getpid()}"):
      with locks.hold(tmp_path / "x.lock", what="store s"):
        pass


def test_a_lock_file_without_a_holder_never_blocks(tmp_path):
  stale = tmp_path / "x.lock"
  stale.write_text(json.dumps({"pid": 1, "host": "gone", "command": "old", "since": "yesterday"}))
  with locks.hold(stale, what="store s"):
    assert json.loads(stale.read_text())["pid"] == os.getpid()


def test_training_in_a_held_workdir_is_refused_before_anything_is_written(held, tmp_path):
  lock_file, process = held
  config = toy_config(tmp_path)
  with config.unlocked():
    config.data.update(dict(store=str(write_random_store(tmp_path / "store")), prepare=False))
  with raises_naming(InUse, f"workdir {lock_file.parent} is in use by pid {process.pid}"):
    loop.train_and_evaluate(config, lock_file.parent)
  assert files_under(lock_file.parent) == [locks.LOCK_FILE]


def test_preparing_a_held_store_is_refused(tmp_path):
  root = write_chbmit_root(tmp_path / "root", {"chb01_01.edf": [(5, 12)]}, seconds=20)
  out = tmp_path / "store"
  process = _holder(tmp_path / f".{out.name}.lock")
  try:
    with raises_naming(InUse, f"store {out} is in use by pid {process.pid}"):
      prepare_store("chbmit", root, out, workers=1, progress=False)
    assert not out.exists() and not list(tmp_path.glob(".store.parts-*"))
  finally:
    _kill(process)
  assert prepare_store("chbmit", root, out, workers=1, progress=False).recordings == ("chb01_01",)


def test_the_scripts_exit_4_naming_the_holder(held, tmp_path):
  lock_file, process = held
  done = run_script("train", "--config", REPO / "configs" / "demo.py", "--workdir", lock_file.parent,
                    f"--config.data.store={write_random_store(tmp_path / 'store')}", "--config.data.prepare=False",
                    "--config.train.batch_size=8", "--config.student.train.batch_size=8",
                    "--config.data.split.k=2", cwd=tmp_path)
  assert_one_line_error(done, "train", f"is in use by pid {process.pid}", status=4, kind="in use")
  root = write_chbmit_root(tmp_path / "root", {"chb01_01.edf": []}, seconds=20)
  other = _holder(tmp_path / ".s.lock")
  try:
    done = run_script("prepare_data", "--dataset", "chbmit", "--root", root, "--out", tmp_path / "s", "--workers", "1",
                      cwd=tmp_path)
  finally:
    _kill(other)
  assert_one_line_error(done, "prepare_data", f"store {tmp_path / 's'} is in use by pid {other.pid}", status=4,
                        kind="in use")


# ----------------------------------------------------------------------------- kill -9 while preparing

# Runs prepare_store with one stage slowed down, so the test can SIGKILL it there.
_SLOW_PREPARE = """
import sys, time
from jclip_eeg.data import prepare, store
point = sys.argv[3]
if point == "commit":
  real_commit = store.StoreWriter.commit
  def slow_commit(self, **kwargs):
    open(sys.argv[2] + ".committing", "w").close()
    time.sleep(600)
  store.StoreWriter.commit = slow_commit
else:
  real = prepare.process_recording
  def slow(*args):
    result = real(*args)
    time.sleep(600)
    return result
  prepare.process_recording = slow
prepare.prepare_store("chbmit", sys.argv[1], sys.argv[2], workers=1, progress=False)
"""


def _reached(out: Path, point: str) -> bool:
  if point == "commit":
    return Path(f"{out}.committing").exists()
  return bool(list(out.parent.glob(f".{out.name}.parts-*/*.npz")))


@pytest.mark.parametrize("point", ["a recording prepared", "commit"])
def test_a_preparation_killed_at_each_stage_resumes_to_the_same_bytes(tmp_path, point):
  root = write_chbmit_root(tmp_path / "root", {"chb01_01.edf": [(5, 12)], "chb01_02.edf": []}, seconds=20)
  reference = prepare_store("chbmit", root, tmp_path / "reference", workers=1, progress=False)
  out = tmp_path / "store"
  process = subprocess.Popen([sys.executable, "-c", _SLOW_PREPARE, str(root), str(out), point], env=script_env())
  try:
    deadline = time.monotonic() + 120
    while not _reached(out, point):
      assert process.poll() is None and time.monotonic() < deadline, "the preparation ended before the kill point"
      time.sleep(0.05)
  finally:
    _kill(process)
  assert not out.exists()  # never a half-written store that looks complete
  store = prepare_store("chbmit", root, out, workers=1, progress=False)
  assert store.metadata["report"]["run"]["parts_reused"] == (1 if point != "commit" else 2)
  for name in ("x.npy", "y.npy", "recording_index.npy", "start_s.npy"):
    assert (out / name).read_bytes() == (reference.path / name).read_bytes(), name
  ours, theirs = (json.loads((p / "store.json").read_text()) for p in (out, reference.path))
  for meta in (ours, theirs):
    del meta["report"]["run"]
  assert ours == theirs
  assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".store")) == []
  shutil.rmtree(reference.path)
