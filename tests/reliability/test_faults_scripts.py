"""Fault corpus, the command line: what a user mistypes ends in one line on stderr and exit status 2.

Each case runs a script in a subprocess, as a user would, and asserts the
status, the single `<script>: error: ...` line naming the flag, field or file,
and that no traceback is printed. None of them needs a trained model: they
fail before any is read.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from faults import REPO, assert_one_line_error, run_script, write_recording

_DEMO = REPO / "configs" / "demo.py"


def _garbage_artefact(folder: Path) -> Path:
  """A zip with the artefact's two names but no jax.export program in it."""
  path = folder / "model.jaxexport"
  with zipfile.ZipFile(path, "w") as archive:
    archive.writestr("model.jaxexport", b"garbage" * 10)
    archive.writestr("metadata.json", "{}")
  return path


def _not_a_zip(folder: Path) -> Path:
  path = folder / "notes.jaxexport"
  path.write_text("a text file")
  return path


def _bad_summary(folder: Path) -> Path:
  path = folder / "chb01-summary.txt"
  path.write_text("File Name: rec.edf\nNumber of Seizures in File: 1\nSeizure Start Time: 9 seconds\n")
  return path


# (script, arguments (callables of the test folder), what the line says).
CASES = [
    ("train", [f"--config={_DEMO}", "--config.train.batchsize=8"],
     "--config.train.batchsize=8: no config field 'batchsize'; did you mean 'batch_size'?"),
    ("train", ["--config", REPO / "configs" / "nope.py"], "--config: cannot load the config file"),
    ("train", [f"--config={_DEMO}:big"], "config arg 'big': 'big' is not understood for synthetic"),
    ("train", [f"--config={_DEMO}", "--config.train.batch_size=many"], "--config.train.batch_size=many"),
    ("model_info", ["--config", REPO / "configs" / "chbmit_teacher.py:binary"], "config arg 'binary': 'binary' is not understood for chbmit"),
    ("detect", ["--model", "m", "--edf", "r.edf", "--out", "e.tsv", "--block_s", "0"], "--block_s must be > 0 seconds"),
    ("detect", ["--model", "m", "--edf", "r.edf", "--out", "e.tsv", "--threshold", "1.5"],
     "threshold: 1.5; expected a probability in (0, 1)"),
    ("detect", ["--model", _garbage_artefact, "--edf", "r.edf", "--out", "e.tsv"],
     "is not a serialised jax.export program"),
    ("detect", ["--model", _not_a_zip, "--edf", "r.edf", "--out", "e.tsv"], "not an exported jclip-eeg model"),
    ("detect", ["--model", "m", "--edf", lambda d: write_recording(d / "rec.edf"), "--out", "e.tsv",
                "--annotations", _bad_summary], "chb01-summary.txt: rec.edf (line 1): 1 seizure start times but 0"),
    ("prepare_data", ["--dataset", "chbmit", "--root", "nowhere", "--out", "s", "--option", "x"], "expected KEY=VALUE"),
    ("evaluate", ["--workdir", "nowhere", "--out", "e.json"], "nowhere/teacher/config.json: missing"),
    ("plots", ["--workdir", "nowhere", "stray"], "unexpected arguments ['stray']"),
]


@pytest.mark.parametrize("script, args, message", CASES, ids=[f"{c[0]}: {c[2][:40]}" for c in CASES])
def test_a_mistyped_command_is_one_line(tmp_path, script, args, message):
  done = run_script(script, *[a(tmp_path) if callable(a) else a for a in args], cwd=tmp_path, timeout=120)
  assert_one_line_error(done, script, message)
  assert not (tmp_path / "e.tsv").exists() and not (tmp_path / "e.json").exists()
