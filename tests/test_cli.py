"""Every script speaks one command-line style (jclip_eeg/cli.py): absl flags, each documented in --help, a bad
flag or a missing required one as one line on stderr with exit status 2, --help with status 0."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.stem for p in (REPO / "scripts").glob("*.py"))
_ENV = {**os.environ, "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu"}


def _run(script: str, *argv: str) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, str(REPO / "scripts" / f"{script}.py"), *argv], capture_output=True,
                        text=True, env=_ENV, timeout=120)


def test_every_script_is_listed():
  assert SCRIPTS == ["ablations", "cross_validate", "detect", "evaluate", "export", "model_info", "plots",
                     "prepare_data", "train"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_documents_every_flag_and_exits_0(script):
  done = _run(script, "--helpxml")
  assert done.returncode == 0, done.stderr[-2000:]
  flags = [f for f in ElementTree.fromstring(done.stdout).iter("flag") if Path(f.findtext("file")).name == f"{script}.py"]
  assert flags, done.stdout[:2000]
  for flag in flags:
    name, meaning = flag.findtext("name"), flag.findtext("meaning") or ""
    assert "_" not in name or name.islower(), name  # absl spelling: lower-case words joined by underscores
    assert len(meaning) > 15, (name, meaning)  # says what it is, not just a word


def test_plain_help_exits_0():
  done = _run("detect", "--help")
  assert done.returncode == 0 and "--min_duration_s: Shortest event kept, seconds" in done.stdout


@pytest.mark.parametrize("script", ["detect", "prepare_data", "train"])
def test_bad_and_missing_flags_are_one_line_with_status_2(script):
  for argv, message in ((["--no_such_flag=1"], "Unknown command line flag 'no_such_flag'"),
                        ([], "must have a value other than None")):
    done = _run(script, *argv)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
    assert lines[0].startswith(f"{script}: error: ") and message in lines[0] and lines[0].endswith("(see --help)")
