"""Two processes on localhost (jax.distributed + gloo CPU collectives) train like one process."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from steps_helpers import WORKER, assert_trees_close, worker_env, write_tiny_bert

TIMEOUT_S = 240


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory) -> Path:
  return write_tiny_bert(tmp_path_factory.mktemp("bert"))


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _launch(bert_dir, out, port: int, i: int) -> subprocess.Popen:
  command = [sys.executable, str(WORKER), "process", str(bert_dir), str(out), str(port), str(i)]
  return subprocess.Popen(command, env=worker_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def _wait_all(procs: list[subprocess.Popen]) -> None:
  """Waits for every process; on a timeout or failure kills the rest and fails with their output."""
  try:
    outputs = [proc.communicate(timeout=TIMEOUT_S)[0] for proc in procs]
  except subprocess.TimeoutExpired:
    for proc in procs:
      proc.kill()
    pytest.fail(f"multi-process run did not finish in {TIMEOUT_S} s")
  failed = [(proc.returncode, out[-3000:]) for proc, out in zip(procs, outputs) if proc.returncode]
  if failed:
    for proc in procs:
      proc.kill()
    pytest.fail(f"worker(s) failed: {failed}")


def test_two_processes_train_like_one(bert_dir, tmp_path):
  """3 AdamW teacher steps, each process feeding half of every global batch, vs one process.

  Tolerance: parameters and non-trainable variables within 1e-5 of the
  single-process run (L2 norm, relative, over the whole tree; 1e-4 per array),
  losses within 1e-5; the two processes hold identical replicated copies.
  """
  outs = [tmp_path / f"process{i}.npz" for i in range(2)]
  port = _free_port()
  _wait_all([_launch(bert_dir, out, port, i) for i, out in enumerate(outs)])
  with np.load(outs[0]) as got0, np.load(outs[1]) as got1:
    got0, got1 = dict(got0), dict(got1)
  want = {key.split(":", 1)[1]: got0.pop(key) for key in list(got0) if key.startswith("reference:")}
  assert sorted(got0) == sorted(got1) == sorted(want)
  for key in got0:
    np.testing.assert_array_equal(got0[key], got1[key], err_msg=key)
  assert len(want["losses"]) == 3 and want["losses"][-1] < want["losses"][0]
  np.testing.assert_allclose(got0.pop("losses"), want.pop("losses"), rtol=1e-5)
  assert_trees_close(got0, want, rtol=1e-5)
