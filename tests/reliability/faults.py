"""Shared by the fault corpus: running scripts as a user would, what a clean failure looks like, damaged inputs.

Every fault ends in one of four outcomes, each asserted by the tests:
  * a one-line error naming the file or field, no traceback (`assert_one_line_error` for scripts, `raises_naming`
    in-process);
  * a listed skip: the store (or scan) names the file with its reason, the rest is used;
  * an exact resume: the result equals an uninterrupted run's;
  * refused before any work: nothing is written.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from jclip_eeg.data import edf
from jclip_eeg.data.channels import CHBMIT_LABELS, distinct_names
from jclip_eeg.data.store import StoreWriter

REPO = Path(__file__).resolve().parents[2]
SFREQ = 256

# EDF header fields: (byte offset, width) of the main header, and (offset per signal, width) of the signal headers
# (signal i's field starts at 256 + offset * n_signals + i * width).
MAIN_FIELDS = {"version": (0, 8), "start_date": (168, 8), "header_bytes": (184, 8), "n_records": (236, 8),
               "record_s": (244, 8), "n_signals": (252, 4)}
SIGNAL_FIELDS = {"label": (0, 16), "dimension": (96, 8), "pmin": (104, 8), "pmax": (112, 8), "dmin": (120, 8),
                 "dmax": (128, 8), "spr": (216, 8)}


def script_env() -> dict[str, str]:
  """CPU only, this checkout first, XLA's cheap optimisation settings (the scripts compile tiny models)."""
  return dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
              JAX_DISABLE_MOST_OPTIMIZATIONS="1")


def run_script(script: str, *args: str | os.PathLike, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
  """`python scripts/<script>.py args...` in `cwd`, output captured."""
  return subprocess.run([sys.executable, str(REPO / "scripts" / f"{script}.py"), *map(str, args)], cwd=cwd,
                        env=script_env(), capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(done: subprocess.CompletedProcess, script: str, *needles: str, status: int = 2,
                          kind: str = "error") -> str:
  """The script exited with `status` and one `<script>: <kind>: ...` line (the last on stderr, naming every
  needle) and no traceback; returns that line."""
  lines = done.stderr.strip().splitlines()
  ours = [line for line in lines if line.startswith(f"{script}: {kind}: ")]
  assert done.returncode == status, (done.returncode, done.stderr[-3000:])
  assert "Traceback" not in done.stderr, done.stderr[-3000:]
  assert len(ours) == 1 and lines[-1] == ours[0], done.stderr[-3000:]
  for needle in needles:
    assert needle in ours[0], (needle, ours[0])
  return ours[0]


@contextlib.contextmanager
def raises_naming(error: type[Exception], *needles: str | os.PathLike) -> Iterator[pytest.ExceptionInfo]:
  """pytest.raises(error) whose one-line message contains every needle (a file, a field, what was expected)."""
  with pytest.raises(error) as caught:
    yield caught
  message = str(caught.value)
  assert "\n" not in message, message
  for needle in needles:
    assert str(needle) in message, (str(needle), message)


def files_under(folder: Path) -> list[str]:
  """Every file and folder below `folder`, relative, sorted (to show nothing was written)."""
  return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# ----------------------------------------------------------------------------- EDF files


def write_recording(path: Path, seconds: int = 20, labels: Sequence[str] = ("FP1-F7", "F7-T7", "T7-P7"),
                    sfreq: int = SFREQ, seed: int = 0) -> Path:
  """A valid EDF of noise in µV."""
  data = np.random.default_rng(seed).normal(0, 30, (len(labels), seconds * sfreq))
  return edf.write_edf(path, data, sfreq, list(labels), physical_range=(-500.0, 500.0))


def n_signals(path: Path) -> int:
  return int(path.read_bytes()[252:256].decode())


def set_field(path: Path, name: str, value: str, signal: int = 0) -> None:
  """Overwrites one fixed-width header field of `path` with `value` (space padded, cut to the width)."""
  if name in MAIN_FIELDS:
    offset, width = MAIN_FIELDS[name]
  else:
    per_signal, width = SIGNAL_FIELDS[name]
    offset = 256 + per_signal * n_signals(path) + signal * width
  with open(path, "r+b") as f:
    f.seek(offset)
    f.write(value.encode("latin-1")[:width].ljust(width))


# ----------------------------------------------------------------------------- a CHB-MIT layout


def summary_block(name: str, seizures: Sequence[tuple[float, float]]) -> str:
  lines = [f"File Name: {name}", "File Start Time: 10:00:00", "File End Time: 10:01:00",
           f"Number of Seizures in File: {len(seizures)}"]
  for k, (start, end) in enumerate(seizures, start=1):
    lines += [f"Seizure {k} Start Time: {start:g} seconds", f"Seizure {k} End Time: {end:g} seconds"]
  return "\n".join(lines) + "\n\n"


def write_chbmit_root(root: Path, recordings: Mapping[str, Sequence[tuple[float, float]]], seconds: int = 60,
                      patient: str = "chb01") -> Path:
  """ROOT/chbNN/chbNN_MM.edf (the 23 CHB-MIT channels) and chbNN-summary.txt listing `recordings` ({name:
  seizures})."""
  folder = root / patient
  folder.mkdir(parents=True, exist_ok=True)
  for i, name in enumerate(recordings):
    write_recording(folder / name, seconds, CHBMIT_LABELS, seed=i)
  (folder / f"{patient}-summary.txt").write_text(
      "Data Sampling Rate: 256 Hz\n\n" + "".join(summary_block(n, s) for n, s in recordings.items()))
  return root


def skip_reason(skipped: Sequence[tuple[str, str]] | Sequence[Mapping[str, str]], path: Path) -> str:
  """The reason `path` was skipped, from a ScanResult's (path, reason) list or a store's `skipped` entries."""
  pairs = [(s["path"], s["reason"]) if isinstance(s, Mapping) else s for s in skipped]
  reasons = [reason for p, reason in pairs if p == str(path)]
  assert len(reasons) == 1, (str(path), pairs)
  return reasons[0]


def write_random_store(path: Path, patients: int = 4, per_patient: int = 40) -> Path:
  """A store of the toy config's shape (23 x 256 windows, 2 classes), a quarter of the windows seizure."""
  writer = StoreWriter(path, n_windows=patients * per_patient, n_channels=23, n_times=256)
  rng = np.random.default_rng(0)
  for p in range(patients):
    y = (np.arange(per_patient) % 4 == 0).astype(np.int32)
    writer.append(rng.normal(size=(per_patient, 23, 256)).astype(np.float32), y, p,
                  np.arange(per_patient, dtype=np.float64))
  writer.commit(class_names=("normal", "seizure"), channel_names=distinct_names(CHBMIT_LABELS), sfreq=256.0,
                recordings=[{"id": f"chb0{p}_01", "patient": f"chb0{p}", "source": "random"} for p in range(patients)])
  return path
