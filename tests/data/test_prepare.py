"""prepare_store and scripts/prepare_data.py: end to end, skips, resume after kill -9, CLI."""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jclip_eeg.data import prepare, synthetic
from jclip_eeg.data.prepare import Job, prepare_store, write_store
from jclip_eeg.data.preprocess import PreprocessSettings
from jclip_eeg.data.store import EpochStore
from jclip_eeg.data.types import DatasetSpec, Event, Recording, ScanResult, Signals
from jclip_eeg.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[2]
ARRAYS = ("x.npy", "y.npy", "recording_index.npy", "start_s.npy")
FAKE_SPEC = DatasetSpec(name="fake", class_names=("normal", "seizure"),
                        channel_names=("A", "B", "C"), sfreq=256.0, seizure_overlap=0.5)
FAKE_JOB = Job(spec=FAKE_SPEC, preprocess=PreprocessSettings.for_spec(FAKE_SPEC))


# ----------------------------------------------------------------------------- fakes


def _fake_load(seed: int, seconds: float, sfreq: float, error: str | None) -> Signals:
  """Module level, so recordings pickle into worker processes."""
  if error:
    raise DataError(error)
  data = np.random.default_rng(seed).standard_normal((3, int(seconds * sfreq)))
  return Signals(data.astype(np.float32), sfreq, FAKE_SPEC.channel_names)


def _fake(tmp_path: Path, i: int, *, error: str | None = None) -> Recording:
  source = tmp_path / "raw" / f"r{i}.edf"
  source.parent.mkdir(exist_ok=True)
  source.write_bytes(b"raw")
  return Recording(f"r{i}", f"p{i % 2}", source, (Event(10.0, 15.0, "seizure"),),
                   functools.partial(_fake_load, i, 30.0, 512.0, error))


def _write_fake(tmp_path: Path, recordings, skipped=(("gone.edf", "no annotation file"),), **kwargs) -> EpochStore:
  scan = ScanResult(recordings, skipped=list(skipped))
  return write_store(scan, FAKE_JOB, tmp_path / "store", identity={"dataset": "fake"},
                     workers=1, progress=False, **kwargs)


def test_fake_recordings_failing_load_is_skipped_and_listed(tmp_path):
  stale = [tmp_path / ".store.parts-0123456789abcdef", tmp_path / ".store.staging-1234"]
  for d in stale:
    d.mkdir()
  recordings = [_fake(tmp_path, 0), _fake(tmp_path, 1, error="r1.edf: unreadable"),
                _fake(tmp_path, 2)]
  store = _write_fake(tmp_path, recordings)
  assert store.recordings == ("r0", "r2") and store.patients == ("p0",)
  assert store.metadata["skipped"] == [
      {"path": "gone.edf", "reason": "no annotation file"},
      {"path": str(recordings[1].source), "reason": "r1.edf: unreadable"}]
  # 30 s, seizure [10, 15) s: 25 background windows, 2 x 5 + 1 seizure windows each.
  assert store.metadata["report"]["windows_per_class"] == {"normal": 50, "seizure": 22}
  assert store.x.shape == (72, 3, 256) and store.sfreq == 256
  assert not any(d.exists() for d in stale)
  assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_overwrite_rebuilds_an_existing_store(tmp_path):
  first = _write_fake(tmp_path, [_fake(tmp_path, 0)])
  assert _write_fake(tmp_path, [_fake(tmp_path, 2)]).recordings == ("r0",)  # kept
  assert _write_fake(tmp_path, [_fake(tmp_path, 2)], overwrite=True).recordings == ("r2",)
  assert EpochStore(first.path).recordings == ("r2",)


def test_strict_makes_a_failing_load_or_a_skipped_file_fatal(tmp_path):
  recordings = [_fake(tmp_path, 0), _fake(tmp_path, 1, error="r1.edf: unreadable")]
  with pytest.raises(DataError, match="r1.edf: unreadable.*strict"):
    _write_fake(tmp_path, recordings, skipped=(), strict=True)
  with pytest.raises(DataError, match="gone.edf: no annotation file .1 file.s. unusable; strict"):
    _write_fake(tmp_path, recordings[:1], strict=True)
  assert not (tmp_path / "store").exists()


def test_nothing_usable_is_an_error(tmp_path):
  with pytest.raises(DataError, match="no windows left.*gone.edf.*r0.edf: bad"):
    _write_fake(tmp_path, [_fake(tmp_path, 0, error="r0.edf: bad")])
  with pytest.raises(DataError, match="no usable recordings"):
    _write_fake(tmp_path, [])
  assert not (tmp_path / "store").exists()


def test_bad_settings_are_config_errors():
  with pytest.raises(ConfigError, match="dtype"):
    Job(spec=FAKE_SPEC, preprocess=FAKE_JOB.preprocess, dtype="int8")
  with pytest.raises(ConfigError, match="label_rule"):
    Job(spec=FAKE_SPEC, preprocess=FAKE_JOB.preprocess, label_rule="any")


# ----------------------------------------------------------------------------- synthetic


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> tuple[Path, synthetic.SyntheticManifest]:
  root = tmp_path_factory.mktemp("raw") / "synthetic"
  manifest = synthetic.generate(root, n_patients=2, recordings_per_patient=2, duration_s=60,
                                seizures_per_recording=(1, 1), seizure_duration_s=(10, 15))
  return root, manifest


@pytest.fixture(scope="module")
def reference(raw, tmp_path_factory) -> EpochStore:
  """An uninterrupted run, with two worker processes."""
  out = tmp_path_factory.mktemp("reference") / "store"
  return prepare_store("synthetic", raw[0], out, workers=2, progress=False)


def test_end_to_end_store_contract(raw, reference):
  store, manifest = reference, raw[1]
  n = len(store)
  assert store.x.shape == (n, 23, 256) and store.x.dtype == np.float32
  assert store.y.shape == (n,) and store.y.dtype == np.int32
  assert store.class_names == ("normal", "seizure") and len(store.channel_names) == 23
  assert store.sfreq == 256.0 and store.start_s.shape == (n,)
  assert store.recording.shape == (n,) and store.patient.shape == (n,)
  assert set(store.patient) == {"chb01", "chb02"}
  assert np.isfinite(np.asarray(store.x)).all()
  meta = store.metadata
  assert (meta["dataset"], meta["label_rule"], meta["window_s"]) == ("synthetic", "touch", 1.0)
  assert meta["report"]["hours"] == pytest.approx(4 * 60 / 3600, abs=1e-4)
  # Whole-second seizures [s, e): e - s background windows are replaced by 2(e - s) + 1.
  for r in manifest.recordings:
    rows = store.recording == r.recording_id
    seconds = sum(e - s for s, e in r.seizures)
    assert np.bincount(store.y[rows], minlength=2).tolist() == [
        60 - seconds, sum(2 * (e - s) + 1 for s, e in r.seizures)]
    for start in store.start_s[rows][store.y[rows] == 1]:
      assert any(s - 1 < start < e for s, e in r.seizures)


def test_float16_and_majority_rule(raw, tmp_path):
  store = prepare_store("synthetic", raw[0], tmp_path / "s", workers=1, progress=False,
                        dtype="float16", label_rule="majority")
  assert store.x.dtype == np.float16 and store.metadata["label_rule"] == "majority"


def _kill_during_prepare(root: Path, out: Path) -> list[Path]:
  """Runs prepare_store in a subprocess slowed to 2 s per recording, SIGKILLs its
  process group once a part file exists, and returns the finished parts."""
  code = (
      "import sys, time\n"
      "from jclip_eeg.data import prepare\n"
      "real = prepare.process_recording\n"
      "def slow(*args):\n"
      "  result = real(*args)\n"
      "  time.sleep(2.0)\n"
      "  return result\n"
      "prepare.process_recording = slow\n"
      "prepare.prepare_store('synthetic', sys.argv[1], sys.argv[2], workers=1, progress=False)\n")
  env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
  process = subprocess.Popen([sys.executable, "-c", code, str(root), str(out)], env=env,
                             start_new_session=True)
  try:
    deadline = time.monotonic() + 60
    while not list(out.parent.glob(f".{out.name}.parts-*/*.npz")):
      assert process.poll() is None, "prepare ended before it could be killed"
      assert time.monotonic() < deadline, "no part written within 60 s"
      time.sleep(0.05)
  finally:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
  return sorted(out.parent.glob(f".{out.name}.parts-*/*.npz"))


def test_kill_9_then_rerun_resumes_and_equals_uninterrupted(raw, reference, tmp_path, monkeypatch):
  out = tmp_path / "store"
  parts = _kill_during_prepare(raw[0], out)
  assert not out.exists()
  assert 1 <= len(parts) < 4
  calls = []
  real = prepare.process_recording

  def counting(recording, job, part):
    assert part not in parts, f"{part.name} was prepared again"
    calls.append(recording.recording_id)
    return real(recording, job, part)

  monkeypatch.setattr(prepare, "process_recording", counting)
  store = prepare_store("synthetic", raw[0], out, workers=1, progress=False)
  assert len(calls) == 4 - len(parts)
  assert store.metadata["report"]["run"]["parts_reused"] == len(parts)
  for name in ARRAYS:
    assert (out / name).read_bytes() == (reference.path / name).read_bytes(), name
  ours, theirs = (json.loads((p / "store.json").read_text()) for p in (out, reference.path))
  for meta in (ours, theirs):
    del meta["report"]["run"]
  assert ours == theirs
  assert not list(tmp_path.glob(".store.*"))


def test_corrupt_edf_is_listed_in_skipped(raw, tmp_path):
  root = tmp_path / "raw"
  shutil.copytree(raw[0], root)
  broken = root / "chb02" / "chb02_01.edf"
  broken.write_bytes(broken.read_bytes()[:5000])
  store = prepare_store("synthetic", root, tmp_path / "s", workers=1, progress=False)
  assert "chb02_01" not in store.recordings and len(store.recordings) == 3
  (entry,) = [s for s in store.metadata["skipped"] if s["path"] == str(broken)]
  assert "truncated" in entry["reason"]


def test_existing_store_is_kept_and_non_store_dir_refused(raw, reference, tmp_path):
  before = (reference.path / "store.json").stat().st_mtime_ns
  assert prepare_store("synthetic", raw[0], reference.path, progress=False).path == reference.path
  assert (reference.path / "store.json").stat().st_mtime_ns == before
  other = tmp_path / "notes"
  other.mkdir()
  (other / "mine.txt").write_text("keep me")
  with pytest.raises(DataError, match="not a complete store, so it is left alone"):
    prepare_store("synthetic", raw[0], other, progress=False, overwrite=True)
  assert (other / "mine.txt").exists()


# ----------------------------------------------------------------------------- CLI


def _prepare_data(*argv: str) -> subprocess.CompletedProcess:
  env = {**os.environ, "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu"}
  return subprocess.run([sys.executable, str(REPO / "scripts" / "prepare_data.py"), *argv], capture_output=True,
                        text=True, env=env, timeout=300)


@pytest.mark.parametrize("argv,message", [
    (["--dataset", "nope"], "value should be one of"),
    (["--dataset", "chbmit"], "no chbNN/chbNN-summary.txt"),
    (["--dataset", "tusz", "--option", "consensus=all"], "unknown option(s) ['consensus']"),
    (["--dataset", "neonatal", "--option", "consensus"], "expected KEY=VALUE"),
    (["--dataset", "chbmit", "stray"], "unexpected arguments ['stray']"),
])
def test_cli_errors_are_one_line_with_status_2(tmp_path, argv, message):
  (tmp_path / "empty").mkdir(exist_ok=True)
  done = _prepare_data(*argv, "--root", str(tmp_path / "empty"), "--out", str(tmp_path / "out"))
  err = done.stderr.strip()
  assert done.returncode == 2 and len(err.splitlines()) == 1, err
  assert err.startswith("prepare_data: error:") and message in err
  assert "Traceback" not in err


def test_cli_generates_synthetic_into_empty_root_then_reports_existing(tmp_path):
  argv = ["--dataset", "synthetic", "--root", str(tmp_path / "raw"), "--out", str(tmp_path / "s"), "--workers", "2",
          "--noprogress"]
  done = _prepare_data(*argv)
  assert done.returncode == 0, done.stderr[-3000:]
  assert "absent or empty: writing synthetic EEG" in done.stdout and "EpochStore(" in done.stdout
  assert f"wrote {tmp_path / 's'}" in done.stdout and "next: python scripts/train.py --config configs/demo.py" in \
      done.stdout
  assert len(EpochStore(tmp_path / "s").recordings) == len(list((tmp_path / "raw").glob("chb*/*.edf")))
  again = _prepare_data(*argv)
  assert again.returncode == 0 and "already exists" in again.stdout
